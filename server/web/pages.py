"""Server-rendered pages: one Jinja2 environment (autoescaped) and the security headers every
page carries. The CSP allows our own scripts and styles only; ``frame_ancestors`` lists the LMS
origins that may show a page in an iframe (LTI launches and the dashboard)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from ..i18n import DEFAULT, LANGUAGES, MAX_PREFERENCES, choose, translations

HERE = Path(__file__).resolve().parent


def when(epoch: float | None) -> str:
    """A stored time (UNIX seconds) as the pages show it."""
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


@functools.cache
def environment(lang: str = DEFAULT) -> Environment:
    """The pages' Jinja2 environment in ``lang``: ``{% trans %}`` blocks come from its catalog
    (server/i18n.py); the reviewers' pages use English."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["when"] = when
    env.globals["lang"] = lang
    return env


templates = environment(DEFAULT)


def accepted_language(request: Any) -> str:
    """The language a page with no session behind it answers in: the browser's
    ``Accept-Language`` (server/i18n.py chooses; quality values are read in order)."""
    accept = str(request.headers.get("accept-language", ""))[:500]
    return choose([part.split(";")[0].strip() for part in accept.split(",")[:MAX_PREFERENCES]])


BASE_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
    "connect-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'"
)


def page(
    name: str,
    status: int = 200,
    frame_ancestors: Iterable[str] = (),
    headers: dict[str, str] | None = None,
    lang: str = DEFAULT,
    **context: object,
) -> HTMLResponse:
    ancestors = " ".join(["'self'", *sorted(set(frame_ancestors))])
    html = environment(lang if lang in LANGUAGES else DEFAULT).get_template(name).render(**context)
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "content-security-policy": f"{BASE_CSP}; frame-ancestors {ancestors}",
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "cache-control": "no-store",
            **(headers or {}),
        },
    )


#: Rows of a signed log shown per page (a session may hold up to Limits.max_events_per_session).
EVENTS_PER_PAGE = 500


@dataclass(frozen=True)
class EventPage:
    """One page of a session's events for a table, and where the neighbouring pages start."""

    events: Sequence[Any]
    start: int
    total: int

    @property
    def end(self) -> int:
        return self.start + len(self.events)

    @property
    def previous(self) -> int | None:
        return max(0, self.start - EVENTS_PER_PAGE) if self.start else None

    @property
    def next(self) -> int | None:
        return self.end if self.end < self.total else None


def event_page(events: Sequence[Any], requested: str | None) -> EventPage:
    """The page of ``events`` starting at the ``from`` query parameter (clamped to the log)."""
    start = int(requested) if requested and requested.isdigit() and len(requested) < 10 else 0
    start = min(start, max(0, len(events) - 1)) // EVENTS_PER_PAGE * EVENTS_PER_PAGE
    return EventPage(events[start : start + EVENTS_PER_PAGE], start, len(events))
