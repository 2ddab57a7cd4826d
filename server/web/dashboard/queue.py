"""The reviewer dashboard: the flagged queue and the session page, scoped to the reviewer's
institution (and, for an LTI launch, the course it came from). A session of another
institution or course answers 404, the same as one that does not exist."""

from __future__ import annotations

import functools
import logging
import secrets
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from openproctor.core import FLAG_TYPES, validate_event

from ...access import Reviewer
from ...errors import OpenproctorError, TooManyRequests
from ...explanations import flagged_seqs
from ...identities import course_of, identity_of, lms_attempt
from ...integrity import integrity_label
from ...notice import student_actions
from ...reports import timeline_series
from ...reviewers import OUTCOMES, VERDICTS, current_verdicts
from ...security.keys import same_text
from ...storage.rows import Attempt, SessionRow
from .. import charts
from ..http import services, status_of
from ..pages import event_page, page, when
from .auth import sign_in, sign_out
from .guard import View, dashboard, read_form, url_path

log = logging.getLogger("openproctor.server.dashboard")
STATUSES = ("active", "finished", "integrity_failed")


LOGIN_COOKIE = "openproctor_login"


def _login_page(
    request: Request, error: str = "", status: int = 200, username: str = ""
) -> Response:
    token = secrets.token_urlsafe(24)
    response = page(
        "dashboard/login.html",
        status=status,
        csrf=token,
        error=error,
        username=username,
        url=functools.partial(url_path, request),
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
    return _login_page(request)


async def login(request: Request) -> Response:
    state = services(request)
    form = await read_form(request)
    submitted = form.get("csrf", "")
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not isinstance(submitted, str) or not same_text(expected, submitted):
        return _login_page(request, "The form expired; please sign in again.", status=403)
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    client = request.client.host if request.client else "unknown"
    try:
        row = await run_in_threadpool(state.reviewers.authenticate, username, password, client)
    except OpenproctorError as exc:
        response = _login_page(request, exc.message, status=status_of(exc), username=username)
        if isinstance(exc, TooManyRequests):
            response.headers["retry-after"] = str(exc.retry_after)
        return response
    if row is None:
        log.info("dashboard sign-in failed for a username of %d characters", len(username))
        return _login_page(request, "Wrong username or password.", status=401, username=username)
    response = RedirectResponse(request.app.url_path_for("dashboard:queue"), 303)
    reviewer = Reviewer(row["username"], row["institution_id"], row["role"])
    await run_in_threadpool(
        sign_in,
        response,
        state.keyring,
        state.reviewers,
        reviewer,
        cross_site=False,
        username=row["username"],
    )
    response.delete_cookie(LOGIN_COOKIE, path="/dashboard/", secure=True, httponly=True)
    await run_in_threadpool(
        state.store.audit.record,
        reviewer.institution_id,
        f"{reviewer.name} ({reviewer.role})",
        "reviewer.signed_in",
        f"reviewer:{reviewer.name}",
        {"from": client},
    )
    return response


@dashboard(post=True)
async def logout(view: View) -> Response:
    response = view.redirect("dashboard:login")
    await view.run(sign_out, response, view.state.reviewers, view.reviewer)
    await view.audit("reviewer.signed_out", f"reviewer:{view.reviewer.name}")
    return response


@dashboard(post=True)
async def decide(view: View) -> Response:
    """Record a decision; earlier ones stay in the history (never overwritten)."""
    row = await visible_session(view)
    if row is None:
        return await view.render("dashboard/not_found.html", status=404)
    before = await view.run(view.state.reviewers.decisions, row.id)
    previous = before[0]["outcome"] if before else None
    try:
        await view.run(
            view.state.reviewers.decide,
            row.id,
            view.field("outcome"),
            str(view.form.get("comment", "")),
            view.who,
        )
    except OpenproctorError as exc:
        return await _session_response(view, row, error=exc.message)
    await view.audit(
        "review.decided",
        f"session:{row.id}",
        {"outcome": view.field("outcome"), "previous_outcome": previous},
    )
    return view.redirect("dashboard:session", "#decisions", session_id=row.id)


@dashboard(post=True)
async def judge_incident(view: View) -> Response:
    """A verdict on one flagged episode (confirmed or dismissed, with a note); the session's
    outcome follows once every episode has one (ReviewerStore.judge)."""
    row = await visible_session(view)
    if row is None:
        return await view.render("dashboard/not_found.html", status=404)
    events = await view.run(view.state.store.sessions.events, row.id)
    seq, verdict, note = view.field("seq"), view.field("verdict"), str(view.form.get("note", ""))
    try:
        outcome = await view.run(
            view.state.reviewers.judge,
            row.id,
            seq,
            verdict,
            note,
            view.who,
            flagged_seqs(events),
        )
    except OpenproctorError as exc:
        return await _session_response(view, row, error=exc.message)
    await view.audit(
        "incident.judged", f"session:{row.id}", {"seq": seq, "verdict": verdict, "outcome": outcome}
    )
    return view.redirect("dashboard:session", f"#event-{seq}", session_id=row.id)


@dashboard(post=True)
async def claim(view: View) -> Response:
    """Claim the session for review (or, with ``release``, give it back)."""
    row = await visible_session(view)
    if row is None:
        return await view.render("dashboard/not_found.html", status=404)
    release = view.field("release") == "1"
    if release and row.claimed_by not in (None, view.who) and view.reviewer.role != "admin":
        return await _session_response(
            view, row, error=f"claimed by {row.claimed_by}: only they or an admin may release it"
        )
    await view.run(view.state.reviewers.records.claim, row.id, None if release else view.who)
    await view.audit(
        "review.released" if release else "review.claimed",
        f"session:{row.id}",
        {"before": row.claimed_by},
    )
    return view.redirect("dashboard:session", "#decisions", session_id=row.id)


def _date(text: str | None, end: bool = False) -> float | None:
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day.timestamp() + (86400 if end else 0)


#: The CSS class of each band (core Policy.band: the attention and trust thresholds).
BAND_CLASSES = {
    None: "score-good",
    "green": "score-good",
    "yellow": "score-mid",
    "red": "score-bad",
}
BAND_WORDS = {"green": "clear", "yellow": "worth a look", "red": "flagged"}


@dashboard()
async def queue(view: View) -> Response:
    q = view.request.query_params
    exam, status = q.get("exam", "").strip(), q.get("status", "")
    status = status if status in STATUSES else ""
    flagged, since, until = q.get("flagged", "") == "1", q.get("since", ""), q.get("until", "")
    assigned = q.get("assigned", "")
    assigned = assigned if assigned in ("unassigned", "mine") else ""
    band = q.get("band", "")
    band = band if band in BAND_WORDS else ""
    explained = q.get("explained", "") == "1"
    filters = {
        "exam": exam,
        "status": status,
        "flagged": flagged,
        "since": since,
        "until": until,
        "assigned": assigned,
        "band": band,
        "explained": explained,
    }
    rows = await view.run(
        view.state.store.sessions.for_review,
        view.reviewer.institution_id,
        context_id=view.reviewer.context_id,
        exam_id=exam or None,
        flagged_only=flagged,
        status=status or None,
        since=_date(since),
        until=_date(until, end=True),
        claimed={"unassigned": "", "mine": view.who}.get(assigned),
        explained=explained,
    )
    if band:
        rows = [row for row in rows if row.band == band]
    attempts = await view.run(view.state.store.lms.attempts, [row.id for row in rows])
    visibility = await view.run(view.state.identities.visibility, view.reviewer.institution_id)
    summaries = [_summary(row, attempts.get(row.id)) for row in rows]
    if visibility == "always":  # the institution shows every reviewer who the student is
        for summary, row in zip(summaries, rows, strict=True):
            summary["identity"] = identity_of(row)
    return await view.render(
        "dashboard/queue.html",
        sessions=summaries,
        filters=filters,
        statuses=STATUSES,
        bands=BAND_WORDS,
        identities=visibility == "always",
    )


def _summary(row: SessionRow, attempt: Attempt | None) -> dict[str, Any]:
    threshold = row.threshold
    band = row.band
    return {
        **row.as_dict(),
        "threshold": threshold,
        "score_class": BAND_CLASSES[band],
        "band": band,
        "band_word": BAND_WORDS.get(band or "", ""),
        "attention": row.parsed_policy.attention,
        "warnings": row.warnings,
        "started": when(row.started_at),
        "integrity": integrity_label(row),
        # Blind review: the LMS's own attempt and course, never the student (identities.py).
        "lms_attempt": lms_attempt(row, attempt),
        "claimed_by": row.claimed_by,
        "course": course_of(row),
    }


async def visible_session(view: View) -> SessionRow | None:
    """The session named in the path if this reviewer may see it, else None (answer 404)."""
    reviewer = view.reviewer
    row = await view.run(view.state.store.sessions.get, view.request.path_params["session_id"])
    if row is None or row.institution_id != reviewer.institution_id:
        return None
    if reviewer.context_id is not None and row.context_id != reviewer.context_id:
        return None
    return row


@dashboard()
async def session_page(view: View) -> Response:
    row = await visible_session(view)
    if row is None:
        return await view.render("dashboard/not_found.html", status=404)
    return await _session_response(view, row)


def _timeline(row: SessionRow, stored: list[dict[str, Any]]) -> Markup | None:
    if not stored:
        return None
    policy = row.parsed_policy
    events = [validate_event(raw, i) for i, raw in enumerate(stored)]
    points, episodes, exam_ms = timeline_series(events, policy, row.id)
    return charts.timeline(points, episodes, exam_ms, policy.trust_threshold)


@dashboard(post=True)
async def reveal(view: View) -> Response:
    """Reveal who the session's student is, for this reviewer, with a reason (audited)."""
    row = await visible_session(view)
    if row is None:
        return await view.render("dashboard/not_found.html", status=404)
    identities = view.state.identities
    visibility = await view.run(identities.visibility, row.institution_id)
    try:
        await view.run(
            identities.reveal,
            view.reviewer,
            view.who,
            row,
            visibility,
            str(view.form.get("reason", "")),
        )
    except OpenproctorError as exc:
        return await _session_response(view, row, reveal_error=exc.message, status=status_of(exc))
    return view.redirect("dashboard:session", "#identity", session_id=row.id)


async def _session_response(
    view: View, row: SessionRow, error: str = "", reveal_error: str = "", status: int = 200
) -> Response:
    events = await view.run(view.state.store.sessions.events, row.id)
    identities = view.state.identities
    visibility = await view.run(identities.visibility, row.institution_id)
    reveals = await view.run(identities.reveals, row.id)
    for entry in reveals:
        entry["when"] = when(entry["created_at"])
    attempt = await view.run(view.state.store.lms.attempt, row.id)
    decisions = await view.run(view.state.reviewers.decisions, row.id)
    for decision in decisions:
        decision["when"] = when(decision["created_at"])
        decision["label"] = OUTCOMES[decision["outcome"]]
    return await view.render(
        "dashboard/session.html",
        status=400 if error else status,
        session=_summary(row, attempt),
        identity=identity_of(row) if identities.shown(view.who, visibility, reveals) else None,
        may_reveal=identities.may_reveal(view.reviewer, visibility),
        visibility=visibility,
        reveals=reveals,
        reveal_error=reveal_error,
        breakdown=row.breakdown,
        student_actions=student_actions(row, events),
        explained=await view.run(view.state.store.explanations.of_session, row.id),
        verdicts=current_verdicts(await view.run(view.state.reviewers.verdicts, row.id)),
        score_versions=await view.run(view.state.store.sessions.score_versions, row.id),
        verdict_words=VERDICTS,
        flag_types=FLAG_TYPES,
        events=event_page(events, view.request.query_params.get("from")),
        timeline=await view.run(_timeline, row, events),
        decisions=decisions,
        outcomes=OUTCOMES,
        error=error,
    )
