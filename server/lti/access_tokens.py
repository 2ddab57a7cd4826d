"""Access tokens for the platform's services (ACS, AGS): the LTI Security Framework's OAuth2
client-credentials grant, the client authenticated by a ``private_key_jwt`` assertion signed
with the tool's key. Tokens are cached per registration and scope set until shortly before
they expire; every request goes through the address guard."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..security.outbound import OutboundError, OutboundGuard
from ..storage.rows import Registration

if TYPE_CHECKING:
    from .keys import ToolKeys

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_SECONDS = 300
#: A cached token is renewed this long before the platform says it expires.
RENEW_MARGIN_SECONDS = 60


class TokenError(OutboundError):
    """The platform gave no access token; ``reason`` says why (for the call log)."""


@dataclass
class AccessTokens:
    guard: OutboundGuard
    keys: ToolKeys
    clock: Callable[[], float] = time.time
    _cache: dict[tuple[int, frozenset[str]], tuple[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def assertion(self, registration: Registration, audience: str) -> str:
        """The signed client assertion: iss = sub = our client id, aud = the token URL."""
        now = int(self.clock())
        return self.keys.sign(
            {
                "iss": registration.client_id,
                "sub": registration.client_id,
                "aud": audience,
                "iat": now,
                "exp": now + ASSERTION_SECONDS,
                "jti": secrets.token_urlsafe(16),
            }
        )

    def token(self, registration: Registration, scopes: Iterable[str], fresh: bool = False) -> str:
        """A bearer token for ``scopes``; ``fresh`` skips the cache (after a 401)."""
        wanted = frozenset(scopes)
        key = (registration.id, wanted)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and not fresh and cached[1] > self.clock():
            return cached[0]
        url = registration.token_url
        if not url:
            raise TokenError(
                registration.issuer,
                "the platform's registration has no token URL (openproctor lti add --token-url)",
            )
        response = self.guard.request(
            "POST",
            url,
            headers={"accept": "application/json"},
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.assertion(registration, url),
                "scope": " ".join(sorted(wanted)),
            },
        )
        if response.status_code != 200:
            raise TokenError(url, f"the token endpoint answered HTTP {response.status_code}")
        try:
            body = response.json()
            token = body["access_token"]
            lifetime = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise TokenError(url, "the token endpoint's answer has no access_token") from None
        if not isinstance(token, str) or not token:
            raise TokenError(url, "the token endpoint's access_token is not a string")
        expires = self.clock() + max(0.0, lifetime - RENEW_MARGIN_SECONDS)
        with self._lock:
            self._cache[key] = (token, expires)
        return token
