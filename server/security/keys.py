"""Master keys and what is derived from them: session signing keys, session tokens, and the
encryption of integration secrets at rest. The newest key signs and encrypts; all verify."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from openproctor.core import Secret, derive_session_key

from ..errors import Forbidden, Misconfigured, Unauthorized

TOKEN_AUDIENCE = "openproctor:session"  # noqa: S105 (an audience name, not a secret)
TOKEN_ALGORITHM = "HS256"  # noqa: S105
REVIEWER_AUDIENCE = "openproctor:reviewer"
MIN_KEY_CHARS = 32
TOKEN_CACHE_SIZE = 50_000


def same_text(expected: str, given: str) -> bool:
    """Constant-time equality of two strings, whatever characters ``given`` holds (compare_digest
    refuses non-ASCII strings, so they are compared as UTF-8 bytes)."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))


@lru_cache(maxsize=64)
def _subkey(master: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"openproctor/server/v1", info=purpose.encode()
    ).derive(master)


def load_master_keys(configured: Sequence[str], secret_file: Path) -> list[Secret]:
    """The master keys, newest first: from configuration, else from ``secret_file``.

    A missing file is created with one random key (mode 0600), so a first run needs no setup.
    Several server processes must share the same keys (environment or the same file).
    """
    texts = list(configured)
    if not texts:
        if not secret_file.exists():
            secret_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() + "\n")
        texts = [line.strip() for line in secret_file.read_text().splitlines() if line.strip()]
    if not texts:
        raise ValueError(f"no master key in {secret_file}")
    for text in texts:
        if len(text) < MIN_KEY_CHARS:
            raise ValueError(f"a master key must be at least {MIN_KEY_CHARS} characters long")
    return [Secret(text) for text in texts]


@dataclass(frozen=True)
class Keyring:
    """Everything derived from the master keys. Never logged: its repr hides the material."""

    masters: tuple[Secret, ...]
    #: Session tokens already verified, with their claims: every batch of a session presents
    #: the same token, and decoding it each time cost 3% of ingest. Expiry is still checked on
    #: every use; tokens are never revoked, so a cached verdict stays right until it expires.
    _verified: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    def __repr__(self) -> str:
        return f"Keyring({len(self.masters)} master key(s))"

    def session_keys(self, session_id: str) -> list[Secret]:
        """The session's signing keys, newest first (the browser gets the first)."""
        return [
            derive_session_key(_subkey(m.reveal(), "session-keys"), session_id)
            for m in self.masters
        ]

    def audit_keys(self) -> list[bytes]:
        """The audit log's MAC keys, newest first (new entries are signed with the first)."""
        return [_subkey(m.reveal(), "audit-log") for m in self.masters]

    def _fernet(self) -> MultiFernet:
        return MultiFernet(
            [
                Fernet(base64.urlsafe_b64encode(_subkey(m.reveal(), "integration-secrets")))
                for m in self.masters
            ]
        )

    def encrypt(self, plaintext: str) -> bytes:
        """Encrypt an integration secret for storage (a database dump alone does not reveal it)."""
        return self._fernet().encrypt(plaintext.encode())

    def reencrypt(self, token: bytes) -> bytes:
        """The same secret encrypted with the newest master key (for ``openproctor rekey``)."""
        try:
            return self._fernet().rotate(token)
        except InvalidToken:
            raise Misconfigured(
                "secret_unreadable",
                "a stored secret cannot be decrypted with the configured master keys",
            ) from None

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet().decrypt(token).decode()
        except InvalidToken:
            raise Misconfigured(
                "secret_unreadable",
                "a stored integration secret cannot be decrypted with the configured "
                "master keys (were they rotated without keeping the old one?)",
            ) from None

    # -- session tokens ---------------------------------------------------------------------

    def mint_session_token(
        self, session_id: str, expires_at: float, integration_id: int | None = None
    ) -> str:
        """The browser's bearer token for one session; it names the integration too (``int``),
        so a batch's origin is checked before it is queued, without a database read."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": session_id,
            "aud": TOKEN_AUDIENCE,
            "scope": "session",
            "iat": now,
            "exp": int(expires_at),
        }
        if integration_id is not None:
            claims["int"] = integration_id
        return jwt.encode(
            claims, _subkey(self.masters[0].reveal(), "session-tokens"), algorithm=TOKEN_ALGORITHM
        )

    def check_session_token(self, token: str, session_id: str) -> dict[str, Any]:
        """Verify a bearer token for ``session_id``; raise Unauthorized or Forbidden otherwise."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode_session_token(token)
            if len(self._verified) >= TOKEN_CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = claims
        if claims["exp"] <= self.clock():  # one clock for fresh and remembered tokens
            self._verified.pop(token, None)
            raise Unauthorized("token_expired", "the session token has expired")
        if claims.get("scope") != "session" or claims["sub"] != session_id:
            raise Forbidden("wrong_session", "the token is not valid for this session")
        return claims

    def _decode_session_token(self, token: str) -> dict[str, Any]:
        last_error: Exception | None = None
        for master in self.masters:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    _subkey(master.reveal(), "session-tokens"),
                    algorithms=[TOKEN_ALGORITHM],
                    audience=TOKEN_AUDIENCE,
                    # exp is required here and compared with self.clock by the caller.
                    options={"require": ["sub", "exp", "iat", "aud"], "verify_exp": False},
                )
            except jwt.InvalidSignatureError as exc:
                last_error = exc
                continue
            except jwt.InvalidTokenError as exc:
                raise Unauthorized(
                    "invalid_token", f"the session token is invalid: {exc}"
                ) from None
            return claims
        raise Unauthorized("invalid_token", f"the session token is invalid: {last_error}") from None

    # -- reviewer (dashboard) sessions ------------------------------------------------------

    def mint_reviewer_token(self, claims: dict[str, Any], lifetime: int) -> str:
        now = int(time.time())
        body = {**claims, "aud": REVIEWER_AUDIENCE, "iat": now, "exp": now + lifetime}
        return jwt.encode(
            body, _subkey(self.masters[0].reveal(), "reviewer-sessions"), algorithm=TOKEN_ALGORITHM
        )

    def check_reviewer_token(self, token: str) -> dict[str, Any] | None:
        """The claims of a valid reviewer cookie, or None (expired, forged, or from old keys)."""
        for master in self.masters:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    _subkey(master.reveal(), "reviewer-sessions"),
                    algorithms=[TOKEN_ALGORITHM],
                    audience=REVIEWER_AUDIENCE,
                    options={"require": ["sub", "exp", "iat", "aud", "inst"]},
                )
            except jwt.InvalidTokenError:
                continue
            return claims
        return None

    def csrf_token(self, session_token: str) -> str:
        """The CSRF token bound to a reviewer's cookie (forms carry it; POSTs compare it)."""
        mac = hmac.new(
            _subkey(self.masters[0].reveal(), "csrf"), session_token.encode(), hashlib.sha256
        )
        return mac.hexdigest()[:40]

    # -- the student's link to what was recorded --------------------------------------------

    def record_key(self, session_id: str) -> str:
        """The capability in the link a student gets to their own record (and evidence
        bundle): an HMAC of the session id, so it needs no storage and only the server mints it."""
        return self._record_key(self.masters[0], session_id)

    def check_record_key(self, session_id: str, key: str) -> bool:
        return any(same_text(self._record_key(m, session_id), key) for m in self.masters)

    @staticmethod
    def _record_key(master: Secret, session_id: str) -> str:
        mac = hmac.new(_subkey(master.reveal(), "student-record"), session_id.encode(), "sha256")
        return base64.urlsafe_b64encode(mac.digest()[:24]).decode()

    def record_path(self, session_id: str) -> str:
        return f"/record/{session_id}?key={self.record_key(session_id)}"
