"""Server-rendered pages: one Jinja2 environment (autoescaped) and the security headers every
page carries. The CSP allows our own scripts and styles only; ``frame_ancestors`` lists the LMS
origins that may show a page in an iframe (LTI launches and the dashboard)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

HERE = Path(__file__).resolve().parent

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
)


def when(epoch: float | None) -> str:
    """A stored time (UNIX seconds) as the pages show it."""
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


templates.filters["when"] = when

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
    **context: object,
) -> HTMLResponse:
    ancestors = " ".join(["'self'", *sorted(set(frame_ancestors))])
    html = templates.get_template(name).render(**context)
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
