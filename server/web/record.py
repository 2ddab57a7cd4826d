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

from ..errors import Gone, NotFound, OpenproctorError
from ..evidence import build_bundle
from ..explanations import MAX_CHARS, may_explain, window_closes
from ..i18n import DEFAULT, N_, translations
from ..integrity import STATUS_WORDS, integrity_label
from ..notice import explain as explain_line
from ..notice import student_actions
from ..services import Services
from ..storage.rows import SessionRow
from .http import own_origin, read_form, services, status_of
from .pages import accepted_language, event_page, page


async def _session(request: Request) -> tuple[Services, SessionRow | None]:
    state = services(request)
    session_id = request.path_params["session_id"]
    key = request.query_params.get("key", "")
    if not key or not state.keyring.check_record_key(session_id, key):
        return state, None
    return state, await run_in_threadpool(state.store.sessions.get, session_id)


#: What the record page tells the student when an explanation is refused, by error code (the
#: server's English messages stay in the API and the logs).
REFUSALS = {
    "explanation_not_text": N_("The explanation must be text."),
    "explanation_empty": N_("The explanation is empty."),
    "explanation_too_long": N_(
        "The explanation is %(length)s characters long; at most %(most)s are kept."
    ),
    "explanation_control": N_("The explanation holds control characters."),
    "invalid_seq": N_("That is not a flagged event of this session."),
    "unknown_episode": N_("That is not a flagged event of this session."),
    "explanations_closed": N_(
        "Explanations can no longer be added to this session (the exam allows them for "
        "%(days)s days after the exam)."
    ),
    "rate_limited": N_("Too many explanations in a short time: wait a minute and try again."),
    "too_many_explanations": N_("This session already holds the most explanations it can keep."),
    "session_purged": N_("This session's log was deleted under the retention policy."),
}


def _refusal(row: SessionRow, exc: OpenproctorError) -> str:
    template = REFUSALS.get(exc.code)
    if template is None:
        return exc.message
    values = {
        "length": exc.extra.get("length", ""),
        "most": MAX_CHARS,
        "days": row.policy.get("explanation_days", 7),
    }
    return translations(row.lang or DEFAULT).gettext(template) % values


def _missing(request: Request) -> Response:
    """A link that finds nothing, in the language the browser asks for."""
    return page("record_missing.html", status=404, lang=accepted_language(request))


async def record_page(request: Request) -> Response:
    state, row = await _session(request)
    if row is None:
        return _missing(request)
    return await _record(state, row, request)


async def _record(
    state: Services,
    row: SessionRow,
    request: Request,
    status: int = 200,
    notice: str = "",
    error: str = "",
    text: str = "",
    error_seq: int | None = None,
) -> Response:
    events = await run_in_threadpool(state.store.sessions.events, row.id)
    explained = await run_in_threadpool(state.store.explanations.of_session, row.id)
    policy = row.policy
    lang = row.lang or DEFAULT
    _ = translations(lang).gettext
    deleted_on = datetime.fromtimestamp(
        row.started_at + policy["log_retention_days"] * 86400, UTC
    ).strftime("%Y-%m-%d")
    closes = window_closes(row)
    return page(
        "record.html",
        status=status,
        lang=lang,
        session=row,
        status_word=_(STATUS_WORDS.get(row.status, row.status)),
        explained=explained,
        may_explain=may_explain(row),
        explain_until=datetime.fromtimestamp(closes, UTC).strftime("%Y-%m-%d %H:%M UTC"),
        flag_types=FLAG_TYPES,
        max_chars=MAX_CHARS,
        notice=notice,
        error=error,
        error_seq=error_seq,
        text=text,
        integrity=_(integrity_label(row)),
        policy=policy,
        not_counted=[f for f in FLAG_TYPES if f not in policy["flags_enabled"]],
        breakdown=[explain_line(line, lang) for line in row.breakdown],
        student_actions=student_actions(row, events, lang),
        events=event_page(events, request.query_params.get("from")),
        deleted_on=deleted_on,
        key=request.query_params["key"],
    )


async def explain(request: Request) -> Response:
    """The student's explanation of one flagged episode (the form on the record page)."""
    state, row = await _session(request)
    if row is None:
        return _missing(request)
    form = await read_form(request, limit=8192, max_fields=4)
    seq, text = form.get("seq"), form.get("text")
    try:
        number = await run_in_threadpool(state.explanations.explain, row, seq, text)
    except OpenproctorError as exc:
        spot = int(seq) if isinstance(seq, str) and seq.isdigit() and len(seq) < 10 else None
        typed = text if isinstance(text, str) else ""
        said = _refusal(row, exc)
        return await _record(state, row, request, status_of(exc), "", said, typed, spot)
    saved = translations(row.lang or DEFAULT).gettext("Your explanation of event %(seq)s is saved.")
    return await _record(state, row, request, notice=saved % {"seq": number})


async def evidence(request: Request) -> Response:
    state, row = await _session(request)
    if row is None:
        raise NotFound("unknown_session", "no such session, or the link's key is wrong")
    if row.purged_at is not None:
        raise Gone("session_purged", "this session's log was deleted under the retention policy")
    events = await run_in_threadpool(state.store.sessions.events, row.id)
    explained = await run_in_threadpool(state.store.explanations.of_session, row.id)
    bundle = await run_in_threadpool(
        build_bundle,
        row,
        events,
        state.keyring.session_keys(row.id)[0].reveal(),
        state.lti_keys,
        own_origin(request, state.settings.public_origin),
        [explained[seq] for seq in sorted(explained)],
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
    Route("/record/{session_id}/explanations", explain, methods=["POST"]),
]
