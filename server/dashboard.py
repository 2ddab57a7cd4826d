"""The reviewer dashboard: the flagged queue and the session page, scoped to the reviewer's
institution (and, for an LTI launch, the course it came from). A session of another
institution or course answers 404, the same as one that does not exist."""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .auth import Reviewer, csrf_ok, current_reviewer, sign_in, sign_out
from .errors import ApiError
from .pages import page
from .reviewers import OUTCOMES
from .state import AppState

log = logging.getLogger("openproctor.server.dashboard")
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
    return RedirectResponse("/dashboard/login", 303)


LOGIN_COOKIE = "openproctor_login"
MAX_FORM_BYTES = 16 * 1024


async def _form(request: Request) -> dict[str, str]:
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
        raise ApiError(413, "body_too_large", f"the form must be at most {MAX_FORM_BYTES} bytes")
    form = await request.form(max_files=0, max_fields=20)
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _login_page(error: str = "", status: int = 200, username: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = page(
        "dashboard_login.html", status=status, csrf=token, error=error, username=username
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path="/dashboard/",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return response


async def login_form(request: Request) -> Response:
    return _login_page()


async def login(request: Request) -> Response:
    state = _state(request)
    form = await _form(request)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, form.get("csrf", "")):
        return _login_page("The form expired; please sign in again.", status=403)
    username, password = form.get("username", "").strip(), form.get("password", "")
    client = request.client.host if request.client else "unknown"
    try:
        row = await run_in_threadpool(state.reviewers.authenticate, username, password, client)
    except ApiError as exc:
        response = _login_page(exc.message, status=exc.status, username=username)
        response.headers.update(exc.headers)
        return response
    if row is None:
        log.info("dashboard sign-in failed for a username of %d characters", len(username))
        return _login_page("Wrong username or password.", status=401, username=username)
    response = RedirectResponse("/dashboard", 303)
    reviewer = Reviewer(row["username"], row["institution_id"], row["role"])
    sign_in(response, state.keyring, reviewer, cross_site=False)
    response.delete_cookie(LOGIN_COOKIE, path="/dashboard/", secure=True, httponly=True)
    return response


async def logout(request: Request) -> Response:
    state = _state(request)
    reviewer = current_reviewer(request, state.keyring)
    form = await _form(request)
    if reviewer is not None and not csrf_ok(state.keyring, reviewer, form.get("csrf")):
        return page("dashboard_forbidden.html", status=403, reviewer=reviewer)
    response = RedirectResponse("/dashboard/login", 303)
    sign_out(response)
    return response


async def decide(request: Request) -> Response:
    """Record a decision; earlier ones stay in the history (never overwritten)."""
    state = _state(request)
    reviewer = current_reviewer(request, state.keyring)
    if reviewer is None:
        return _signed_out()
    row = await visible_session(request, reviewer)
    if row is None:
        return page("dashboard_not_found.html", status=404, reviewer=reviewer)
    form = await _form(request)
    if not csrf_ok(state.keyring, reviewer, form.get("csrf")):
        return page("dashboard_forbidden.html", status=403, reviewer=reviewer)
    try:
        await run_in_threadpool(
            state.reviewers.decide,
            row["id"],
            form.get("outcome", ""),
            form.get("comment", ""),
            f"{reviewer.name} ({reviewer.role})",
        )
    except ApiError as exc:
        return await _session_response(request, state, reviewer, row, error=exc.message)
    return RedirectResponse(f"/dashboard/sessions/{row['id']}#decisions", 303)


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
        csrf=state.keyring.csrf_token(reviewer.token),
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
    return await _session_response(request, state, reviewer, row)


async def _session_response(
    request: Request,
    state: AppState,
    reviewer: Reviewer,
    row: dict[str, Any],
    error: str = "",
) -> Response:
    events = await run_in_threadpool(state.store.events, row["id"])
    decisions = await run_in_threadpool(state.reviewers.decisions, row["id"])
    for decision in decisions:
        decision["when"] = datetime.fromtimestamp(decision["created_at"], UTC).strftime(
            "%Y-%m-%d %H:%M UTC"
        )
        decision["label"] = OUTCOMES[decision["outcome"]]
    return page(
        "dashboard_session.html",
        status=400 if error else 200,
        reviewer=reviewer,
        csrf=state.keyring.csrf_token(reviewer.token),
        session=_summary(row),
        breakdown=json.loads(row["breakdown_json"]) if row["breakdown_json"] else [],
        events=events,
        decisions=decisions,
        outcomes=OUTCOMES,
        error=error,
        frame_ancestors=await run_in_threadpool(_frame_origins, state, reviewer),
    )


routes = [
    Route("/dashboard", queue, methods=["GET"]),
    Route("/dashboard/login", login_form, methods=["GET"]),
    Route("/dashboard/login", login, methods=["POST"]),
    Route("/dashboard/logout", logout, methods=["POST"]),
    Route("/dashboard/sessions/{session_id}", session_page, methods=["GET"]),
    Route("/dashboard/sessions/{session_id}/decisions", decide, methods=["POST"]),
]
