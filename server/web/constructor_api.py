"""Constructor Proctor's simple-integration HTTP API, with its paths and its authorization
(``Authorization: JWT <HS256 token whose payload is just exp>``, signed with the integration
secret): create or update an exam, finish a session, a session's status, and the browser's
start form. docs/constructor-migration.md lists what carries over; our own /api/v1 is
unchanged."""

from __future__ import annotations

import logging
import time

import jwt
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import constructor
from ..errors import Invalid, NotFound, OpenproctorError, Unauthorized
from ..lti.routes import exam_url_problem
from ..security import claims, validation
from ..security.tokens import LEEWAY_SECONDS, check_lifetime, decode_with_any
from ..services import Services
from ..storage.rows import Integration, SessionRow
from .http import check_origin, read_form, read_json, services, status_of
from .pages import page

log = logging.getLogger("openproctor.server.web.constructor_api")

#: The longest an API token may be valid for (Constructor's guide: now + 30 s).
MAX_TOKEN_SECONDS = 300
BASE = "/api/v2/integration/simple/{integration}"
MAX_FORM_BYTES = 16 * 1024


async def _integration(request: Request, state: Services) -> Integration:
    name = request.path_params["integration"]
    validation.check(name, "integration", 100)
    found = await run_in_threadpool(state.store.integrations.get, name)
    if found is None:
        raise NotFound("unknown_integration", f"no integration named {name!r}")
    return found


def check_api_token(state: Services, integration: Integration, header: str) -> None:
    """``Authorization: JWT <token>``: HS256 with the integration's secret (or the previous one
    during a rotation), ``exp`` required and at most five minutes ahead."""
    scheme, _, token = header.partition(" ")
    if scheme.upper() != "JWT" or not token.strip():
        raise Unauthorized(
            "missing_token", "send 'Authorization: JWT <token>' (HS256, payload {\"exp\": ...})"
        )
    token = token.strip()
    try:
        alg = jwt.get_unverified_header(token).get("alg")
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("invalid_credential", f"the token is not a JWT: {exc}") from None
    if alg != "HS256":
        raise Unauthorized("wrong_algorithm", f"the token must be HS256, got alg {alg!r}")
    secrets = [state.keyring.decrypt(s) for s in integration.secrets_enc(time.time())]
    try:
        payload = decode_with_any(
            token,
            secrets,
            algorithms=["HS256"],
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("jwt_expired", "the token has expired (claim 'exp')") from None
    except jwt.InvalidSignatureError:
        raise Unauthorized(
            "bad_signature", "the token's signature does not match the integration's secret"
        ) from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("invalid_credential", f"the token is invalid: {exc}") from None
    check_lifetime(payload["exp"], MAX_TOKEN_SECONDS, "token")


async def _authorized(request: Request) -> tuple[Services, Integration]:
    state = services(request)
    integration = await _integration(request, state)
    check_api_token(state, integration, request.headers.get("authorization", ""))
    check_origin(request, integration.allowed_origins, state.settings.public_origin)
    return state, integration


async def _session(request: Request, state: Services, integration: Integration) -> SessionRow:
    """The session by the LMS's own id (Constructor's ``sessionId``)."""
    wanted = request.path_params["session_id"]
    validation.check(wanted, "session_id", 230)
    row = await run_in_threadpool(state.store.sessions.find, integration.id, wanted)
    if row is None:
        raise NotFound("unknown_session", f"no session {wanted!r} for this integration")
    return row


async def save_exam(request: Request) -> JSONResponse:
    state, integration = await _authorized(request)
    body = await read_json(request, state.settings.limits.max_start_body_bytes)
    if not isinstance(body, dict):
        raise Invalid("invalid_body", "the body must be a JSON object")
    result = await run_in_threadpool(
        constructor.save_exam, state.store, state.policies, integration, body
    )
    return JSONResponse(result)


async def finish(request: Request) -> JSONResponse:
    state, integration = await _authorized(request)
    row = await _session(request, state, integration)
    if int(request.headers.get("content-length") or 0):
        body = await read_json(request, state.settings.limits.max_start_body_bytes)
        if not isinstance(body, dict):
            raise Invalid("invalid_body", "the body must be a JSON object")
        # Accepted as documented; the student never left the LMS's page, so nobody is sent on.
        claims.url()("sessionFinishUrl", body.get("sessionFinishUrl"))
    if constructor.status(row) == "finished":
        return JSONResponse({"message": "not_changed"})
    await run_in_threadpool(state.ingest.finish, row.id)
    return JSONResponse({"message": "finished"})


async def session_status(request: Request) -> JSONResponse:
    state, integration = await _authorized(request)
    row = await _session(request, state, integration)
    return JSONResponse(
        {
            "accountId": str(row.user.get("accountId", "")),
            "sessionId": row.external_id,
            "status": constructor.status(row),
            "sessionStart": constructor.iso(row.started_at),
            "sessionEnd": constructor.iso(row.finished_at),
        }
    )


async def start_form(request: Request) -> Response:
    """The browser posts ``token=<JWT>``: the session starts (or resumes) and the browser goes
    on to the token's ``sessionUrl`` with the session token in the fragment, where the
    script tag (data-session-mode="lms") picks it up. Refusals are a page, not JSON."""
    state = services(request)
    try:
        integration = await _integration(request, state)
        check_origin(request, integration.allowed_origins, state.settings.public_origin)
        form = await read_form(request, MAX_FORM_BYTES, max_fields=10)
        token = form.get("token")
        if not isinstance(token, str) or not token:
            raise Invalid("missing_field", "post the start token as the form field 'token'")
        now = time.time()
        claims_ = await run_in_threadpool(state.sessions.decode, integration, token, now)
        url = str(claims_.user.get("sessionUrl") or "")
        if not url:
            raise Invalid(
                "no_session_url",
                "the start token has no sessionUrl: the exam page to open with proctoring",
                claim="sessionUrl",
            )
        problem = exam_url_problem(url.split("#")[0], set(integration.allowed_origins))
        if problem:  # the page receives the session token, which yields the signing key
            raise Invalid(
                "session_url_not_allowed", f"the sessionUrl {problem}", claim="sessionUrl"
            )
        grant = await run_in_threadpool(state.sessions.start_validated, integration, claims_, now)
    except OpenproctorError as exc:
        log.warning("start form refused: %s: %s", exc.code, exc.message)
        return page(
            "lti_error.html",
            status=status_of(exc),
            error=exc,
            heading="The proctored exam could not be started",
        )
    # The page's own fragment stays (single-page apps route by it); the loader removes ours.
    joiner = "&" if "#" in url else "#"
    return RedirectResponse(url + joiner + "openproctor_token=" + grant["token"], 303)


routes = [
    Route(BASE + "/exams/", save_exam, methods=["POST"]),
    Route(BASE + "/sessions/{session_id}/finish/", finish, methods=["POST"]),
    Route(BASE + "/sessions/{session_id}/status/", session_status, methods=["GET"]),
    Route("/integration/simple/{integration}/start/", start_form, methods=["POST"]),
]
