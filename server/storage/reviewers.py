"""Reviewer accounts (password hashes only), their dashboard sessions, the sign-in failure
counters, and review decisions (append-only)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..errors import Conflict, NotFound
from . import schema
from .audit import record as audit_record
from .database import Database, require_institution


class Reviewers:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- accounts --------------------------------------------------------------------------

    def add_account(
        self, username: str, institution_id: str, password_hash: str, role: str
    ) -> None:
        with self.db.engine.begin() as conn:
            require_institution(conn, institution_id)
            try:
                conn.execute(
                    schema.reviewers.insert().values(
                        institution_id=institution_id,
                        username=username,
                        password_hash=password_hash,
                        role=role,
                        created_at=time.time(),
                    )
                )
            except IntegrityError:
                raise Conflict(
                    "reviewer_exists", f"a reviewer named {username!r} already exists"
                ) from None

    def accounts(self) -> list[dict[str, Any]]:
        r = schema.reviewers
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(r.c.username, r.c.institution_id, r.c.role).order_by(r.c.username)
            ).mappings()
            return [dict(row) for row in rows]

    def account(self, username: str) -> dict[str, Any] | None:
        r = schema.reviewers
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(r).where(r.c.username == username)).mappings().first()
        return dict(row) if row else None

    def remove_account(self, username: str) -> None:
        """Delete the account and revoke every session it has open, in one transaction."""
        r, rs = schema.reviewers, schema.reviewer_sessions
        with self.db.engine.begin() as conn:
            if not conn.execute(r.delete().where(r.c.username == username)).rowcount:
                raise NotFound("unknown_reviewer", f"no reviewer named {username!r}")
            conn.execute(
                rs.update()
                .where(rs.c.username == username, rs.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )

    # -- dashboard sessions (revocable: every request looks its session up) -------------------

    def open_session(
        self,
        institution_id: str,
        username: str | None,
        name: str,
        role: str,
        context_id: str | None,
        lifetime: float,
    ) -> str:
        """A new session for a signed-in reviewer; returns its id (named by the cookie)."""
        session_id = secrets.token_urlsafe(24)
        now = time.time()
        rs = schema.reviewer_sessions
        with self.db.engine.begin() as conn:
            conn.execute(
                rs.insert().values(
                    id=session_id,
                    institution_id=institution_id,
                    username=username,
                    name=name[:255],
                    role=role,
                    context_id=context_id,
                    created_at=now,
                    expires_at=now + lifetime,
                )
            )
            # Housekeeping: sessions that ended more than a day ago.
            conn.execute(rs.delete().where(rs.c.expires_at < now - 86400))
        return session_id

    def live_session(self, session_id: str) -> dict[str, Any] | None:
        """The session if it is open (not revoked, not expired) and, for a local account, the
        account still exists: then with the account's current role and institution."""
        rs, r = schema.reviewer_sessions, schema.reviewers
        query = (
            sa.select(rs, r.c.role.label("account_role"), r.c.institution_id.label("account_inst"))
            .outerjoin(r, r.c.username == rs.c.username)
            .where(rs.c.id == session_id, rs.c.revoked_at.is_(None), rs.c.expires_at > time.time())
        )
        with self.db.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        found = dict(row)
        if found["username"] is not None:
            if found["account_role"] is None:  # the account was removed
                return None
            found.update(role=found["account_role"], institution_id=found["account_inst"])
        return found

    def revoke_session(self, session_id: str) -> None:
        rs = schema.reviewer_sessions
        with self.db.engine.begin() as conn:
            conn.execute(
                rs.update()
                .where(rs.c.id == session_id, rs.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )

    # -- sign-in failure counters -------------------------------------------------------------

    def reserve(
        self, limits: tuple[tuple[str, int], ...], now: float, window: float
    ) -> float | None:
        """Count one attempt against each (key, limit) in one transaction (an atomic upsert
        each). When a key is over its limit nothing is counted, and the start of that key's
        window is returned; None when the attempt is reserved."""
        f = schema.login_failures
        insert = postgresql_insert if self.db.dialect == "postgresql" else sqlite_insert
        expired = f.c.first_at <= now - window
        with self.db.engine.begin() as conn:
            for key, limit in limits:
                statement = (
                    insert(f)
                    .values(key=key, failures=1, first_at=now)
                    .on_conflict_do_update(
                        index_elements=[f.c.key],
                        set_={
                            "failures": sa.case((expired, 1), else_=f.c.failures + 1),
                            "first_at": sa.case((expired, now), else_=f.c.first_at),
                        },
                    )
                    .returning(f.c.failures, f.c.first_at)
                )
                failures, first_at = conn.execute(statement).one()
                if failures > limit:
                    conn.rollback()
                    return float(first_at)
        return None

    def release(self, forgotten: str, lowered: str) -> None:
        """After a correct password: forget one key's failures, and give one back to another."""
        f = schema.login_failures
        with self.db.engine.begin() as conn:
            conn.execute(f.delete().where(f.c.key == forgotten))
            conn.execute(
                f.update()
                .where(f.c.key == lowered, f.c.failures > 0)
                .values(failures=f.c.failures - 1)
            )

    # -- decisions -------------------------------------------------------------------------

    def add_decision(
        self,
        session_id: str,
        outcome: str,
        comment: str,
        reviewer: str,
        then: Callable[[Connection, str], None] | None = None,
    ) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(
                schema.decisions.insert().values(
                    session_id=session_id,
                    outcome=outcome,
                    comment=comment,
                    reviewer=reviewer,
                    created_at=time.time(),
                )
            )
            if then is not None:
                then(conn, session_id)

    def add_verdict(
        self, session_id: str, seq: int, verdict: str, note: str, reviewer: str
    ) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(
                schema.incident_verdicts.insert().values(
                    session_id=session_id,
                    seq=seq,
                    verdict=verdict,
                    note=note,
                    reviewer=reviewer,
                    created_at=time.time(),
                )
            )

    def verdicts(self, session_id: str) -> list[dict[str, Any]]:
        """Every verdict on the session's episodes, newest first."""
        v = schema.incident_verdicts
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(v).where(v.c.session_id == session_id).order_by(v.c.id.desc())
            ).mappings()
            return [dict(row) for row in rows]

    def claim(self, session_id: str, reviewer: str | None) -> None:
        """Claim the session for ``reviewer`` (None: release it)."""
        s = schema.sessions
        with self.db.engine.begin() as conn:
            conn.execute(
                s.update()
                .where(s.c.id == session_id)
                .values(claimed_by=reviewer, claimed_at=time.time() if reviewer else None)
            )

    def decisions(self, session_id: str) -> list[dict[str, Any]]:
        """Every decision on the session, newest first (the first is the current one)."""
        d = schema.decisions
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(d).where(d.c.session_id == session_id).order_by(d.c.id.desc())
            ).mappings()
            return [dict(row) for row in rows]


class Reveals:
    """Who asked to see a session's student, and why (append-only; the audit log has it too)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self, institution_id: str, session_id: str, reviewer: str, role: str, reason: str
    ) -> None:
        t = schema.identity_reveals
        with self.db.engine.begin() as conn:
            conn.execute(
                t.insert().values(
                    session_id=session_id,
                    reviewer=reviewer,
                    role=role,
                    reason=reason,
                    created_at=time.time(),
                )
            )
            audit_record(
                conn,
                institution_id,
                reviewer,
                "session.identity_revealed",
                session_id,
                {"reason": reason},
            )

    def of_session(self, session_id: str) -> list[dict[str, Any]]:
        """Every reveal of the session, oldest first."""
        t = schema.identity_reveals
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t).where(t.c.session_id == session_id).order_by(t.c.id)
            ).mappings()
            return [dict(r) for r in rows]
