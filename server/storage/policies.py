"""Exam policies as versions, and the exams they belong to (with the course that owns each)."""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from openproctor.core import Policy, parse_policy

from ..errors import Unavailable
from . import schema
from .audit import record as audit_record
from .database import Database, inserted_id
from .rows import ExamPolicies, ExamRecord, PolicyVersion, policy_version


class Policies:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(
        self,
        institution_id: str,
        policy: Policy,
        created_by: str,
        *,
        context_id: str | None = None,
        audit: tuple[str, str] | None = None,
    ) -> tuple[int, int]:
        """Store a new version of the exam's policy; return (policy id, version). The first
        version of an exam records the course (``context_id``) it was created in; ``audit``
        (actor, action) appends an entry with the versions before and after, in the same
        transaction."""
        p = schema.policies
        for _ in range(5):  # two writers may race for the same version number
            with self.db.engine.begin() as conn:
                current = conn.execute(
                    sa.select(sa.func.max(p.c.version)).where(
                        p.c.institution_id == institution_id, p.c.exam_id == policy.exam_id
                    )
                ).scalar_one()
                version = (current or 0) + 1
                try:
                    with conn.begin_nested():
                        result = conn.execute(
                            p.insert().values(
                                institution_id=institution_id,
                                exam_id=policy.exam_id,
                                version=version,
                                environment=policy.environment,
                                body=json.dumps(policy.to_dict()),
                                created_at=time.time(),
                                created_by=created_by,
                            )
                        )
                except IntegrityError:
                    continue
                _ensure_exam(conn, institution_id, policy.exam_id, context_id, created_by)
                if audit is not None:
                    audit_record(
                        conn,
                        institution_id,
                        audit[0],
                        audit[1],
                        f"exam:{policy.exam_id}",
                        {
                            "version": version,
                            "environment": policy.environment,
                            "previous_version": current,
                            "policy": policy.to_dict(),
                        },
                    )
                return inserted_id(result), version
        raise Unavailable("busy", "could not store the policy; try again")

    def set_access_code(
        self, institution_id: str, exam_id: str, encrypted: bytes | None, actor: str
    ) -> bool:
        """Store (or, with None, clear) an exam's encrypted access code, audited (never the
        code); False: no such exam."""
        x = schema.exams
        with self.db.engine.begin() as conn:
            changed = conn.execute(
                x.update()
                .where(x.c.institution_id == institution_id, x.c.exam_id == exam_id)
                .values(access_code_enc=encrypted)
            ).rowcount
            if changed:
                action = "exam.access_code_set" if encrypted else "exam.access_code_cleared"
                audit_record(conn, institution_id, actor, action, exam_id)
            return bool(changed)

    def access_code(self, institution_id: str, exam_id: str) -> bytes | None:
        x = schema.exams
        with self.db.engine.connect() as conn:
            found = conn.execute(
                sa.select(x.c.access_code_enc).where(
                    x.c.institution_id == institution_id, x.c.exam_id == exam_id
                )
            ).scalar()
        return bytes(found) if found is not None else None

    def exam(self, institution_id: str, exam_id: str) -> ExamRecord | None:
        """The exam and the course it belongs to, or None when it does not exist."""
        x = schema.exams
        with self.db.engine.connect() as conn:
            row = conn.execute(
                sa.select(x).where(x.c.institution_id == institution_id, x.c.exam_id == exam_id)
            ).first()
        return ExamRecord(row.exam_id, row.context_id) if row else None

    def exam_contexts(self, institution_id: str) -> dict[str, str | None]:
        """Every exam of the institution with its course (None: the institution's own)."""
        x = schema.exams
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(x.c.exam_id, x.c.context_id).where(x.c.institution_id == institution_id)
            ).all()
        return {row.exam_id: row.context_id for row in rows}

    def current(
        self, institution_id: str, exam_id: str, environment: str = "production"
    ) -> tuple[int, int, Policy] | None:
        """The newest version of the exam's policy in ``environment``."""
        p = schema.policies
        with self.db.engine.connect() as conn:
            row = conn.execute(
                sa.select(p.c.id, p.c.version, p.c.body)
                .where(
                    p.c.institution_id == institution_id,
                    p.c.exam_id == exam_id,
                    p.c.environment == environment,
                )
                .order_by(p.c.version.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        return int(row.id), int(row.version), parse_policy(json.loads(row.body))

    def exams(self, institution_id: str) -> list[dict[str, Any]]:
        """The institution's exams: id, newest production version and its policy, sessions."""
        p, s = schema.policies, schema.sessions
        newest = (
            sa.select(p.c.exam_id, sa.func.max(p.c.version).label("version"))
            .where(p.c.institution_id == institution_id, p.c.environment == "production")
            .group_by(p.c.exam_id)
            .subquery()
        )
        counts = (
            sa.select(s.c.exam_id, sa.func.count().label("sessions"))
            .where(s.c.institution_id == institution_id)
            .group_by(s.c.exam_id)
            .subquery()
        )
        query = (
            sa.select(p.c.exam_id, p.c.version, p.c.body, counts.c.sessions)
            .join(
                newest,
                sa.and_(newest.c.exam_id == p.c.exam_id, newest.c.version == p.c.version),
            )
            .outerjoin(counts, counts.c.exam_id == p.c.exam_id)
            .where(p.c.institution_id == institution_id)
            .order_by(p.c.exam_id)
        )
        with self.db.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "exam_id": row.exam_id,
                "version": int(row.version),
                "policy": json.loads(row.body),
                "sessions": int(row.sessions or 0),
            }
            for row in rows
        ]

    def versions(self, institution_id: str, exam_id: str) -> list[PolicyVersion]:
        """Every version of the exam's policy, newest first."""
        p = schema.policies
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(p)
                .where(p.c.institution_id == institution_id, p.c.exam_id == exam_id)
                .order_by(p.c.version.desc())
            ).all()
        return [policy_version(r) for r in rows]

    def overview(self, institution_id: str, exam_id: str | None = None) -> list[ExamPolicies]:
        """The newest versions of each exam's policy (of one exam, given ``exam_id``)."""
        p, s = schema.policies, schema.sessions
        policies = sa.select(p).where(p.c.institution_id == institution_id)
        sessions = sa.select(s.c.exam_id, sa.func.count()).where(
            s.c.institution_id == institution_id
        )
        if exam_id is not None:
            policies = policies.where(p.c.exam_id == exam_id)
            sessions = sessions.where(s.c.exam_id == exam_id)
        with self.db.engine.connect() as conn:
            rows = conn.execute(policies.order_by(p.c.exam_id, p.c.version.desc())).all()
            counts: dict[str, int] = {
                exam: n for exam, n in conn.execute(sessions.group_by(s.c.exam_id))
            }
        newest: dict[str, dict[str, PolicyVersion]] = {}
        for row in rows:  # newest first within an exam: keep the first of each environment
            envs = newest.setdefault(row.exam_id, {})
            if row.environment not in envs:
                envs[row.environment] = policy_version(row)
        return [
            ExamPolicies(
                exam_id,
                envs.get("production"),
                envs.get("staging"),
                int(counts.get(exam_id, 0)),
            )
            for exam_id, envs in newest.items()
        ]


def _ensure_exam(
    conn: Connection, institution_id: str, exam_id: str, context_id: str | None, created_by: str
) -> None:
    x = schema.exams
    found = conn.execute(
        sa.select(x.c.exam_id).where(x.c.institution_id == institution_id, x.c.exam_id == exam_id)
    ).first()
    if found is None:
        conn.execute(
            x.insert().values(
                institution_id=institution_id,
                exam_id=exam_id,
                context_id=context_id,
                created_at=time.time(),
                created_by=created_by,
            )
        )
