"""The platform's side of the LTI services, scripted from ../shared/LTI-NOTES.md: an OAuth2
token endpoint (client credentials with a ``private_key_jwt`` assertion, checked against the
tool's published key set), an Assessment Control Service that behaves like edx-exams' (JSON
only: the spec's media type gets 415; ``terminate`` needs reason_code, incident_time and
incident_severity), and AGS line items and scores with Open edX's rule that a score's
timestamp must increase. Served on a real loopback HTTP server; every request is recorded.
"""

from __future__ import annotations

import http.server
import json
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt

ACS_SCOPE = "https://purl.imsglobal.org/spec/lti-ap/scope/control.all"
AGS_SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class PlatformServices:
    client_id: str
    tool_jwks: Callable[[], dict[str, Any]]
    base: str = ""
    #: edx-exams parses JSON only: the ACS media type is answered 415.
    json_only: bool = True
    #: Scopes this platform grants (the admin may have narrowed them).
    grantable: tuple[str, ...] = (ACS_SCOPE, *AGS_SCOPES)
    #: Statuses to answer the next ACS calls with, before behaving normally.
    acs_failures: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    tokens: dict[str, set[str]] = field(default_factory=dict)
    used_jti: set[str] = field(default_factory=set)
    line_items: dict[int, dict[str, Any]] = field(default_factory=dict)
    scores: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def token_url(self) -> str:
        return self.base + "/token"

    @property
    def acs_url(self) -> str:
        return self.base + "/acs"

    @property
    def lineitems_url(self) -> str:
        return self.base + "/lineitems?course=42"

    def calls(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path.split("?")[0] == path]

    # -- the endpoints ----------------------------------------------------------------------

    def answer(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        path = request.path.split("?")[0]
        if path == "/token" and request.method == "POST":
            return self._token(request)
        scopes = self._bearer(request)
        if scopes is None:
            return 401, {}, b'{"error": "invalid_token"}'
        if path == "/acs" and request.method == "POST":
            return self._acs(request, scopes)
        if path == "/lineitems":
            return self._lineitems(request, scopes)
        if path.startswith("/lineitems/") and path.endswith("/scores"):
            return self._score(request, scopes, int(path.split("/")[2]))
        return 404, {}, b"not found"

    def _token(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        form = dict(urllib.parse.parse_qsl(request.body.decode()))
        if form.get("grant_type") != "client_credentials":
            return 400, {}, b'{"error": "unsupported_grant_type"}'
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return 400, {}, b'{"error": "invalid_client"}'
        try:
            keys = jwt.PyJWKSet.from_dict(self.tool_jwks())
            kid = jwt.get_unverified_header(form["client_assertion"])["kid"]
            key = next(k for k in keys.keys if k.key_id == kid)
            claims = jwt.decode(
                form["client_assertion"],
                key.key,
                algorithms=["RS256"],
                audience=self.token_url,
                options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
            )
        except (KeyError, StopIteration, jwt.InvalidTokenError):
            return 401, {}, b'{"error": "invalid_client"}'
        if claims["iss"] != self.client_id or claims["sub"] != self.client_id:
            return 401, {}, b'{"error": "invalid_client"}'
        if claims["jti"] in self.used_jti:
            return 401, {}, b'{"error": "invalid_client", "error_description": "jti reused"}'
        self.used_jti.add(claims["jti"])
        granted = set(form.get("scope", "").split()) & set(self.grantable)
        if not granted:
            return 400, {}, b'{"error": "invalid_scope"}'
        token = secrets.token_urlsafe(16)
        self.tokens[token] = granted
        body = {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": 3600,
            "scope": " ".join(sorted(granted)),
        }
        return 200, {"content-type": "application/json"}, json.dumps(body).encode()

    def _bearer(self, request: Received) -> set[str] | None:
        auth = request.headers.get("authorization", "")
        return self.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None

    def _acs(self, request: Received, scopes: set[str]) -> tuple[int, dict[str, str], bytes]:
        if ACS_SCOPE not in scopes:
            return 403, {}, b'{"error": "insufficient scope"}'
        if self.acs_failures:
            return self.acs_failures.pop(0), {}, b"busy"
        if self.json_only and request.headers.get("content-type") != "application/json":
            return 415, {}, b'{"detail": "Unsupported media type"}'
        body = request.json()
        for name in ("user", "resource_link", "attempt_number", "action"):
            if name not in body:
                return 400, {}, json.dumps({"detail": f"missing {name}"}).encode()
        if body["action"] == "terminate":
            for name in ("reason_code", "incident_time", "incident_severity"):
                if name not in body:
                    return 400, {}, json.dumps({"detail": f"missing {name}"}).encode()
        elif body["action"] != "flag":
            return 400, {}, b'{"detail": "unsupported action"}'
        return 200, {"content-type": "application/json"}, b'{"status": "terminated"}'

    def _lineitems(self, request: Received, scopes: set[str]) -> tuple[int, dict[str, str], bytes]:
        if AGS_SCOPES[0] not in scopes:
            return 403, {}, b"lineitem scope needed"
        if request.method == "GET":
            items = list(self.line_items.values())
            return 200, {"content-type": "application/json"}, json.dumps(items).encode()
        number = len(self.line_items) + 1
        item = {**request.json(), "id": f"{self.base}/lineitems/{number}?course=42"}
        self.line_items[number] = item
        return 201, {"content-type": "application/json"}, json.dumps(item).encode()

    def _score(
        self, request: Received, scopes: set[str], number: int
    ) -> tuple[int, dict[str, str], bytes]:
        if AGS_SCOPES[1] not in scopes or number not in self.line_items:
            return 403 if number in self.line_items else 404, {}, b"no"
        if request.headers.get("content-type") != "application/vnd.ims.lis.v1.score+json":
            return 415, {}, b"score media type needed"
        score = request.json()
        earlier = self.scores.setdefault(number, [])
        if earlier and score["timestamp"] <= earlier[-1]["timestamp"]:
            return 400, {}, b"score timestamp must increase"
        earlier.append(score)
        return 200, {}, b""


@contextmanager
def serve(services: PlatformServices) -> Iterator[PlatformServices]:
    """The services on a loopback HTTP server (their ``base`` set to its address)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            request = Received(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            services.received.append(request)
            status, headers, body = services.answer(request)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _handle

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    services.base = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield services
    finally:
        server.shutdown()
        server.server_close()
