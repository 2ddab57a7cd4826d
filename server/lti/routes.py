"""The LTI 1.3 endpoints: OIDC login initiation, launch, the tool's JWKS, deep linking, and the
1EdTech Proctoring Services messages. Every refusal is an error page naming the problem and a
log line without secrets (never a token)."""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from openproctor.core import FLAG_TYPES, PolicyError, parse_policy, policy_from_lti_custom
from openproctor.core.policy import Policy

from ..access import Reviewer, may_edit_exam
from ..errors import Forbidden, Invalid, NotFound, OpenproctorError, Unauthorized
from ..security import validation
from ..security.keys import same_text
from ..security.tokens import StartClaims
from ..services import Services
from ..storage.rows import Attempt, Integration, Registration
from ..web.dashboard.auth import sign_in
from ..web.http import own_origin, read_form, services, status_of
from ..web.pages import accepted_language, page
from .launch import (
    ACS_ACTIONS,
    AGS_CLAIM,
    AP,
    DL,
    LTI,
    PROCTORING_MESSAGES,
    Launch,
    deep_linking_response,
    start_assessment,
)
from .registration import tool_settings

log = logging.getLogger("openproctor.server.lti")

MAX_FORM_BYTES = 64 * 1024
DEFAULT_DURATION_MINUTES = 180
STATE_COOKIE_PREFIX = "op_lti_"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _cookie_name(state: str) -> str:
    return STATE_COOKIE_PREFIX + hashlib.sha256(state.encode()).hexdigest()[:16]


def _error_page(request: Request, error: OpenproctorError, **context: Any) -> Response:
    log.warning("lti %s refused: %s: %s", request.url.path, error.code, error.message)
    return page(
        "lti_error.html",
        status=status_of(error),
        frame_ancestors=context.pop("frame_ancestors", ()),
        lang=accepted_language(request),
        error=error,
        **context,
    )


async def _params(request: Request) -> dict[str, str]:
    """Query and (for POST) form parameters, bounded in size."""
    params = {k: v for k, v in request.query_params.items()}
    if request.method == "POST":
        form = await read_form(request, MAX_FORM_BYTES, max_fields=100)
        params.update((k, v) for k, v in form.multi_items() if isinstance(v, str))
    return params


# -- OIDC login initiation ----------------------------------------------------------------------


async def login(request: Request) -> Response:
    """OIDC login initiation: ``/lti/login`` finds the registration by issuer (and client id),
    ``/lti/login/{registration_id}`` is one registration's own URL, which another institution
    registering the same issuer cannot make ambiguous (docs/lti.md: shared issuers)."""
    state = services(request)
    try:
        params = await _params(request)
        for name in ("iss", "login_hint", "target_link_uri"):
            if not params.get(name):
                raise Invalid("missing_parameter", f"the login request lacks {name!r}")
        if "registration_id" in request.path_params:
            registration = await run_in_threadpool(
                state.store.lti.get_registration, request.path_params["registration_id"]
            )
            if registration is not None and (
                registration.issuer != params["iss"]
                or params.get("client_id", registration.client_id) != registration.client_id
            ):
                registration = None
        else:
            registration = await run_in_threadpool(
                state.store.lti.find_registration, params["iss"], params.get("client_id")
            )
        if registration is None:
            raise Forbidden(
                "unknown_platform",
                f"no platform with issuer {params['iss']!r}"
                + (f" and client id {params['client_id']!r}" if params.get("client_id") else "")
                + " is registered with this tool",
            )
        deployment = params.get("lti_deployment_id")
        if (
            deployment
            and registration.deployment_ids
            and deployment not in registration.deployment_ids
        ):
            raise Forbidden("unknown_deployment", f"deployment {deployment!r} is not registered")
        launch_url = own_origin(request, state.settings.public_origin) + "/lti/launch"
        if _origin(params["target_link_uri"]) != _origin(launch_url):
            raise Invalid(
                "wrong_target_link_uri",
                "target_link_uri must point to this tool "
                f"({_origin(launch_url)}), got {params['target_link_uri']!r}",
            )
    except OpenproctorError as exc:
        return _error_page(request, exc)
    login_state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    kept = {
        k: params[k]
        for k in (
            "iss",
            "login_hint",
            "target_link_uri",
            "lti_message_hint",
            "client_id",
            "lti_deployment_id",
        )
        if params.get(k)
    }
    await run_in_threadpool(state.store.lti.add_state, login_state, nonce, registration.id, kept)
    query = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": registration.client_id,
        "redirect_uri": launch_url,
        "login_hint": params["login_hint"],
        "state": login_state,
        "nonce": nonce,
    }
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    separator = "&" if "?" in registration.auth_url else "?"
    response = RedirectResponse(registration.auth_url + separator + urlencode(query), 302)
    # Bound to this browser; SameSite=None so it comes back on the platform's cross-site POST.
    response.set_cookie(
        _cookie_name(login_state),
        login_state,
        max_age=600,
        path="/lti/",
        secure=True,
        httponly=True,
        samesite="none",
    )
    return response


# -- launch ---------------------------------------------------------------------------------------


async def launch(request: Request) -> Response:
    state = services(request)
    registration: Registration | None = None
    login_state = ""
    try:
        params = await _params(request)
        if "error" in params:  # the platform's authorisation endpoint refused the login
            raise Invalid(
                "platform_error",
                f"the platform answered {params['error']!r}: {params.get('error_description', '')}",
            )
        login_state, id_token = params.get("state", ""), params.get("id_token", "")
        if not login_state:
            raise Invalid("missing_state", "the launch lacks the 'state' parameter")
        if not id_token:
            raise Invalid("missing_id_token", "the launch lacks the 'id_token' parameter")
        found = await run_in_threadpool(state.store.lti.get_state, login_state)
        if found is None:
            raise Invalid("unknown_state", "this launch's state was not issued by this tool")
        if found["used_at"] is not None:
            raise Invalid("replayed", "this launch was already used (a replayed id_token)")
        if found["expired"]:
            raise Invalid("expired_state", "the login took too long; launch again from the LMS")
        registration = await run_in_threadpool(
            state.store.lti.get_registration, found["registration_id"]
        )
        assert registration is not None
        cookie = request.cookies.get(_cookie_name(login_state))
        if cookie is None:
            return _cookies_blocked(request, found["params"])
        if not same_text(login_state, cookie):
            raise Invalid("wrong_state", "the state does not match this browser's login")
        verified = await run_in_threadpool(state.lti_verify, id_token, registration, found["nonce"])
        claimed_target = verified.claims.get(LTI + "target_link_uri")
        expected_target = found["params"].get("target_link_uri")
        if claimed_target and expected_target and claimed_target != expected_target:
            raise Invalid(
                "wrong_target_link_uri", "target_link_uri differs from the login request's"
            )
        if not await run_in_threadpool(state.store.lti.consume_state, login_state):
            raise Invalid("replayed", "this launch was already used (a replayed id_token)")
        if not registration.deployment_ids:
            verified = await run_in_threadpool(_learn_deployment, state, verified)
        try:
            response = await _dispatch(request, state, verified)
        except OpenproctorError as exc:
            response = _rejected(request, verified, exc) or _error_page(
                request, exc, frame_ancestors=_frame_origins(registration)
            )
    except OpenproctorError as exc:
        response = _error_page(request, exc, frame_ancestors=_frame_origins(registration))
    if login_state and response.status_code != 401:  # the state is spent: drop its cookie
        response.delete_cookie(
            _cookie_name(login_state), path="/lti/", secure=True, httponly=True, samesite="none"
        )
    return response


def _rejected(request: Request, launch: Launch, error: OpenproctorError) -> Response | None:
    """A proctoring message refused after its verification goes back to the platform's
    ``launch_presentation.return_url`` with ``lti_errormsg`` (shown to the candidate) and
    ``lti_errorlog`` (our error code), as Proctoring Services asks; None without one."""
    if launch.message_type not in PROCTORING_MESSAGES:
        return None
    url = launch.return_url
    if url is None:
        return None
    log.warning("lti %s refused: %s: %s", request.url.path, error.code, error.message)
    query = urlencode({"lti_errormsg": error.message, "lti_errorlog": error.code})
    return RedirectResponse(url + ("&" if "?" in url else "?") + query, 303)


def _learn_deployment(state: Services, launch: Launch) -> Launch:
    """The first launch of a dynamically registered platform names its deployment; from then
    on only that one is accepted (docs/lti.md, "Dynamic Registration")."""
    registration = launch.registration
    state.store.lti.add_deployment(registration.id, launch.deployment_id)
    learned = state.store.lti.get_registration(registration.id)
    if learned is None or launch.deployment_id not in learned.deployment_ids:
        raise Forbidden(
            "unknown_deployment", f"deployment {launch.deployment_id!r} is not registered"
        )
    return replace(launch, registration=learned)


def _frame_origins(registration: Registration | None) -> list[str]:
    return [_origin(registration.issuer)] if registration is not None else []


def _cookies_blocked(request: Request, login_params: dict[str, str]) -> Response:
    """The fallback where the browser blocks third-party cookies inside the LMS iframe: the
    same login, started again in a new top-level window, where our cookie is first-party."""
    error = Unauthorized(
        "state_cookie_missing",
        "your browser blocked this tool's cookie inside the LMS page, so the launch cannot be "
        "checked. Open the exam in a new window to continue.",
    )
    return _error_page(request, error, relaunch_url="/lti/login?" + urlencode(login_params))


async def _dispatch(request: Request, state: Services, launch: Launch) -> Response:
    kind = launch.message_type
    if kind == "LtiDeepLinkingRequest":
        return await _deep_linking_form(request, state, launch)
    if kind == "LtiEndAssessment":
        return await _end_assessment(request, state, launch)
    if kind == "LtiStartProctoring":
        # The spec lets roles be empty (edx-exams sends []): only a staff role is refused.
        if launch.is_staff:
            raise Forbidden(
                "wrong_role",
                "a staff role cannot start a proctored attempt (it would be scored as a "
                "candidate's); open the exam as a learner, or review it on the dashboard",
            )
        for claim in ("start_assessment_url", "session_data", "attempt_number"):
            if AP + claim not in launch.claims:
                raise Invalid("missing_claim", f"LtiStartProctoring lacks the {claim!r} claim")
        if validation.url_problem(str(launch.claims[AP + "start_assessment_url"])):
            raise Invalid("invalid_claim", "the start_assessment_url claim is not an http(s) URL")
        grant = await _start_session(request, state, launch)
        loader = own_origin(request, state.settings.public_origin) + "/sdk/v1/loader.js"
        jwt_text, url = await run_in_threadpool(
            start_assessment, state.lti_keys, launch, grant, loader
        )
        return page(
            "lti_autopost.html",
            action=url,
            fields={"JWT": jwt_text},
            title="Starting your proctored exam",
            frame_ancestors=_frame_origins(launch.registration),
        )
    # LtiResourceLinkRequest
    if launch.is_staff:
        return await _open_dashboard(request, state, launch)
    if not launch.is_learner:
        raise Forbidden("wrong_role", "this launch has neither a learner nor an instructor role")
    exam_url = str(launch.custom.get("exam_url") or launch.registration.exam_url or "")
    if not exam_url:
        raise Invalid(
            "no_exam_url",
            "this link has no exam page: set the custom parameter exam_url on the link, or "
            "register the platform with --exam-url",
        )
    integration = await run_in_threadpool(
        state.store.integrations.by_id, launch.registration.integration_id
    )
    assert integration is not None
    problem = exam_url_problem(exam_url, _exam_origins(launch.registration, integration))
    if problem:  # the page receives the session token, which yields the signing key
        raise Forbidden("exam_url_not_allowed", f"the link's exam_url {problem}")
    grant = await _start_session(request, state, launch)
    return RedirectResponse(exam_url + "#openproctor_token=" + grant["token"], 303)


# -- sessions from launches ---------------------------------------------------------------------


def _context_id(launch: Launch) -> str | None:
    """The LMS course of the launch (its context claim's id), if it has one."""
    return str(launch.context.get("id") or "") or None


def _external_id(launch: Launch, attempt: object | None) -> str:
    parts = [
        "lti",
        str(launch.registration.id),
        launch.deployment_id,
        str(launch.resource_link["id"]),
        launch.subject,
    ]
    if attempt is not None:
        parts.append(f"attempt-{attempt}")
    text = ":".join(parts)
    return text if len(text) <= 200 else "lti:" + hashlib.sha256(text.encode()).hexdigest()


def _duration(launch: Launch) -> int:
    text = str(launch.custom.get("duration", DEFAULT_DURATION_MINUTES)).strip()
    found = validation.minutes_problem(text)
    if found is not None:
        raise Invalid(
            "invalid_custom_parameter", f"custom parameter 'duration' {found}, got {text!r}"
        )
    return int(text)


def _policy_override(launch: Launch, exam_id: str) -> Any:
    """The custom parameters' policy settings, validated now (errors name the parameter)."""
    if not launch.registration.allow_policy_override:
        return None
    custom = {**launch.proctoring_settings, **launch.custom}
    custom.pop("exam_id", None)
    try:
        policy_from_lti_custom(custom, parse_policy({"exam_id": exam_id}))
    except PolicyError as exc:
        raise Invalid("invalid_custom_parameter", f"custom parameter {exc.field!r}: {exc}") from exc

    def override(base: Policy) -> Policy:
        return policy_from_lti_custom(custom, base)

    return override


async def _start_session(request: Request, state: Services, launch: Launch) -> dict[str, Any]:
    exam_id = launch.exam_id()
    try:
        parse_policy({"exam_id": exam_id})
    except PolicyError as exc:
        raise Invalid("invalid_custom_parameter", f"custom parameter 'exam_id': {exc}") from exc
    duration = _duration(launch)
    override = _policy_override(launch, exam_id)
    attempt = launch.claims.get(AP + "attempt_number")
    now = time.time()
    title = validation.displayable(launch.resource_link.get("title") or exam_id, 500)
    claims = StartClaims(
        user_id=launch.subject,
        session_id=_external_id(launch, attempt),
        exam_id=exam_id,
        exam_name=str(title)[:500],
        duration_minutes=duration,
        start=now,
        end=now + duration * 60,
        allow_multiple_displays=str(launch.custom.get("allow_multiple_displays", "")).lower()
        in ("true", "1", "yes"),
        user={
            "userId": launch.subject,
            "firstName": validation.displayable(launch.claims.get("given_name", ""), 255),
            "lastName": validation.displayable(launch.claims.get("family_name", ""), 255),
            "courseName": validation.displayable(launch.context.get("title", ""), 450),
            "language": launch.locale,
            "source": "lti",
        },
    )
    integration = await run_in_threadpool(
        state.store.integrations.by_id, launch.registration.integration_id
    )
    assert integration is not None
    attempt_claims = _services_offered(launch)
    grant: dict[str, Any] = await run_in_threadpool(
        lambda: state.sessions.start_validated(
            integration,
            claims,
            now,
            context_id=_context_id(launch),
            override=override,
        )
    )
    attempt = Attempt(
        session_id=grant["session_id"],
        registration_id=launch.registration.id,
        subject=launch.subject,
        resource_link=launch.resource_link,
        attempt_number=launch.claims.get(AP + "attempt_number"),
        **attempt_claims,
    )
    await run_in_threadpool(state.store.lms.save_attempt, attempt)
    await run_in_threadpool(state.lms_outcomes.launched, attempt)
    return grant


def _services_offered(launch: Launch) -> dict[str, Any]:
    """The ACS and AGS claims of a launch, checked (a malformed one refuses the launch: the
    platform's configuration is wrong, and the calls it promises could never be made)."""
    found: dict[str, Any] = {
        "acs_url": None,
        "acs_actions": (),
        "ags_lineitems": None,
        "ags_scopes": (),
        "gradebook": str(launch.custom.get("integrity_gradebook", "")).strip().lower()
        in ("true", "1", "yes"),
    }
    control = launch.claims.get(AP + "acs")
    if control is not None:
        url = control.get("assessment_control_url") if isinstance(control, dict) else None
        actions = control.get("actions") if isinstance(control, dict) else None
        if not isinstance(url, str) or validation.url_problem(url):
            raise Invalid("invalid_claim", "the acs claim's assessment_control_url is not a URL")
        if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            raise Invalid("invalid_claim", "the acs claim's actions must be a list of strings")
        found.update(acs_url=url, acs_actions=tuple(a for a in actions if a in ACS_ACTIONS))
    grades = launch.claims.get(AGS_CLAIM)
    if isinstance(grades, dict) and grades.get("lineitems") is not None:
        url, scopes = grades.get("lineitems"), grades.get("scope", [])
        if not isinstance(url, str) or validation.url_problem(url):
            raise Invalid("invalid_claim", "the AGS endpoint claim's lineitems is not a URL")
        if not isinstance(scopes, list):
            raise Invalid("invalid_claim", "the AGS endpoint claim's scope must be a list")
        found.update(ags_lineitems=url, ags_scopes=tuple(s for s in scopes if isinstance(s, str)))
    return found


async def _end_assessment(request: Request, state: Services, launch: Launch) -> Response:
    """LtiEndAssessment: the platform says the attempt is over; close the session (the SDK may
    still upload what it holds: a finished session accepts events until its log is complete)."""
    integration_id = launch.registration.integration_id
    attempt = launch.claims.get(AP + "attempt_number")
    if attempt is None:
        raise Invalid("missing_claim", "LtiEndAssessment lacks the 'attempt_number' claim")
    error_message, error_log = launch.end_error
    if error_log or error_message:
        # The platform's own trouble with the attempt: kept in our log, shown to the student.
        log.warning("the platform ended an attempt with an error: %s", error_log or error_message)
    row = await run_in_threadpool(
        state.store.sessions.find, integration_id, _external_id(launch, attempt)
    )
    if row is None or row.user_id != launch.subject:
        raise NotFound("unknown_session", "no proctored attempt matches this end message")
    summary = await run_in_threadpool(state.ingest.finish, row.id)
    return page(
        "lti_end.html",
        lang=row.lang or accepted_language(request),
        session_id=row.id,
        summary=summary,
        record_url=state.keyring.record_path(row.id),
        platform_message=error_message,
        return_url=launch.return_url,
        frame_ancestors=_frame_origins(launch.registration),
    )


# -- instructors: dashboard and deep linking ----------------------------------------------------


async def _open_dashboard(request: Request, state: Services, launch: Launch) -> Response:
    integration = await run_in_threadpool(
        state.store.integrations.by_id, launch.registration.integration_id
    )
    assert integration is not None
    role = launch.staff_role
    assert role is not None  # dispatched here for staff only
    if role != "admin" and _context_id(launch) is None:
        raise Forbidden(
            "missing_claim",
            "a course staff launch must carry the course (context claim): without it the "
            "dashboard cannot tell which course's sessions you may see",
        )
    reviewer = Reviewer(
        name=validation.displayable(launch.claims.get("name") or f"lti:{launch.subject}", 255),
        institution_id=integration.institution_id,
        role=role,
        # An administrator is the institution's; the others see the course they came from.
        context_id=None if role == "admin" else _context_id(launch),
    )
    queue = request.app.url_path_for("dashboard:queue")
    response = RedirectResponse(f"{queue}?" + urlencode({"exam": launch.exam_id()}), 303)
    await run_in_threadpool(
        sign_in, response, state.keyring, state.reviewers, reviewer, cross_site=True
    )
    return response


async def _deep_linking_form(request: Request, state: Services, launch: Launch) -> Response:
    if not launch.is_staff:
        raise Forbidden("wrong_role", "only an instructor may add a proctored exam")
    if not (launch.claims.get(DL + "deep_linking_settings") or {}).get("deep_link_return_url"):
        raise Invalid(
            "missing_claim", "the request lacks deep_linking_settings.deep_link_return_url"
        )
    context_id = secrets.token_urlsafe(24)
    await run_in_threadpool(
        state.store.lti.add_context,
        context_id,
        launch.registration.id,
        "deep_linking",
        launch.claims,
    )
    integration = await run_in_threadpool(
        state.store.integrations.by_id, launch.registration.integration_id
    )
    assert integration is not None
    exams = await run_in_threadpool(state.store.policies.exams, integration.institution_id)
    return _deep_linking_page(context_id, exams, {}, {}, launch.registration)


def _deep_linking_page(
    context_id: str,
    exams: list[dict[str, Any]],
    values: dict[str, Any],
    errors: dict[str, str],
    registration: Registration,
) -> Response:
    return page(
        "lti_deep_linking.html",
        status=400 if errors else 200,
        context_id=context_id,
        exams=exams,
        values=values,
        errors=errors,
        flag_types=FLAG_TYPES,
        frame_ancestors=_frame_origins(registration),
    )


DL_FIELDS = ("exam_id", "title", "trust_threshold", "log_retention_days", "duration", "exam_url")


async def deep_linking_submit(request: Request) -> Response:
    """The instructor's choice, returned to the platform as a signed LtiDeepLinkingResponse
    whose resource link names the exam (the policy stays on the server): an existing exam as it
    is, a new exam with the policy of the form, or, for the people who may change it (an
    administrator, the instructor of the exam's course), a new staging version of an existing
    exam's policy, to be promoted on the dashboard like any other change."""
    state = services(request)
    try:
        params = await _params(request)
        form = await request.form()
        context = await run_in_threadpool(
            state.store.lti.get_context, params.get("context", ""), "deep_linking"
        )
        if context is None:
            raise Invalid(
                "unknown_context",
                "this form has expired or was already submitted; start again from the LMS",
            )
        registration = await run_in_threadpool(
            state.store.lti.get_registration, context["registration_id"]
        )
        assert registration is not None
        launch = Launch(registration, context["claims"])
        integration = await run_in_threadpool(
            state.store.integrations.by_id, registration.integration_id
        )
        assert integration is not None
        institution = integration.institution_id
        staff = _staff(launch, institution)
        values: dict[str, Any] = {name: params.get(name, "").strip() for name in DL_FIELDS}
        values["flags_enabled"] = [f for f in form.getlist("flags_enabled") if isinstance(f, str)]
        values["allow_mobile"] = params.get("allow_mobile") == "true"
        values["integrity_gradebook"] = params.get("integrity_gradebook") == "true"
        exams = await run_in_threadpool(_linkable_exams, state, institution, staff)
        chosen = next((e for e in exams if e["exam_id"] == params.get("existing")), None)
        errors: dict[str, str] = {}
        if chosen is not None:
            values["exam_id"] = chosen["exam_id"]
        link = _link_custom(values, errors, _exam_origins(registration, integration))
        policy = existing = None
        if chosen is None:
            policy = _policy_from_form(values, errors)
        if policy is not None:
            existing = await run_in_threadpool(
                state.store.policies.exam, institution, policy.exam_id
            )
            if existing is not None and not may_edit_exam(staff, existing.context_id):
                errors["exam_id"] = (
                    f"exam {policy.exam_id!r} already exists; only an administrator or the "
                    "instructor of its course may change its policy: choose another id"
                    + (", or pick it from the list above" if _listed(exams, policy) else "")
                )
        if errors:
            return _deep_linking_page(params["context"], exams, values, errors, registration)
        if not await run_in_threadpool(state.store.lti.consume_context, params["context"]):
            raise Invalid("unknown_context", "this form was already submitted")
        if policy is not None:
            actor = f"lti:{launch.subject or 'staff'} ({staff.role}, course {staff.context_id})"
            if existing is None:  # a new exam, in this course
                save = functools.partial(
                    state.store.policies.save,
                    institution,
                    policy,
                    actor,
                    context_id=staff.context_id,
                    audit=(actor, "exam.created"),
                )
            else:  # a change: into staging; promotion stays a separate, reviewed step
                save = functools.partial(
                    state.store.policies.save,
                    institution,
                    replace(policy, environment="staging"),
                    actor,
                    audit=(actor, "policy.staged"),
                )
            await run_in_threadpool(save)
            log.info("deep linking stored %s for exam %s", policy.environment, policy.exam_id)
        launch_url = own_origin(request, state.settings.public_origin) + "/lti/launch"
        jwt_text, url = await run_in_threadpool(
            deep_linking_response,
            state.lti_keys,
            launch,
            values["title"] or values["exam_id"],
            link,
            launch_url,
        )
        return page(
            "lti_autopost.html",
            action=url,
            fields={"JWT": jwt_text},
            title="Adding the proctored exam to your course",
            frame_ancestors=_frame_origins(registration),
        )
    except OpenproctorError as exc:
        return _error_page(request, exc)


def _staff(launch: Launch, institution_id: str) -> Reviewer:
    """The staff member behind a launch, as the access rules see them."""
    role = launch.staff_role or "assistant"
    context = None if role == "admin" else _context_id(launch)
    return Reviewer(f"lti:{launch.subject}", institution_id, role, context)


def _linkable_exams(state: Services, institution_id: str, staff: Reviewer) -> list[dict[str, Any]]:
    """The exams a deep link may name: the course's own and the institution's shared ones (an
    administrator: all)."""
    contexts = state.store.policies.exam_contexts(institution_id)
    return [
        e
        for e in state.store.policies.exams(institution_id)
        if staff.role == "admin" or contexts.get(e["exam_id"]) in (None, staff.context_id)
    ]


def _listed(exams: list[dict[str, Any]], policy: Policy) -> bool:
    return any(e["exam_id"] == policy.exam_id for e in exams)


def _exam_origins(registration: Registration, integration: Integration) -> set[str]:
    """Where a link's exam page may be: the registration's exam page, or an origin the
    integration registered for its LMS pages (custom ``exam_url`` receives a session token)."""
    origins = set(integration.allowed_origins)
    if registration.exam_url:
        origins.add(_origin(registration.exam_url))
    return origins


def _link_custom(
    values: dict[str, Any], errors: dict[str, str], exam_origins: set[str]
) -> dict[str, str]:
    """The resource link's custom parameters: the exam, its length and page (no policy)."""
    custom = {"exam_id": values["exam_id"], "duration": values["duration"] or "180"}
    if values.get("integrity_gradebook"):
        custom["integrity_gradebook"] = "true"
    if values["exam_url"]:
        custom["exam_url"] = values["exam_url"]
        problem = exam_url_problem(values["exam_url"], exam_origins)
        if problem:
            errors["exam_url"] = problem
    duration = custom["duration"]
    found = validation.minutes_problem(duration)
    if found is not None:
        errors["duration"] = found
    return custom


def _policy_from_form(values: dict[str, Any], errors: dict[str, str]) -> Policy | None:
    """The policy the form describes, validated by the core's own rules (errors by field)."""
    settings = {
        "exam_id": values["exam_id"],
        "trust_threshold": values["trust_threshold"] or "0.7",
        "flags_enabled": ",".join(values["flags_enabled"]),
        "log_retention_days": values["log_retention_days"] or "30",
        "allow_mobile": "true" if values["allow_mobile"] else "false",
    }
    try:
        return policy_from_lti_custom(settings)
    except PolicyError as exc:
        errors[exc.field.split(".")[0]] = str(exc)
        return None


def exam_url_problem(url: str, allowed_origins: set[str]) -> str | None:
    """Why ``url`` may not receive a session token, or None when it may."""
    found = validation.url_problem(url)
    if found is not None:
        return found
    if _origin(url) not in allowed_origins:
        return (
            f"must be on the registration's exam page origin or one of the integration's "
            f"origins ({', '.join(sorted(allowed_origins)) or 'none registered'})"
        )
    return None


# -- the tool's public keys and configuration ---------------------------------------------------


async def jwks(request: Request) -> JSONResponse:
    state = services(request)
    body = await run_in_threadpool(state.lti_keys.jwks)
    return JSONResponse(body, headers={"cache-control": "public, max-age=300"})


async def tool_config(request: Request) -> JSONResponse:
    """What an LMS administrator pastes into the platform's tool registration."""
    state = services(request)
    return JSONResponse(tool_settings(own_origin(request, state.settings.public_origin)))


routes = [
    Route("/lti/login", login, methods=["GET", "POST"]),
    Route("/lti/login/{registration_id:id}", login, methods=["GET", "POST"]),
    Route("/lti/launch", launch, methods=["POST"]),
    Route("/lti/deep-linking", deep_linking_submit, methods=["POST"]),
    Route("/lti/jwks", jwks, methods=["GET"]),
    Route("/lti/config.json", tool_config, methods=["GET"]),
]
