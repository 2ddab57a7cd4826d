"""The reviewer dashboard: the flagged queue and the session page, scoped to the reviewer's
institution (and, for an LTI launch, the course it came from). A session of another
institution or course answers 404, the same as one that does not exist."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .auth import Reviewer, current_reviewer
from .pages import page
from .state import AppState

STATUSES = ("active", "finished", "integrity_failed")


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.openproctor
    return state


def _frame_origins(state: AppState, reviewer: Reviewer) -> list[str]:
    """An LTI reviewer sees the dashboard inside the LMS: its registered origins may frame it."""
    if reviewer.context_id is None:
        return []
    return sorted(
        origin
        for integration in state.store.list_integrations()
        if integration.institution_id == reviewer.institution_id
        for origin in integration.allowed_origins
    )


def _signed_out() -> Response:
    return page(
        "dashboard_signed_out.html",
        status=401,
    )


def _date(text: str | None, end: bool = False) -> float | None:
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day.timestamp() + (86400 if end else 0)


def score_class(score: float | None, threshold: float) -> str:
    if score is None:
        return "score-good"
    if score < threshold:
        return "score-bad"
    return "score-mid" if score < threshold + 0.1 else "score-good"


async def queue(request: Request) -> Response:
    state = _state(request)
    reviewer = current_reviewer(request, state.keyring)
    if reviewer is None:
        return _signed_out()
    q = request.query_params
    filters = {
        "exam": q.get("exam", "").strip(),
        "status": q.get("status", "") if q.get("status", "") in STATUSES else "",
        "flagged": q.get("flagged", "") == "1",
        "since": q.get("since", ""),
        "until": q.get("until", ""),
    }
    rows = await run_in_threadpool(
        lambda: state.store.review_sessions(
            reviewer.institution_id,
            context_id=reviewer.context_id,
            exam_id=filters["exam"] or None,
            flagged_only=bool(filters["flagged"]),
            status=filters["status"] or None,
            since=_date(str(filters["since"])),
            until=_date(str(filters["until"]), end=True),
        )
    )
    sessions = [_summary(row) for row in rows]
    return page(
        "dashboard_queue.html",
        reviewer=reviewer,
        sessions=sessions,
        filters=filters,
        statuses=STATUSES,
        frame_ancestors=await run_in_threadpool(_frame_origins, state, reviewer),
    )


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    threshold = json.loads(row["policy_json"])["trust_threshold"]
    return {
        **row,
        "threshold": threshold,
        "score_class": score_class(row["score"], threshold),
        "started": datetime.fromtimestamp(row["started_at"], UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "integrity": integrity_label(row),
    }


def integrity_label(row: dict[str, Any]) -> str:
    if row["integrity_reason"]:
        return "integrity failed"
    if row["score_mismatch"]:
        return "client score mismatch"
    if row["complete"]:
        return "verified"
    return "verified, incomplete" if row["status"] == "finished" else "verified so far"


async def visible_session(request: Request, reviewer: Reviewer) -> dict[str, Any] | None:
    """The session named in the path if this reviewer may see it, else None (answer 404)."""
    state = _state(request)
    row = await run_in_threadpool(state.store.get_session, request.path_params["session_id"])
    if row is None or row["institution_id"] != reviewer.institution_id:
        return None
    if reviewer.context_id is not None and row["context_id"] != reviewer.context_id:
        return None
    return row


async def session_page(request: Request) -> Response:
    state = _state(request)
    reviewer = current_reviewer(request, state.keyring)
    if reviewer is None:
        return _signed_out()
    row = await visible_session(request, reviewer)
    if row is None:
        return page("dashboard_not_found.html", status=404, reviewer=reviewer)
    events = await run_in_threadpool(state.store.events, row["id"])
    return page(
        "dashboard_session.html",
        reviewer=reviewer,
        session=_summary(row),
        breakdown=json.loads(row["breakdown_json"]) if row["breakdown_json"] else [],
        events=events,
        frame_ancestors=await run_in_threadpool(_frame_origins, state, reviewer),
    )


routes = [
    Route("/dashboard", queue, methods=["GET"]),
    Route("/dashboard/sessions/{session_id}", session_page, methods=["GET"]),
]
