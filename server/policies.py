"""Exam policies as versions: edited in ``staging``, promoted to ``production`` (a copy under the
next version number), compared field by field. Sessions start under the newest production
version and record which one (see sessions.exam_policy)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from openproctor.core import Policy, parse_policy

from .errors import Conflict, NotFound
from .storage import Storage, schema


@dataclass(frozen=True)
class PolicyVersion:
    version: int
    environment: str
    policy: Policy
    created_at: float
    created_by: str


def _version(row: Any) -> PolicyVersion:
    return PolicyVersion(
        int(row.version),
        row.environment,
        parse_policy(json.loads(row.body)),
        float(row.created_at),
        row.created_by,
    )


@dataclass(frozen=True)
class ExamPolicies:
    """One exam's newest version in each environment, and how many sessions it has."""

    exam_id: str
    production: PolicyVersion | None
    staging: PolicyVersion | None
    sessions: int

    @property
    def pending(self) -> bool:
        """Staging differs from production: there is something to promote."""
        if self.staging is None:
            return False
        return self.production is None or bool(diff(self.production.policy, self.staging.policy))


class PolicyStore:
    def __init__(self, store: Storage) -> None:
        self.store = store

    def versions(self, institution_id: str, exam_id: str) -> list[PolicyVersion]:
        """Every version of the exam's policy, newest first."""
        p = schema.policies
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(p)
                .where(p.c.institution_id == institution_id, p.c.exam_id == exam_id)
                .order_by(p.c.version.desc())
            ).all()
        return [_version(r) for r in rows]

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
        with self.store.engine.connect() as conn:
            rows = conn.execute(policies.order_by(p.c.exam_id, p.c.version.desc())).all()
            counts = dict(conn.execute(sessions.group_by(s.c.exam_id)).all())
        newest: dict[str, dict[str, PolicyVersion]] = {}
        for row in rows:  # newest first within an exam: keep the first of each environment
            envs = newest.setdefault(row.exam_id, {})
            if row.environment not in envs:
                envs[row.environment] = _version(row)
        return [
            ExamPolicies(
                exam_id,
                envs.get("production"),
                envs.get("staging"),
                int(counts.get(exam_id, 0)),
            )
            for exam_id, envs in newest.items()
        ]

    def exam(self, institution_id: str, exam_id: str) -> ExamPolicies | None:
        found = self.overview(institution_id, exam_id)
        return found[0] if found else None

    def save_staging(self, institution_id: str, policy: Policy, created_by: str) -> int:
        """Storage an edited policy as the exam's newest staging version; return its number."""
        _, version = self.store.policies.save(
            institution_id,
            replace(policy, environment="staging"),
            created_by,
            audit=(created_by, "policy.staged"),
        )
        return version

    def promote(self, institution_id: str, exam_id: str, version: int, created_by: str) -> int:
        """Copy staging version ``version`` to production as the next version. It must be the
        newest staging version: promoting exactly what the reviewer saw in the diff."""
        exam = self.exam(institution_id, exam_id)
        if exam is None or exam.staging is None:
            raise NotFound("unknown_policy", f"exam {exam_id!r} has no staging policy")
        if exam.staging.version != version:
            raise Conflict(
                "stale_version",
                f"staging has changed since you reviewed it (now version {exam.staging.version}, "
                f"you reviewed version {version}); review the changes again",
            )
        if not exam.pending:
            raise Conflict("nothing_to_promote", "production already runs exactly this policy")
        promoted = replace(exam.staging.policy, environment="production")
        _, new_version = self.store.policies.save(
            institution_id, promoted, created_by, audit=(created_by, "policy.promoted")
        )
        return new_version


def diff(before: Policy | None, after: Policy) -> list[tuple[str, str, str]]:
    """Fields that differ, as (field, before, after) in words; ``environment`` is left out."""
    old = before.to_dict() if before is not None else {}
    new = after.to_dict()
    changes = []
    for name, value in new.items():
        if name == "environment" or old.get(name) == value:
            continue
        changes.append((name, _words(old[name]) if name in old else "(none)", _words(value)))
    return changes


def _words(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    if isinstance(value, dict):
        if not value:
            return "(none)"
        return "; ".join(f"{k}: {_words(v)}" for k, v in value.items())
    return str(value)
