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
def serve(services: Any) -> Iterator[Any]:
    """``services`` (anything with ``answer``, ``received`` and ``base``) on a loopback HTTP
    server, its ``base`` set to the server's address."""

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


# -- a platform's side of LTI Dynamic Registration ----------------------------------------------

MOODLE_SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
    "openid",
]


@dataclass
class RegisteringPlatform:
    """Moodle's, Canvas's or a proctoring platform's registration endpoints, as
    ../shared/LTI-NOTES.md (section 3) describes them: Moodle lists messages as strings, sends a
    single-use token, answers plain-text errors and returns a deployment id; Canvas wants the
    token on the configuration's fetch too, lists messages as objects, refuses scopes and
    messages it does not know (422), has an issuer unlike its host, and may narrow scopes."""

    flavour: str  # moodle | canvas | proctoring
    issuer: str
    jwks_uri: str
    client_id: str = "dyn-client-1"
    deployment_id: str | None = "7"
    token: str = "registration-token-1"
    #: Canvas: the scopes the admin unticked.
    narrowed: tuple[str, ...] = ()
    #: Where its OIDC authorisation is (the launching platform's), else on this server.
    authorization_endpoint: str = ""
    base: str = ""
    used_tokens: set[str] = field(default_factory=set)
    registrations: list[dict[str, Any]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    @property
    def configuration_url(self) -> str:
        return self.base + "/openid-configuration"

    def configuration(self) -> dict[str, Any]:
        config_key = "https://purl.imsglobal.org/spec/lti-platform-configuration"
        if self.flavour == "moodle":
            messages: list[Any] = ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]
            scopes = MOODLE_SCOPES
            config_key += " "  # an older Moodle's trailing space
        elif self.flavour == "canvas":
            messages = [
                {"type": "LtiResourceLinkRequest", "placements": ["course_navigation"]},
                {"type": "LtiDeepLinkingRequest", "placements": ["assignment_selection"]},
            ]
            scopes = MOODLE_SCOPES[:4]
        else:
            messages = [
                {"type": t}
                for t in ("LtiResourceLinkRequest", "LtiStartProctoring", "LtiEndAssessment")
            ]
            scopes = [ACS_SCOPE]
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.authorization_endpoint or self.base + "/auth",
            "token_endpoint": self.base + "/token",
            "jwks_uri": self.jwks_uri,
            "registration_endpoint": self.base + "/register",
            "scopes_supported": scopes,
            "response_types_supported": ["id_token"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
            config_key: {
                "product_family_code": self.flavour,
                "version": "4.3",
                "messages_supported": messages,
            },
        }

    def answer(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        path = request.path.split("?")[0]
        auth = request.headers.get("authorization", "")
        plain = {"content-type": "text/plain"}
        if path == "/admin" and request.method == "GET":
            # The LMS's own admin page, which opens the tool's registration URL in an iframe
            # (as Canvas does) and waits for the tool's close message.
            target = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.path).query))
            html = (
                "<!doctype html><title>LMS admin</title><script>window.received = [];"
                "addEventListener('message', e => received.push(e.data));</script>"
                f'<iframe id="tool" src="{target["open"]}"></iframe>'
            )
            return 200, {"content-type": "text/html"}, html.encode()
        if path == "/openid-configuration" and request.method == "GET":
            if self.flavour == "canvas" and auth != f"Bearer {self.token}":
                return 401, plain, b"unauthorized"
            return (
                200,
                {"content-type": "application/json"},
                json.dumps(self.configuration()).encode(),
            )
        if path != "/register" or request.method != "POST":
            return 404, plain, b"not found"
        if not auth.startswith("Bearer "):
            return 401, plain, b"missing_registration_token"
        if auth[7:] in self.used_tokens:
            return 401, plain, b"token_already_used"
        if auth[7:] != self.token:
            return 401, plain, b"invalid token"
        body = request.json()
        problem = self._problem(body)
        if problem is not None:
            return (422 if self.flavour == "canvas" else 400), plain, problem.encode()
        if self.flavour == "moodle":
            self.used_tokens.add(auth[7:])
        self.registrations.append(body)
        answer = {**body, "client_id": self.client_id}
        tool = dict(body["https://purl.imsglobal.org/spec/lti-tool-configuration"])
        if self.deployment_id is not None:
            tool["deployment_id"] = self.deployment_id
        answer["https://purl.imsglobal.org/spec/lti-tool-configuration"] = tool
        if self.flavour == "moodle":
            answer["application_type"] = ["web"]
        if self.narrowed:
            answer["scope"] = " ".join(s for s in body["scope"].split() if s not in self.narrowed)
        return 200, {"content-type": "application/json"}, json.dumps(answer).encode()

    def _problem(self, body: dict[str, Any]) -> str | None:
        tool = body.get("https://purl.imsglobal.org/spec/lti-tool-configuration") or {}
        for name in ("initiate_login_uri", "client_name", "jwks_uri"):
            if not body.get(name):
                return f"missing required attribute {name}"
        if "id_token" not in body.get("response_types", []):
            return "invalid_response_types"
        if not isinstance(body.get("redirect_uris"), list):
            return "invalid_redirect_uris"
        if body.get("token_endpoint_auth_method") != "private_key_jwt":
            return "invalid_token_endpoint_auth_method"
        if body.get("application_type", "web") != "web":
            return "invalid_application_type"
        if not tool.get("domain") or not tool.get("target_link_uri"):
            return "missing required attribute domain or target_link_uri"
        if self.flavour == "canvas":
            if not {"client_credentials", "implicit"} <= set(body.get("grant_types", [])):
                return '{"errors": "grant_types"}'
            known = set(self.configuration()["scopes_supported"])
            unknown = [s for s in body.get("scope", "").split() if s not in known]
            if unknown:
                return json.dumps({"errors": {"scope": unknown}})
            kinds = {m.get("type") for m in tool.get("messages", [])}
            if kinds - {"LtiResourceLinkRequest", "LtiDeepLinkingRequest"}:
                return json.dumps({"errors": {"messages": sorted(kinds)}})
        return None
