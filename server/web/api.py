"""The JSON API (/api/v1): session start, ingest, finish, status. Endpoints stay thin: they
read and check the request, then hand the work to the services, off the event loop."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..errors import Invalid, NotFound, TooLarge, Unauthorized, Unavailable
from ..i18n import MAX_PREFERENCES
from ..security import validation
from ..security.tokens import check_lifetime, decode_with_any
from ..services import Services
from ..storage.rows import Integration, SessionRow
from .http import bearer, check_origin, read_json, services
from .openapi import openapi_endpoint

MAX_CREDENTIAL_SECONDS = 300


def _object(body: Any, *fields: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid("invalid_body", "the body must be a JSON object")
    for name in fields:
        if name not in body:
            raise Invalid("missing_field", f"field {name!r} is required", field=name)
    return body


async def start_session(request: Request) -> JSONResponse:
    state = services(request)
    body = _object(
        await read_json(request, state.settings.limits.max_start_body_bytes),
        "integrationName",
        "jwt",
    )
    name = body["integrationName"]
    if not isinstance(name, str) or not name:
        raise Invalid(
            "missing_field",
            "'integrationName' must be a non-empty string",
            field="integrationName",
        )
    validation.check(name, "integrationName", 100)
    integration = await run_in_threadpool(state.store.integrations.get, name)
    if integration is None:
        raise NotFound("unknown_integration", f"no integration named {name!r}")
    check_origin(request, integration.allowed_origins, state.settings.public_origin)
    languages = body.get("languages", [])
    if not isinstance(languages, list) or not all(
        isinstance(tag, str) and len(tag) <= 35 for tag in languages[:MAX_PREFERENCES]
    ):
        raise Invalid(
            "invalid_body",
            "'languages' must be a list of language tags (init's lang, navigator.languages)",
            field="languages",
        )
    grant = await run_in_threadpool(
        state.sessions.start, integration, body["jwt"], languages=languages[:MAX_PREFERENCES]
    )
    return JSONResponse(grant, status_code=200 if grant["resumed"] else 201)


async def resume_session(request: Request) -> JSONResponse:
    state = services(request)
    row = await _session_for_token(request, state)
    body = _object(await read_json(request, state.settings.limits.max_start_body_bytes))
    key = body.get("institutionKey")
    if key is not None and not isinstance(key, str):
        raise Invalid(
            "invalid_body", "'institutionKey' must be a string or null", field="institutionKey"
        )
    grant = await run_in_threadpool(state.sessions.resume, row.id, key)
    return JSONResponse(grant)


async def access_code(request: Request) -> JSONResponse:
    """The exam's access code, for this session's browser while its proctoring runs."""
    state = services(request)
    row = await _session_for_token(request, state)
    state.limiter.hit(row.id)
    code = await run_in_threadpool(state.access_codes.release, row)
    return JSONResponse({"access_code": code}, headers={"cache-control": "no-store"})


async def _session_for_token(request: Request, state: Services) -> SessionRow:
    session_id = request.path_params["session_id"]
    state.keyring.check_session_token(bearer(request), session_id)
    row = await run_in_threadpool(state.store.sessions.get, session_id)
    if row is None:
        raise NotFound("unknown_session", f"no session {session_id!r}")
    integration = await run_in_threadpool(state.store.integrations.by_id, row.integration_id)
    check_origin(
        request, integration.allowed_origins if integration else (), state.settings.public_origin
    )
    return row


async def post_events(request: Request) -> JSONResponse:
    """A batch: the token, the integration's origins and the rate are checked here, before the
    batch is queued; the writer then verifies and stores it (ingest.py, writer.py)."""
    state = services(request)
    limits = state.settings.limits
    session_id = request.path_params["session_id"]
    claims = state.keyring.check_session_token(bearer(request), session_id)
    state.limiter.hit(session_id)
    await _check_token_origin(request, state, session_id, claims.get("int"))
    body = _object(await read_json(request, limits.max_body_bytes), "events")
    events = body["events"]
    if not isinstance(events, list) or not events:
        raise Invalid("invalid_body", "'events' must be a non-empty list of events")
    if len(events) > limits.max_events_per_batch:
        raise TooLarge(
            "batch_too_large",
            f"at most {limits.max_events_per_batch} events per batch",
            limit=limits.max_events_per_batch,
        )
    result = await state.ingest_runner.run(state.ingest.batch(session_id, events))
    return JSONResponse(result)


async def _check_token_origin(
    request: Request, state: Services, session_id: str, integration_id: object
) -> None:
    """The browser's origin must be one of the integration's (the token names it; a token minted
    before it did is looked up by its session). Cached: most batches cost no database read."""
    integrations = state.store.integrations
    if not isinstance(integration_id, int):
        row = await run_in_threadpool(state.store.sessions.get, session_id)
        if row is None:
            raise NotFound("unknown_session", f"no session {session_id!r}")
        integration_id = int(row.integration_id)
    integration = integrations.cached(integration_id)
    if integration is None:
        integration = await run_in_threadpool(integrations.by_id, integration_id)
    check_origin(
        request, integration.allowed_origins if integration else (), state.settings.public_origin
    )


def check_integration_credential(state: Services, token: str) -> Integration:
    """An integrator's credential: a short-lived HS256 JWT signed with the integration secret,
    naming the integration in ``iss`` (same secret the LMS backend signs session JWTs with)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("invalid_credential", f"the credential is not a JWT: {exc}") from None
    name = claims.get("iss")
    integration = None
    if isinstance(name, str) and validation.problem(name, 100) is None:
        integration = state.store.integrations.get(name)
    if integration is None or header.get("alg") != "HS256":
        raise Unauthorized(
            "invalid_credential",
            "the credential must be an HS256 JWT whose 'iss' names your integration",
        )
    secrets = [state.keyring.decrypt(s) for s in integration.secrets_enc(time.time())]
    try:
        verified = decode_with_any(
            token, secrets, algorithms=["HS256"], options={"require": ["exp", "iss"]}
        )
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("invalid_credential", f"the credential is invalid: {exc}") from None
    check_lifetime(verified["exp"], MAX_CREDENTIAL_SECONDS, "credential")
    return integration


async def _session_for_integration(request: Request, state: Services) -> SessionRow:
    integration = await run_in_threadpool(check_integration_credential, state, bearer(request))
    check_origin(request, integration.allowed_origins, state.settings.public_origin)
    wanted = request.path_params["session_id"]
    row = await run_in_threadpool(state.store.sessions.get, wanted)
    if row is None:  # the integrator may also use its own sessionId
        row = await run_in_threadpool(state.store.sessions.find, integration.id, wanted)
    if row is None or row.integration_id != integration.id:
        raise NotFound("unknown_session", f"no session {wanted!r} for this integration")
    return row


async def get_session(request: Request) -> JSONResponse:
    state = services(request)
    row = await _session_for_integration(request, state)
    return JSONResponse(public_status(row, state.keyring.record_path(row.id)))


async def _integration_for(request: Request, state: Services) -> Integration:
    integration = await run_in_threadpool(check_integration_credential, state, bearer(request))
    check_origin(request, integration.allowed_origins, state.settings.public_origin)
    return integration


async def person_data(request: Request) -> JSONResponse:
    """GET: everything stored about one LMS user of the integration's institution (GDPR
    access); DELETE: erase it (storage/people.py says what is erased and what kept)."""
    state = services(request)
    integration = await _integration_for(request, state)
    user_id = request.path_params["user_id"]
    actor = f"integration:{integration.name}"
    if request.method == "DELETE":
        erased = await run_in_threadpool(
            state.people.erase, integration.institution_id, user_id, actor
        )
        return JSONResponse({"erased": erased})
    found = await run_in_threadpool(state.people.export, integration.institution_id, user_id, actor)
    return JSONResponse(
        json.loads(json.dumps(found, default=str)), headers={"cache-control": "no-store"}
    )


async def finish_session(request: Request) -> JSONResponse:
    state = services(request)
    token = bearer(request)
    if token.count(".") == 2 and _is_session_token(token):
        row = await _session_for_token(request, state)
    else:
        row = await _session_for_integration(request, state)
    result = await run_in_threadpool(state.ingest.finish, row.id)
    return JSONResponse(result)


def _is_session_token(token: str) -> bool:
    try:
        return jwt.decode(token, options={"verify_signature": False}).get("scope") == "session"
    except jwt.InvalidTokenError:
        return False


async def healthz(request: Request) -> JSONResponse:
    state = services(request)
    try:
        await run_in_threadpool(state.store.ping)
    except Exception:
        raise Unavailable("database_unavailable", "the database does not answer") from None
    return JSONResponse({"status": "ok"})


def public_status(row: SessionRow, record_url: str) -> dict[str, Any]:
    """What the integrator reads about a session (no personal data beyond their own ids), and
    the link to show the student so they can see what was recorded."""
    breakdown = row.breakdown
    policy = row.parsed_policy
    return {
        "session_id": row.id,
        "external_session_id": row.external_id,
        "exam_id": row.exam_id,
        "status": row.status,
        "integrity": {
            "status": "failed" if row.integrity_reason else "verified",
            "reason": row.integrity_reason,
            "seq": row.integrity_seq,
            "complete": bool(row.complete),
            "client_score_mismatch": bool(row.score_mismatch),
        },
        "score": row.score,
        "flagged": bool(row.flagged),
        # green / yellow / red by the policy's attention and trust thresholds.
        "band": row.band,
        "thresholds": {
            "attention": policy.attention,
            "trust": policy.trust_threshold,
        },
        "breakdown": breakdown,
        "policy_version": row.policy_version,
        "events": row.next_seq,
        "started_at": int(row.started_at),
        "finished_at": int(row.finished_at) if row.finished_at else None,
        "logs_purged": row.purged_at is not None,
        "record_url": record_url,
        # What the start token asked for and openproctor did not do (an ID check, a camera...).
        "warnings": row.warnings,
    }


routes = [
    Route("/api/v1/sessions", start_session, methods=["POST"]),
    Route("/api/v1/sessions/{session_id}", get_session, methods=["GET"]),
    Route("/api/v1/users/{user_id}", person_data, methods=["GET", "DELETE"]),
    Route("/api/v1/sessions/{session_id}/events", post_events, methods=["POST"]),
    Route("/api/v1/sessions/{session_id}/finish", finish_session, methods=["POST"]),
    Route("/api/v1/sessions/{session_id}/resume", resume_session, methods=["POST"]),
    Route("/api/v1/sessions/{session_id}/access-code", access_code, methods=["POST"]),
    Route("/api/v1/openapi.json", openapi_endpoint, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
]
