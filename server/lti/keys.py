"""The tool's RSA keys (stored encrypted, rotated with a grace period, published at /lti/jwks)
and each platform's verification keys (a pasted JWK, or its key set fetched through the
address guard and cached).

Built on pyjwt (``PyJWKSet``, RS256) and cryptography (RSA keys); no JWT or JWK crypto is
written here.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWK, PyJWKSet

from ..errors import Invalid, UpstreamFailed
from ..security.keys import Keyring
from ..security.outbound import OutboundError, OutboundGuard
from ..storage.lti import LtiStore
from ..storage.rows import Registration
from .launch import unverified_header

log = logging.getLogger("openproctor.server.lti")

JWKS_LIFESPAN = 300
KEY_GRACE_SECONDS = 7 * 86400


# -- the tool's keys ---------------------------------------------------------------------------


class ToolKeys:
    """The tool's RSA signing keys, stored encrypted with the master keys.

    The newest key signs; a rotated key stays published at /lti/jwks for a grace period so
    messages signed just before the rotation still verify, then it is dropped.
    """

    def __init__(self, store: LtiStore, keyring: Keyring) -> None:
        self.store = store
        self.keyring = keyring
        self._lock = threading.Lock()
        # Loaded keys by kid. Loading a PEM checks the RSA key, about 50 ms of CPU: without
        # this every signature and every /lti/jwks request paid it, per key (PERFORMANCE.md).
        # A kid names one key for good (a master-key rekey re-encrypts the same key).
        self._loaded: dict[str, rsa.RSAPrivateKey] = {}

    def rotate(self) -> str:
        """Create a new signing key (the others are retired); returns its kid."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        kid = time.strftime("%Y%m%d") + "-" + secrets.token_hex(6)
        self.store.add_tool_key(kid, self.keyring.encrypt(pem), retire_others=True)
        self.store.drop_tool_keys_retired_before(time.time() - KEY_GRACE_SECONDS)
        return kid

    def signing_key(self) -> tuple[str, rsa.RSAPrivateKey]:
        with self._lock:
            keys = [k for k in self.store.tool_keys() if k["retired_at"] is None]
            if not keys:
                self.rotate()
                keys = [k for k in self.store.tool_keys() if k["retired_at"] is None]
        newest = keys[0]
        return newest["kid"], self._private(newest)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public keys a platform verifies our messages with (current and in grace)."""
        self.signing_key()  # a first request creates the first key
        cutoff = time.time() - KEY_GRACE_SECONDS
        published = []
        for row in self.store.tool_keys():
            if row["retired_at"] is not None and row["retired_at"] < cutoff:
                continue
            public_key = self._private(row).public_key()
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key))
            public.update({"kid": row["kid"], "alg": "RS256", "use": "sig"})
            published.append(public)
        return {"keys": published}

    def _private(self, row: dict[str, Any]) -> rsa.RSAPrivateKey:
        """A stored key, decrypted with the master keys and loaded (once per process)."""
        found = self._loaded.get(row["kid"])
        if found is None:
            pem = self.keyring.decrypt(row["private_enc"]).encode()
            private = serialization.load_pem_private_key(pem, password=None)
            assert isinstance(private, rsa.RSAPrivateKey)
            found = self._loaded[row["kid"]] = private
        return found

    def sign(self, claims: dict[str, Any]) -> str:
        kid, private = self.signing_key()
        return jwt.encode(claims, private, algorithm="RS256", headers={"kid": kid})


# -- verifying a platform's id_token ------------------------------------------------------------


class PlatformKeys:
    """Each registration's verification keys: a pasted JWK, or its key set URL fetched through
    the address guard and cached (an unknown ``kid`` triggers one refetch, so a platform's
    rotation just works). Any failure to fetch or read the set is one error with one status,
    whatever the cause, so a launch cannot be used to probe the network."""

    def __init__(
        self, guard: OutboundGuard, refetch_cooldown: float = 30.0, lifespan: float = JWKS_LIFESPAN
    ) -> None:
        self.guard = guard
        #: At most one refetch per cooldown for unknown kids (a flood of forged kids cannot
        #: turn the tool into a load generator against the platform).
        self.refetch_cooldown = refetch_cooldown
        self.lifespan = lifespan
        self._sets: dict[tuple[int, str], tuple[float, PyJWKSet]] = {}
        self._lock = threading.Lock()

    def key_for(self, registration: Registration, token: str) -> Any:
        header = unverified_header(token)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Invalid("malformed_id_token", "the id_token's 'kid' header must be a string")
        if registration.public_jwk is not None:
            jwk = PyJWK(registration.public_jwk, algorithm="RS256")
            if kid is not None and jwk.key_id and kid != jwk.key_id:
                raise Invalid(
                    "unknown_kid",
                    f"the id_token names key {kid!r}, which the registration's public key is not",
                )
            return jwk.key
        if not registration.jwks_url:
            raise Invalid("no_platform_key", "the registration has no key set URL or public key")
        url = registration.jwks_url
        cache_key = (registration.id, url)
        with self._lock:
            cached = self._sets.get(cache_key)
        now = time.monotonic()
        if cached is None or now - cached[0] > self.lifespan:
            cached = self._fetch(cache_key, url, now)
        key = _find(cached[1], kid)
        if key is None and now - cached[0] > self.refetch_cooldown:
            cached = self._fetch(cache_key, url, now)
            key = _find(cached[1], kid)
        if key is None:
            raise Invalid("unknown_kid", f"no key of the platform's key set matches kid {kid!r}")
        return key.key

    def forget(self) -> None:
        """Drop every cached key set (the next launch of each registration fetches again)."""
        with self._lock:
            self._sets.clear()

    def _fetch(self, cache_key: tuple[int, str], url: str, now: float) -> tuple[float, PyJWKSet]:
        try:
            response = self.guard.request("GET", url, headers={"accept": "application/json"})
            if response.status_code != 200:
                raise OutboundError(url, f"answered HTTP {response.status_code}")
            keys = _key_set(json.loads(response.content))
        except (OutboundError, ValueError, jwt.PyJWTError) as exc:
            reason = exc.reason if isinstance(exc, OutboundError) else f"not a key set: {exc}"
            log.warning("platform key set %s unusable: %s", url, reason)
            raise UpstreamFailed(
                "platform_keys_unavailable",
                "the platform's key set could not be fetched or read; ask the LMS administrator "
                "to check the key set URL registered with this tool",
            ) from None
        entry = (now, keys)
        with self._lock:
            self._sets[cache_key] = entry
        return entry


def _key_set(data: Any) -> PyJWKSet:
    """A JWK set from parsed JSON; anything else is a ``ValueError`` naming what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("the answer is not a JSON object with a 'keys' list")
    if not all(isinstance(k, dict) for k in data["keys"]):
        raise ValueError("every entry of 'keys' must be a JSON object")
    return PyJWKSet(data["keys"])


def _find(keys: PyJWKSet, kid: str | None) -> PyJWK | None:
    signing = [k for k in keys.keys if k.public_key_use in ("sig", None)]
    if kid is None:  # a set of one key may be used without a kid
        return signing[0] if len(signing) == 1 else None
    return next((k for k in signing if k.key_id == kid), None)
