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
from sqlalchemy.exc import IntegrityError

from . import schema
from .errors import ApiError
from .store import Store, require_institution

ROLES = ("reviewer", "admin")
OUTCOMES = {
    "cleared": "cleared",
    "violation_confirmed": "violation confirmed",
    "needs_discussion": "needs discussion",
}
MIN_PASSWORD = 12
# scrypt at n=2**15, r=8 (about 32 MiB and tens of milliseconds per check).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MAX_FAILURES = 5
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
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    # -- accounts --------------------------------------------------------------------------

    def add(self, username: str, institution_id: str, password: str, role: str) -> None:
        if role not in ROLES:
            raise ApiError(400, "invalid_role", f"role must be one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise ApiError(
                400, "weak_password", f"the password must be at least {MIN_PASSWORD} characters"
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
                raise ApiError(
                    409, "reviewer_exists", f"a reviewer named {username!r} already exists"
                ) from None

    def list(self) -> list[dict[str, Any]]:
        r = schema.reviewers
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(r.c.username, r.c.institution_id, r.c.role).order_by(r.c.username)
            ).mappings()
            return [dict(row) for row in rows]

    def remove(self, username: str) -> None:
        r = schema.reviewers
        with self.engine.begin() as conn:
            if not conn.execute(r.delete().where(r.c.username == username)).rowcount:
                raise ApiError(404, "unknown_reviewer", f"no reviewer named {username!r}")

    def authenticate(self, username: str, password: str, client: str) -> dict[str, Any] | None:
        """The reviewer's row for a correct password, else None. Raises 429 while the username
        or the client address is locked out after repeated failures."""
        keys = [f"user:{username.lower()}"[:200], f"client:{client}"[:200]]
        now = time.time()
        self._check_throttle(keys, now)
        r = schema.reviewers
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(r).where(r.c.username == username)).mappings().first()
        ok = check_password(password, row["password_hash"] if row else _dummy_hash())
        if row is None or not ok:
            self._record_failure(keys, now)
            return None
        with self.engine.begin() as conn:
            f = schema.login_failures
            conn.execute(f.delete().where(f.c.key == keys[0]))
        return dict(row)

    def _check_throttle(self, keys: list[str], now: float) -> None:
        f = schema.login_failures
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(f).where(f.c.key.in_(keys))).all()
        for row in rows:
            if row.failures >= MAX_FAILURES and row.first_at + FAILURE_WINDOW > now:
                wait = int(row.first_at + FAILURE_WINDOW - now) + 1
                error = ApiError(
                    429,
                    "too_many_attempts",
                    f"too many failed sign-ins; try again in {wait // 60 + 1} minute(s)",
                )
                error.headers["retry-after"] = str(wait)
                raise error

    def _record_failure(self, keys: list[str], now: float) -> None:
        f = schema.login_failures
        with self.engine.begin() as conn:
            for key in keys:
                row = conn.execute(sa.select(f).where(f.c.key == key)).first()
                if row is None:
                    try:
                        with conn.begin_nested():
                            conn.execute(f.insert().values(key=key, failures=1, first_at=now))
                    except IntegrityError:
                        conn.execute(
                            f.update().where(f.c.key == key).values(failures=f.c.failures + 1)
                        )
                elif row.first_at + FAILURE_WINDOW <= now:
                    conn.execute(f.update().where(f.c.key == key).values(failures=1, first_at=now))
                else:
                    conn.execute(f.update().where(f.c.key == key).values(failures=f.c.failures + 1))

    # -- decisions -------------------------------------------------------------------------

    def decide(self, session_id: str, outcome: str, comment: str, reviewer: str) -> None:
        if outcome not in OUTCOMES:
            raise ApiError(
                400, "invalid_outcome", "choose cleared, violation confirmed or needs discussion"
            )
        if len(comment) > 5000:
            raise ApiError(400, "comment_too_long", "the comment must be at most 5000 characters")
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
