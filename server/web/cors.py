"""CORS limited to the origins registered by integrations (looked up, briefly cached).

Preflights from an unregistered origin are refused; actual requests from one are refused before
any endpoint runs. Endpoints then check that the origin belongs to *their* integration.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .http import error_response

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "authorization, content-type"


class RegisteredOriginsCORS:
    def __init__(
        self,
        app: ASGIApp,
        origins: Callable[[], set[str]],
        ttl: float = 10.0,
        prefix: str = "/api/",
    ) -> None:
        self.app, self._lookup, self.ttl, self.prefix = app, origins, ttl, prefix
        self._cache: tuple[float, set[str]] = (0.0, set())

    def _registered(self) -> set[str]:
        stamp, origins = self._cache
        if time.monotonic() - stamp > self.ttl:
            origins = self._lookup()
            self._cache = (time.monotonic(), origins)
        return origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"
        if origin is None or origin == own:
            await self.app(scope, receive, send)
            return
        allowed = origin in self._registered()
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            response: Response
            if not allowed:
                response = error_response(
                    403, "origin_not_allowed", f"origin {origin!r} is not registered"
                )
            else:
                response = Response(
                    status_code=204,
                    headers={
                        "access-control-allow-origin": origin,
                        "vary": "Origin",
                        "access-control-allow-methods": ALLOWED_METHODS,
                        "access-control-allow-headers": ALLOWED_HEADERS,
                        "access-control-max-age": "600",
                    },
                )
            await response(scope, receive, send)
            return
        if not allowed:
            await error_response(403, "origin_not_allowed", f"origin {origin!r} is not registered")(
                scope, receive, send
            )
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                raw += [
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"vary", b"Origin"),
                ]
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_cors)
