""" "Never a 500", enforced: every route of the app, driven with valid credentials and hostile
input in each of its slots (path, query, form and JSON fields, headers, JWT claims), on SQLite
and PostgreSQL. Any 5xx fails the test, except a deliberate 503 (the database is busy).

The table of drivers must cover every route the app serves: a new route without a driver here
fails ``test_every_route_has_a_driver``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

import jwt
import pytest
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from openproctor.server import create_app
from openproctor.server.lti.dynamic_registration import new_link
from openproctor.server.reviewers import ReviewerStore

from ...lti_platform import INSTRUCTOR, LEARNER, LaunchSpec, Platform, serve_jwks
from .conftest import (
    LMS_ORIGIN,
    PASSWORD,
    SECRET,
    StudentClient,
    csrf_of,
    register_platform,
    start_jwt,
)

TEXT = [
    "\ud800",  # a lone surrogate (arrives through JSON's \\ud800 escape)
    "a\x00b",
    "x" * 3000,
    "\r\nSet-Cookie: forged=1",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "%00%ff%2e%2e",
    "9" * 30,  # an integer no column holds
    "",
    "\U0001f600" * 300,
]
JSON_TYPES: list[Any] = [0, -1, 1e308, True, None, [], {}, [1, 2], {"a": {"b": []}}]
DELIBERATE_503 = {"database_unavailable", "busy", "writer_failed"}


def _jwt(claims: dict[str, Any], key: Any, alg: str = "HS256", **header: Any) -> str:
    """A signed JWT whatever its claims and header hold (pyjwt refuses to make hostile ones)."""

    def part(value: Any) -> str:
        text = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(text).rstrip(b"=").decode()

    signing = f"{part({'alg': alg, 'typ': 'JWT', **header})}.{part(claims)}"
    algorithm = jwt.get_algorithm_by_name(alg)
    signature = algorithm.sign(signing.encode(), algorithm.prepare_key(key))
    return signing + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def _raw(value: str) -> str:
    """Percent-encoded bytes of ``value``, lone surrogates included (as invalid UTF-8)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _form(fields: dict[str, Any]) -> bytes:
    parts = []
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            parts.append(f"{_raw(name)}={_raw(str(item))}")
    return "&".join(parts).encode()


@dataclass
class World:
    client: TestClient  # https, signed in as an institution admin
    student: StudentClient
    finished: StudentClient
    platform: Platform
    registration_id: int

    FORM: ClassVar[dict[str, str]] = {"content-type": "application/x-www-form-urlencoded"}

    def csrf(self, path: str = "/dashboard") -> str:
        return csrf_of(self.client.get(path).text)

    def credential(self, **claims: Any) -> str:
        now = int(time.time())
        return _jwt({"iss": "lms1", "iat": now, "exp": now + 60, **claims}, SECRET)

    def post_form(self, path: str, fields: dict[str, Any], **kw: Any):
        return self.client.post(path, content=_form(fields), headers=self.FORM, **kw)

    def post_json(self, path: str, body: Any, headers: dict[str, str] | None = None):
        return self.client.post(
            path,
            content=json.dumps(body).encode(),
            headers={"content-type": "application/json", **(headers or {})},
        )

    def lti_form(self, spec: LaunchSpec) -> dict[str, str]:
        """A real login for ``spec``: the form the platform would post to /lti/launch."""
        response = self.client.get(self.platform.login_url(spec), follow_redirects=False)
        return dict(self.platform.authorize(response.headers["location"]))


Driver = Callable[[World, Any], Iterator[Any]]
DRIVERS: dict[tuple[str, str], Driver] = {}


def drives(method: str, path: str) -> Callable[[Driver], Driver]:
    def register(fn: Driver) -> Driver:
        DRIVERS[(method, path)] = fn
        return fn

    return register


def _get_with_query(path: str) -> Driver:
    def drive(w: World, v: Any) -> Iterator[Any]:
        yield w.client.get(f"{path}?x={_raw(str(v))}")

    return drive


for _path in (
    "/api/v1/openapi.json",
    "/healthz",
    "/lti/jwks",
    "/lti/config.json",
    "/metrics",
    "/dashboard/login",
    "/dashboard/policies/new",
    "/dashboard/webhooks",
    "/dashboard/lti",
    "/dashboard/settings",
    "/demo",
):
    drives("GET", _path)(_get_with_query(_path))


# -- the API ----------------------------------------------------------------------------------

START_CLAIMS = (
    "userId",
    "examId",
    "examName",
    "sessionId",
    "accountId",
    "accountName",
    "startDate",
    "endDate",
    "duration",
    "schedule",
    "proctoring",
    "language",
    "email",
    "sessionUrl",
    "userAgreementUrl",
    "firstName",
    "identification",
    "allowMultipleDisplays",
    "exp",
    "iat",
    "nbf",
    "courseName",
    "rules",
    "scoreConfig",
    "biometricIdentification",
    "desktopAppAllowedProcesses",
)


@drives("POST", "/api/v1/sessions")
def _start(w: World, v: Any) -> Iterator[Any]:
    yield w.post_json("/api/v1/sessions", v)
    yield w.post_json("/api/v1/sessions", {"integrationName": v, "jwt": start_jwt("f-1")})
    yield w.post_json("/api/v1/sessions", {"integrationName": "lms1", "jwt": v})
    valid = jwt.decode(start_jwt("f-2"), options={"verify_signature": False})
    for claim in START_CLAIMS:
        token = _jwt({**valid, claim: v}, SECRET)
        yield w.post_json("/api/v1/sessions", {"integrationName": "lms1", "jwt": token})
    for header in ({"kid": v}, {"crit": v}, {"typ": v}, {"b64": v}):
        token = _jwt(valid, SECRET, **header)
        yield w.post_json("/api/v1/sessions", {"integrationName": "lms1", "jwt": token})


@drives("GET", "/api/v1/sessions/{session_id}")
def _status(w: World, v: Any) -> Iterator[Any]:
    auth = {"authorization": f"Bearer {w.credential()}"}
    yield w.client.get(f"/api/v1/sessions/{_raw(str(v))}", headers=auth)
    for claim in ("iss", "exp", "iat"):
        token = w.credential(**{claim: v})
        yield w.client.get(
            f"/api/v1/sessions/{w.student.session_id}", headers={"authorization": f"Bearer {token}"}
        )
    bad = ("Bearer " + str(v)).encode("utf-8", "surrogatepass")
    yield w.client.get(f"/api/v1/sessions/{w.student.session_id}", headers={"authorization": bad})


@drives("GET", "/api/v1/users/{user_id}")
def _person(w: World, v: Any) -> Iterator[Any]:
    auth = {"authorization": f"Bearer {w.credential()}"}
    yield w.client.get(f"/api/v1/users/{_raw(str(v)) or 'x'}", headers=auth)
    token = w.credential(iss=v)
    yield w.client.get("/api/v1/users/student-1", headers={"authorization": f"Bearer {token}"})


@drives("DELETE", "/api/v1/users/{user_id}")
def _erase_person(w: World, v: Any) -> Iterator[Any]:
    auth = {"authorization": f"Bearer {w.credential()}"}
    yield w.client.delete(f"/api/v1/users/fuzz-{_raw(str(v)) or 'x'}", headers=auth)
    bad = ("Bearer " + str(v)).encode("utf-8", "surrogatepass")
    yield w.client.delete("/api/v1/users/student-1", headers={"authorization": bad})


@drives("POST", "/api/v1/sessions/{session_id}/events")
def _events(w: World, v: Any) -> Iterator[Any]:
    path = f"/api/v1/sessions/{w.student.session_id}/events"
    yield w.post_json(path, {"events": v}, w.student.auth)
    yield w.post_json(path, v, w.student.auth)
    event = w.student.sign("heartbeat", {}, dt=0).to_dict()
    w.student.t -= 0
    for field in ("seq", "t", "type", "data", "prev", "mac"):
        yield w.post_json(path, {"events": [{**event, field: v}]}, w.student.auth)
    yield w.post_json(f"/api/v1/sessions/{_raw(str(v))}/events", {"events": []}, w.student.auth)


@drives("POST", "/api/v1/sessions/{session_id}/finish")
def _finish(w: World, v: Any) -> Iterator[Any]:
    yield w.client.post(f"/api/v1/sessions/{_raw(str(v))}/finish", headers=w.finished.auth)
    bad = ("Bearer " + str(v)).encode("utf-8", "surrogatepass")
    yield w.client.post(
        f"/api/v1/sessions/{w.finished.session_id}/finish", headers={"authorization": bad}
    )
    token = w.credential(iss=v)
    yield w.client.post(
        f"/api/v1/sessions/{w.finished.session_id}/finish",
        headers={"authorization": f"Bearer {token}"},
    )


@drives("POST", "/api/v1/sessions/{session_id}/resume")
def _resume(w: World, v: Any) -> Iterator[Any]:
    path = f"/api/v1/sessions/{w.student.session_id}/resume"
    yield w.post_json(path, {"institutionKey": v}, w.student.auth)
    yield w.post_json(path, v, w.student.auth)
    yield w.post_json(f"/api/v1/sessions/{_raw(str(v))}/resume", {}, w.student.auth)


@drives("POST", "/api/v1/sessions/{session_id}/access-code")
def _access_code(w: World, v: Any) -> Iterator[Any]:
    yield w.post_json(f"/api/v1/sessions/{w.student.session_id}/access-code", v, w.student.auth)
    yield w.post_json(f"/api/v1/sessions/{_raw(str(v))}/access-code", {}, w.student.auth)


@drives("GET", "/sdk/v1/{path:path}")
def _sdk(w: World, v: Any) -> Iterator[Any]:
    yield w.client.get(f"/sdk/v1/{_raw(str(v))}")
    yield w.client.get(
        "/sdk/v1/loader.js", headers={"accept-encoding": str(v).encode("utf-8", "surrogatepass")}
    )
    yield w.client.get(
        "/sdk/v1/loader.js", headers={"if-none-match": str(v).encode("utf-8", "surrogatepass")}
    )


# -- Constructor's simple integration ---------------------------------------------------------

SIMPLE = "/api/v2/integration/simple"


def _simple_auth(v: Any) -> Iterator[dict[str, Any]]:
    """A valid Constructor header, then hostile ones."""
    token = _jwt({"exp": int(time.time()) + 30}, SECRET)
    yield {"authorization": f"JWT {token}"}
    yield {"authorization": ("JWT " + str(v)).encode("utf-8", "surrogatepass")}
    yield {"authorization": f"JWT {_jwt({'exp': v}, SECRET)}"}


@drives("POST", SIMPLE + "/{integration}/exams/")
def _simple_exams(w: World, v: Any) -> Iterator[Any]:
    body = {"accountId": 1, "accountName": "A", "examId": "fz-exam", "examName": "E"}
    for headers in _simple_auth(v):
        yield w.post_json(f"{SIMPLE}/lms1/exams/", body, headers)
    (good, *_) = _simple_auth(v)
    yield w.post_json(f"{SIMPLE}/{_raw(str(v))}/exams/", body, good)
    yield w.post_json(f"{SIMPLE}/lms1/exams/", v, good)
    for field in ("examId", "rules", "scoreConfig", "startDate"):
        yield w.post_json(f"{SIMPLE}/lms1/exams/", {**body, field: v}, good)


@drives("POST", SIMPLE + "/{integration}/sessions/{session_id}/finish/")
def _simple_finish(w: World, v: Any) -> Iterator[Any]:
    for headers in _simple_auth(v):
        yield w.post_json(f"{SIMPLE}/lms1/sessions/fz-2/finish/", {}, headers)
    (good, *_) = _simple_auth(v)
    yield w.post_json(f"{SIMPLE}/lms1/sessions/{_raw(str(v))}/finish/", {}, good)
    yield w.post_json(f"{SIMPLE}/lms1/sessions/fz-2/finish/", {"sessionFinishUrl": v}, good)
    yield w.post_json(f"{SIMPLE}/lms1/sessions/fz-2/finish/", v, good)


@drives("GET", SIMPLE + "/{integration}/sessions/{session_id}/status/")
def _simple_status(w: World, v: Any) -> Iterator[Any]:
    for headers in _simple_auth(v):
        yield w.client.get(f"{SIMPLE}/lms1/sessions/fz-1/status/", headers=headers)
    (good, *_) = _simple_auth(v)
    yield w.client.get(f"{SIMPLE}/{_raw(str(v))}/sessions/{_raw(str(v))}/status/", headers=good)


@drives("POST", "/integration/simple/{integration}/start/")
def _simple_start(w: World, v: Any) -> Iterator[Any]:
    path = "/integration/simple/lms1/start/"
    yield w.post_form(path, {"token": str(v)}, follow_redirects=False)
    yield w.post_form(f"/integration/simple/{_raw(str(v))}/start/", {"token": "x"})
    valid = jwt.decode(start_jwt("fz-start"), options={"verify_signature": False})
    for claim in ("sessionUrl", "rules"):
        token = _jwt({**valid, claim: v}, SECRET)
        yield w.post_form(path, {"token": token}, follow_redirects=False)


# -- LTI --------------------------------------------------------------------------------------

LOGIN_PARAMS = (
    "iss",
    "login_hint",
    "target_link_uri",
    "client_id",
    "lti_deployment_id",
    "lti_message_hint",
)


def _login_params(w: World) -> dict[str, str]:
    spec = LaunchSpec(user="fuzz", roles=[LEARNER])
    url = w.platform.login_url(spec)
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(url).query))


@drives("GET", "/lti/login")
def _login_get(w: World, v: Any) -> Iterator[Any]:
    params = _login_params(w)
    for name in LOGIN_PARAMS:
        query = "&".join(f"{k}={_raw(x)}" for k, x in {**params, name: str(v)}.items())
        yield w.client.get(f"/lti/login?{query}", follow_redirects=False)


@drives("POST", "/lti/login")
def _login_post(w: World, v: Any) -> Iterator[Any]:
    params = _login_params(w)
    for name in LOGIN_PARAMS:
        yield w.post_form("/lti/login", {**params, name: str(v)}, follow_redirects=False)


@drives("GET", "/lti/login/{registration_id:id}")
def _registration_login_get(w: World, v: Any) -> Iterator[Any]:
    params = _login_params(w)
    for name in LOGIN_PARAMS:
        query = "&".join(f"{k}={_raw(x)}" for k, x in {**params, name: str(v)}.items())
        yield w.client.get(f"/lti/login/{w.registration_id}?{query}", follow_redirects=False)
    number = str(v) if str(v).isdigit() else "1"
    yield w.client.get(f"/lti/login/{number}?iss=x&login_hint=y&target_link_uri=z")


@drives("POST", "/lti/login/{registration_id:id}")
def _registration_login_post(w: World, v: Any) -> Iterator[Any]:
    params = _login_params(w)
    for name in LOGIN_PARAMS:
        yield w.post_form(
            f"/lti/login/{w.registration_id}", {**params, name: str(v)}, follow_redirects=False
        )


LAUNCH_CLAIMS = (
    "sub",
    "name",
    "given_name",
    "email",
    "https://purl.imsglobal.org/spec/lti/claim/roles",
    "https://purl.imsglobal.org/spec/lti/claim/deployment_id",
    "https://purl.imsglobal.org/spec/lti/claim/resource_link",
    "https://purl.imsglobal.org/spec/lti/claim/context",
    "https://purl.imsglobal.org/spec/lti/claim/custom",
    "https://purl.imsglobal.org/spec/lti/claim/target_link_uri",
    "https://purl.imsglobal.org/spec/lti-ap/claim/attempt_number",
)


@drives("POST", "/lti/launch")
def _launch(w: World, v: Any) -> Iterator[Any]:
    yield w.post_form("/lti/launch", {"state": str(v), "id_token": str(v)}, follow_redirects=False)
    yield w.post_form("/lti/launch", {"error": str(v), "error_description": str(v)})
    for claim in LAUNCH_CLAIMS:
        form = w.lti_form(LaunchSpec(user="fuzz-" + claim[-6:], roles=[LEARNER]))
        claims = jwt.decode(form["id_token"], options={"verify_signature": False})
        claims[claim] = v
        form["id_token"] = jwt.encode(
            claims,
            w.platform.registration.get_platform_private_key(),
            algorithm="RS256",
            headers={"kid": w.platform.registration.kid},
        )
        yield w.post_form("/lti/launch", form, follow_redirects=False)
    for custom in ({"exam_id": v}, {"duration": v}, {"exam_url": v}, {"trust_threshold": v}):
        spec = LaunchSpec(
            user="fuzz-custom", roles=[LEARNER], custom={k: str(x) for k, x in custom.items()}
        )
        yield w.post_form("/lti/launch", w.lti_form(spec), follow_redirects=False)


def _deep_link_context(w: World) -> str:
    form = w.lti_form(LaunchSpec(user="fuzz-dl", roles=[INSTRUCTOR], kind="deep_linking"))
    page = w.post_form("/lti/launch", form)
    return page.text.split('name="context" value="', 1)[1].split('"', 1)[0]


DL_FIELDS = (
    "exam_id",
    "title",
    "trust_threshold",
    "log_retention_days",
    "duration",
    "exam_url",
    "existing",
    "flags_enabled",
    "allow_mobile",
)


@drives("POST", "/lti/deep-linking")
def _deep_linking(w: World, v: Any) -> Iterator[Any]:
    yield w.post_form("/lti/deep-linking", {"context": str(v)})
    base = {"exam_id": "FUZZ-1", "title": "t", "trust_threshold": "0.5", "duration": "60"}
    for name in DL_FIELDS:
        yield w.post_form(
            "/lti/deep-linking", {"context": _deep_link_context(w), **base, name: str(v)}
        )


# -- the dashboard (signed in as an administrator) --------------------------------------------


def _dashboard_page(path_of: Callable[[World, str], str], query: tuple[str, ...] = ()) -> Driver:
    def drive(w: World, v: Any) -> Iterator[Any]:
        yield w.client.get(path_of(w, _raw(str(v))))
        for name in query:
            yield w.client.get(f"{path_of(w, '')}?{name}={_raw(str(v))}".replace("/?", "?"))

    return drive


drives("GET", "/dashboard")(
    _dashboard_page(
        lambda w, v: f"/dashboard?exam={v}", ("status", "flagged", "since", "until", "exam")
    )
)
drives("GET", "/dashboard/sessions/{session_id}")(
    _dashboard_page(lambda w, v: f"/dashboard/sessions/{v or w.student.session_id}", ("from",))
)
drives("GET", "/dashboard/policies")(_dashboard_page(lambda w, v: f"/dashboard/policies?x={v}"))
drives("GET", "/dashboard/policies/{exam_id}")(
    _dashboard_page(lambda w, v: f"/dashboard/policies/{v or 'CS101-final'}", ("done",))
)
drives("GET", "/dashboard/reports")(
    _dashboard_page(lambda w, v: f"/dashboard/reports?exam={v}", ("error",))
)
drives("GET", "/dashboard/reports.csv")(
    _dashboard_page(lambda w, v: f"/dashboard/reports.csv?exam={v}")
)
drives("GET", "/dashboard/audit")(
    _dashboard_page(lambda w, v: f"/dashboard/audit?action={v}&before={v}")
)
drives("GET", "/dashboard/audit.csv")(_dashboard_page(lambda w, v: f"/dashboard/audit.csv?x={v}"))
drives("GET", "/dashboard/people")(_dashboard_page(lambda w, v: f"/dashboard/people?user={v}"))
drives("GET", "/dashboard/people/export")(
    _dashboard_page(lambda w, v: f"/dashboard/people/export?user={v}")
)
drives("GET", "/dashboard/whatif")(_dashboard_page(lambda w, v: f"/dashboard/whatif?exam={v}"))
drives("GET", "/dashboard/fairness")(_dashboard_page(lambda w, v: f"/dashboard/fairness?exam={v}"))
drives("GET", "/dashboard/fairness.csv")(
    _dashboard_page(lambda w, v: f"/dashboard/fairness.csv?exam={v}")
)


def _dashboard_form(path_of: Callable[[World, str], str], fields: dict[str, Any]) -> Driver:
    def drive(w: World, v: Any) -> Iterator[Any]:
        csrf = w.csrf()
        yield w.post_form(
            path_of(w, _raw(str(v))), {"csrf": csrf, **fields}, follow_redirects=False
        )
        for name in [*fields, "csrf"]:
            values = {"csrf": csrf, **fields, name: str(v)}
            yield w.post_form(path_of(w, ""), values, follow_redirects=False)

    return drive


POLICY_FORM = {
    "exam_id": "FUZZ-2",
    "trust_threshold": "0.5",
    "log_retention_days": "30",
    "heartbeat_seconds": "15",
    "flags_enabled": ["tab_switch"],
    "allow_mobile": "true",
    "accommodations": "cand-1: focus_loss  # note",
    "weights.tab_switch": "2",
}

drives("POST", "/dashboard/sessions/{session_id}/decisions")(
    _dashboard_form(
        lambda w, v: f"/dashboard/sessions/{v or w.student.session_id}/decisions",
        {"outcome": "cleared", "comment": "ok"},
    )
)
drives("POST", "/dashboard/sessions/{session_id}/reveal")(
    _dashboard_form(
        lambda w, v: f"/dashboard/sessions/{v or w.student.session_id}/reveal",
        {"reason": "an appeal"},
    )
)
drives("POST", "/dashboard/settings")(
    _dashboard_form(lambda w, v: "/dashboard/settings", {"visibility": "reveal"})
)
drives("POST", "/dashboard/settings/integrations/{integration}")(
    _dashboard_form(
        lambda w, v: f"/dashboard/settings/integrations/{_raw(str(v)) or 'lms1'}",
        {"review_url": "https://lms.example.edu/review", "strict_claims": "on"},
    )
)
drives("POST", "/dashboard/policies/new")(
    _dashboard_form(lambda w, v: "/dashboard/policies/new", POLICY_FORM)
)
drives("POST", "/dashboard/policies/{exam_id}")(
    _dashboard_form(lambda w, v: f"/dashboard/policies/{v or 'CS101-final'}", POLICY_FORM)
)
drives("POST", "/dashboard/policies/{exam_id}/promote")(
    _dashboard_form(
        lambda w, v: f"/dashboard/policies/{v or 'CS101-final'}/promote", {"version": "2"}
    )
)
drives("POST", "/dashboard/policies/{exam_id}/access-code")(
    _dashboard_form(
        lambda w, v: f"/dashboard/policies/{v or 'CS101-final'}/access-code", {"access_code": "c"}
    )
)
drives("POST", "/dashboard/sessions/{session_id}/incidents")(
    _dashboard_form(
        lambda w, v: f"/dashboard/sessions/{w.finished.session_id}/incidents",
        {"seq": "1", "verdict": "dismissed", "note": "fuzz"},
    )
)
drives("POST", "/dashboard/sessions/{session_id}/claim")(
    _dashboard_form(lambda w, v: f"/dashboard/sessions/{w.finished.session_id}/claim", {})
)
drives("POST", "/dashboard/whatif/adopt")(
    _dashboard_form(lambda w, v: "/dashboard/whatif/adopt", {"exam": "CS101-final", "version": "1"})
)
drives("POST", "/dashboard/people/erase")(
    _dashboard_form(lambda w, v: "/dashboard/people/erase", {"user": "fuzz-nobody"})
)
drives("POST", "/dashboard/reports/apply-threshold")(
    _dashboard_form(lambda w, v: "/dashboard/reports/apply-threshold", {"exam": "CS101-final"})
)
drives("POST", "/dashboard/webhooks")(
    _dashboard_form(
        lambda w, v: "/dashboard/webhooks", {"url": "https://hooks.uni-a.edu/x", "exam": ""}
    )
)
drives("POST", "/dashboard/webhooks/{webhook_id:id}/remove")(
    _dashboard_form(lambda w, v: f"/dashboard/webhooks/{v if v.isdigit() else '1'}/remove", {})
)
drives("POST", "/dashboard/lti")(
    _dashboard_form(
        lambda w, v: "/dashboard/lti",
        {
            "integration": "lms1",
            "issuer": "https://other.example",
            "client_id": "c",
            "deployment_ids": "d",
            "auth_url": "https://other.example/auth",
            "jwks_url": "https://other.example/jwks",
            "public_jwk": "",
            "token_url": "",
            "exam_url": "",
            "policy_override": "true",
        },
    )
)
drives("POST", "/dashboard/lti/registration-url")(
    _dashboard_form(
        lambda w, v: "/dashboard/lti/registration-url",
        {"link_integration": "lms1", "link_exam_url": ""},
    )
)


@drives("GET", "/lti/register/{code}")
def _dynamic_registration(w: World, v: Any) -> Iterator[Any]:
    state = w.client.app.state.openproctor
    integration = state.store.integrations.get("lms1")
    code = new_link(state.store, integration.id, "fuzz")
    # A real answer that is no configuration (the platform's key set): a clear 400.
    config = state.store.lti.get_registration(w.registration_id).jwks_url
    for path, query in (
        (_raw(str(v)), {"openid_configuration": config}),
        (code, {"openid_configuration": str(v)}),
        (code, {"openid_configuration": config, "registration_token": str(v)}),
    ):
        encoded = "&".join(f"{k}={_raw(x)}" for k, x in query.items())
        yield w.client.get(f"/lti/register/{path}?{encoded}")


drives("POST", "/dashboard/lti/{registration_id:id}/remove")(
    _dashboard_form(lambda w, v: f"/dashboard/lti/{v if v.isdigit() else '999'}/remove", {})
)
drives("POST", "/dashboard/logout")(_dashboard_form(lambda w, v: "/dashboard/logout", {}))


@drives("POST", "/dashboard/login")
def _sign_in(w: World, v: Any) -> Iterator[Any]:
    anonymous = TestClient(
        w.client.app, base_url="https://testserver", raise_server_exceptions=False
    )
    with anonymous:
        csrf = csrf_of(anonymous.get("/dashboard/login").text)
        for name in ("username", "password", "csrf"):
            fields = {"csrf": csrf, "username": "ada", "password": "wrong", name: str(v)}
            yield anonymous.post(
                "/dashboard/login",
                content=_form(fields),
                headers=World.FORM,
                follow_redirects=False,
            )


# -- the student's record and the demo --------------------------------------------------------


@drives("GET", "/record/{session_id}")
def _record(w: World, v: Any) -> Iterator[Any]:
    url = w.finished.grant["record_url"]
    yield w.client.get(url.replace(w.finished.session_id, _raw(str(v)) or "x", 1))
    yield w.client.get(url.split("?")[0] + f"?key={_raw(str(v))}")
    yield w.client.get(url + f"&from={_raw(str(v))}")


@drives("GET", "/record/{session_id}/evidence.json")
def _evidence(w: World, v: Any) -> Iterator[Any]:
    url = w.finished.grant["record_url"].replace("?", "/evidence.json?", 1)
    yield w.client.get(url.replace(w.finished.session_id, _raw(str(v)) or "x", 1))
    yield w.client.get(url.split("?")[0] + f"?key={_raw(str(v))}")


@drives("POST", "/record/{session_id}/explanations")
def _explanations(w: World, v: Any) -> Iterator[Any]:
    url = w.finished.grant["record_url"].replace("?", "/explanations?", 1)
    for name in ("seq", "text"):
        fields = {"seq": "1", "text": "a reason", name: str(v)}
        yield w.post_form(url, fields)
    yield w.post_form(url.replace(w.finished.session_id, _raw(str(v)) or "x", 1), {"seq": "1"})
    yield w.client.post(url, content=str(v).encode("utf-8", "surrogatepass"), headers=w.FORM)


@drives("POST", "/demo/lms/start")
def _demo_start(w: World, v: Any) -> Iterator[Any]:
    yield w.client.post(
        f"/demo/lms/start?x={_raw(str(v))}", content=str(v).encode("utf-8", "surrogatepass")
    )


# -- the test ---------------------------------------------------------------------------------


def _routes(app: Any) -> set[tuple[str, str]]:
    def walk(routes: Any, prefix: str) -> Iterator[tuple[str, str]]:
        for route in routes:
            if isinstance(route, Route):
                for method in route.methods or ():
                    if method != "HEAD":
                        yield method, prefix + route.path
            elif isinstance(route, Mount):
                yield from walk(route.routes, prefix + route.path)  # static files: no routes
            else:
                raise AssertionError(f"unknown route kind {route!r}")

    return set(walk(app.routes, ""))


@pytest.fixture
def world(settings, store, integration, accounts, platform, tmp_path) -> Iterator[World]:
    from dataclasses import replace

    app = create_app(replace(settings, demo=True), store=store, migrate=True, purge_every=None)
    with serve_jwks(platform) as (jwks_url, _):
        registration = register_platform(
            store, integration, platform, jwks_url, exam_url=LMS_ORIGIN + "/exam"
        )
        client = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)
        with client:
            grant = client.post(
                "/api/v1/sessions", json={"integrationName": "lms1", "jwt": start_jwt("fz-1")}
            ).json()
            student = StudentClient(client, grant)
            assert student.post([student.opening()]).status_code == 200
            done = StudentClient(
                client,
                client.post(
                    "/api/v1/sessions", json={"integrationName": "lms1", "jwt": start_jwt("fz-2")}
                ).json(),
            )
            assert done.post([done.opening(), done.end()]).status_code == 200
            ReviewerStore(store)  # accounts made ada (admin of uni-a)
            form = client.get("/dashboard/login")
            signed = client.post(
                "/dashboard/login",
                data={"csrf": csrf_of(form.text), "username": "ada", "password": PASSWORD},
                follow_redirects=False,
            )
            assert signed.status_code == 303
            yield World(client, student, done, platform, registration.id)


def test_every_route_has_a_driver(world):
    missing = _routes(world.client.app) - set(DRIVERS)
    assert not missing, f"routes without a fuzz driver: {sorted(missing)}"
    stale = set(DRIVERS) - _routes(world.client.app)
    assert not stale, f"drivers for routes that no longer exist: {sorted(stale)}"


def test_no_route_answers_500_to_hostile_input(world):
    failures = []
    for (method, path), drive in sorted(DRIVERS.items()):
        for value in [*TEXT, *JSON_TYPES]:
            for response in drive(world, value):
                if response.status_code < 500:
                    continue
                code = ""
                if response.headers.get("content-type", "").startswith("application/json"):
                    code = response.json().get("error", {}).get("code", "")
                if response.status_code == 503 and code in DELIBERATE_503:
                    continue
                failures.append((method, path, repr(value)[:40], response.status_code, code))
    assert not failures, "\n".join(map(str, failures[:40]))
