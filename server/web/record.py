"""The student's view: exactly what was recorded about their session (the events, the score and
its explanation) and the evidence bundle to download. The link carries a key only the server
can mint (keys.record_key); a wrong key answers 404, like a session that does not exist."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openproctor.core import FLAG_TYPES

from ..errors import Gone, NotFound
from ..evidence import build_bundle
from ..integrity import integrity_label
from ..notice import student_actions
from ..services import Services
from ..storage.rows import SessionRow
from .http import own_origin, services
from .pages import event_page, page


async def _session(request: Request) -> tuple[Services, SessionRow | None]:
    state = services(request)
    session_id = request.path_params["session_id"]
    key = request.query_params.get("key", "")
    if not key or not state.keyring.check_record_key(session_id, key):
        return state, None
    return state, await run_in_threadpool(state.store.sessions.get, session_id)


async def record_page(request: Request) -> Response:
    state, row = await _session(request)
    if row is None:
        return page("record_missing.html", status=404)
    events = await run_in_threadpool(state.store.sessions.events, row.id)
    policy = row.policy
    deleted_on = datetime.fromtimestamp(
        row.started_at + policy["log_retention_days"] * 86400, UTC
    ).strftime("%Y-%m-%d")
    return page(
        "record.html",
        session=row,
        integrity=integrity_label(row),
        policy=policy,
        not_counted=[f for f in FLAG_TYPES if f not in policy["flags_enabled"]],
        breakdown=row.breakdown,
        student_actions=student_actions(row, events),
        events=event_page(events, request.query_params.get("from")),
        deleted_on=deleted_on,
        key=request.query_params["key"],
    )


async def evidence(request: Request) -> Response:
    state, row = await _session(request)
    if row is None:
        raise NotFound("unknown_session", "no such session, or the link's key is wrong")
    if row.purged_at is not None:
        raise Gone("session_purged", "this session's log was deleted under the retention policy")
    events = await run_in_threadpool(state.store.sessions.events, row.id)
    bundle = await run_in_threadpool(
        build_bundle,
        row,
        events,
        state.keyring.session_keys(row.id)[0].reveal(),
        state.lti_keys,
        own_origin(request, state.settings.public_origin),
    )
    return JSONResponse(
        bundle,
        headers={
            "content-disposition": f'attachment; filename="openproctor-{row.id}.json"',
            "cache-control": "no-store",
            "referrer-policy": "no-referrer",
        },
    )


routes = [
    Route("/record/{session_id}", record_page, methods=["GET"]),
    Route("/record/{session_id}/evidence.json", evidence, methods=["GET"]),
]
