"""Local reviewer accounts (scrypt password hashes), login throttling shared by every server
process (it lives in the database), and review decisions kept as an append-only history."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from .errors import Conflict, Invalid, NotFound, TooManyRequests
from .security import validation
from .storage import Storage, schema
from .storage.database import require_institution

ROLES = ("reviewer", "admin")
OUTCOMES = {
    "cleared": "cleared",
    "violation_confirmed": "violation confirmed",
    "needs_discussion": "needs discussion",
}
MIN_PASSWORD = 12
# scrypt at n=2**15, r=8 (about 32 MiB and tens of milliseconds per check).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
#: Failed sign-ins allowed per (username, client address) and per address, in the window.
PAIR_LIMIT = 5
CLIENT_LIMIT = 50
FAILURE_WINDOW = 15 * 60


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=64 * 1024 * 1024,
        dklen=32,
    )
    encoded = [base64.b64encode(x).decode() for x in (salt, digest)]
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encoded[0]}${encoded[1]}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    computed = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        maxmem=64 * 1024 * 1024,
        dklen=32,
    )
    return hmac.compare_digest(computed, base64.b64decode(digest))


@functools.cache
def _dummy_hash() -> str:
    """Checked when the username is unknown, so timing does not reveal which names exist."""
    return hash_password(secrets.token_urlsafe(16))


class ReviewerStore:
    def __init__(self, store: Storage) -> None:
        self.engine = store.engine

    # -- accounts --------------------------------------------------------------------------

    def add(self, username: str, institution_id: str, password: str, role: str) -> None:
        validation.check(username, "username", 100)
        if not username.strip() or username != username.strip():
            raise Invalid("invalid_text", "the username must not be empty or padded")
        validation.check(institution_id, "institution", 64)
        if role not in ROLES:
            raise Invalid("invalid_role", f"role must be one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise Invalid(
                "weak_password", f"the password must be at least {MIN_PASSWORD} characters"
            )
        with self.engine.begin() as conn:
            require_institution(conn, institution_id)
            try:
                conn.execute(
                    schema.reviewers.insert().values(
                        institution_id=institution_id,
                        username=username,
                        password_hash=hash_password(password),
                        role=role,
                        created_at=time.time(),
                    )
                )
            except IntegrityError:
                raise Conflict(
                    "reviewer_exists", f"a reviewer named {username!r} already exists"
                ) from None

    def list(self) -> list[dict[str, Any]]:
        r = schema.reviewers
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(r.c.username, r.c.institution_id, r.c.role).order_by(r.c.username)
            ).mappings()
            return [dict(row) for row in rows]

    def remove(self, username: str) -> None:
        """Delete the account and revoke every session it has open, in one transaction."""
        r, rs = schema.reviewers, schema.reviewer_sessions
        with self.engine.begin() as conn:
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
        with self.engine.begin() as conn:
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
        with self.engine.connect() as conn:
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
        with self.engine.begin() as conn:
            conn.execute(
                rs.update()
                .where(rs.c.id == session_id, rs.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )

    def authenticate(self, username: str, password: str, client: str) -> dict[str, Any] | None:
        """The reviewer's row for a correct password, else None.

        Each attempt is reserved before the password is hashed, atomically in the database
        (shared by every server process): at most ``PAIR_LIMIT`` failures per username and
        client address, and a softer ``CLIENT_LIMIT`` per address (many reviewers may share
        one behind NAT), in ``FAILURE_WINDOW``. Past either, 429 without hashing. A failed
        reservation (the database is busy) refuses the attempt: nothing is checked uncounted.
        A correct password releases its reservation."""
        pair = f"pair:{username.lower()}|{client}"[:200]
        address = f"client:{client}"[:200]
        now = time.time()
        self._reserve(((pair, PAIR_LIMIT), (address, CLIENT_LIMIT)), now)
        r = schema.reviewers
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(r).where(r.c.username == username)).mappings().first()
        ok = check_password(password, row["password_hash"] if row else _dummy_hash())
        if row is None or not ok:
            return None  # the reservation stands as the failure
        f = schema.login_failures
        with self.engine.begin() as conn:
            conn.execute(f.delete().where(f.c.key == pair))
            conn.execute(
                f.update()
                .where(f.c.key == address, f.c.failures > 0)
                .values(failures=f.c.failures - 1)
            )
        return dict(row)

    def _reserve(self, limits: tuple[tuple[str, int], ...], now: float) -> None:
        """Count one attempt against each key in one transaction, or none and raise 429."""
        f = schema.login_failures
        insert = postgresql_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        expired = f.c.first_at <= now - FAILURE_WINDOW
        with self.engine.begin() as conn:
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
                    wait = int(first_at + FAILURE_WINDOW - now) + 1
                    raise TooManyRequests(
                        "too_many_attempts",
                        f"too many failed sign-ins; try again in {wait // 60 + 1} minute(s)",
                        retry_after=wait,
                    )

    # -- decisions -------------------------------------------------------------------------

    def decide(self, session_id: str, outcome: str, comment: str, reviewer: str) -> None:
        if outcome not in OUTCOMES:
            raise Invalid(
                "invalid_outcome", "choose cleared, violation confirmed or needs discussion"
            )
        if len(comment) > 5000:
            raise Invalid("comment_too_long", "the comment must be at most 5000 characters")
        validation.check(comment, "comment", multiline=True)
        with self.engine.begin() as conn:
            conn.execute(
                schema.decisions.insert().values(
                    session_id=session_id,
                    outcome=outcome,
                    comment=comment.strip(),
                    reviewer=reviewer,
                    created_at=time.time(),
                )
            )

    def decisions(self, session_id: str) -> list[dict[str, Any]]:
        """Every decision on the session, newest first (the first is the current one)."""
        d = schema.decisions
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(d).where(d.c.session_id == session_id).order_by(d.c.id.desc())
            ).mappings()
            return [dict(row) for row in rows]
