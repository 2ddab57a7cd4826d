"""What every dashboard request passes: :class:`RequireReviewer` (the dashboard's middleware)
finds the signed-in reviewer, else sends the browser to the login page; :func:`dashboard`
checks the admin role where a page changes settings and, for a POST, a size-bounded form that
carries the CSRF token bound to the reviewer's cookie. Endpoints receive a :class:`View`."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ...access import Reviewer
from ...services import Services
from ..http import read_form as read_posted_form
from ..http import services
from ..pages import page
from .auth import csrf_ok, current_reviewer

P = ParamSpec("P")
T = TypeVar("T")
MAX_FORM_BYTES = 16 * 1024
MAX_FORM_FIELDS = 60


async def read_form(request: Request) -> FormData:
    """A dashboard form: at most MAX_FORM_BYTES and MAX_FORM_FIELDS."""
    return await read_posted_form(request, MAX_FORM_BYTES, MAX_FORM_FIELDS)


def frame_origins(state: Services, reviewer: Reviewer) -> list[str]:
    """An LTI reviewer sees the dashboard inside the LMS: its registered origins may frame it."""
    if reviewer.context_id is None:
        return []
    integrations = state.store.integrations.of_institution(reviewer.institution_id)
    return sorted(origin for integration in integrations for origin in integration.allowed_origins)


@dataclass
class View:
    """One dashboard request: who asks, the app's services, and the form of a POST."""

    request: Request
    state: Services
    reviewer: Reviewer
    csrf: str
    form: FormData = field(default_factory=FormData)

    @property
    def who(self) -> str:
        """How the reviewer is recorded on what they decide or change."""
        return f"{self.reviewer.name} ({self.reviewer.role})"

    def field(self, name: str) -> str:
        value = self.form.get(name, "")
        return value.strip() if isinstance(value, str) else ""

    def fields(self, name: str) -> list[str]:
        return [v for v in self.form.getlist(name) if isinstance(v, str)]

    def url(self, name: str, **params: Any) -> str:
        """The path of a named route (``dashboard:session`` ...), for links and redirects."""
        return url_path(self.request, name, **params)

    def redirect(self, name: str, suffix: str = "", **params: Any) -> Response:
        """303 to a named route (``suffix``: a query string or a fragment)."""
        return RedirectResponse(self.url(name, **params) + suffix, 303)

    async def render(self, template: str, status: int = 200, **context: Any) -> Response:
        frames = await run_in_threadpool(frame_origins, self.state, self.reviewer)
        return page(
            template,
            status=status,
            frame_ancestors=frames,
            reviewer=self.reviewer,
            csrf=self.csrf,
            url=self.url,
            **context,
        )

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking work (the database) off the event loop."""
        return await run_in_threadpool(fn, *args, **kwargs)

    async def audit(self, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
        """Append what this reviewer just did to the institution's audit log."""
        await self.run(
            self.state.store.audit.record,
            self.reviewer.institution_id,
            self.who,
            action,
            target,
            detail,
        )


def url_path(request: Request, name: str, **params: Any) -> str:
    return str(request.app.url_path_for(name, **params))


class RequireReviewer:
    """The dashboard's middleware: every request but sign-in needs a reviewer whose server-side
    session is open (looked up once, then ``request.state.reviewer``), else the browser is sent
    to the login page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        login = url_path(request, "dashboard:login")
        if scope["type"] != "http" or scope["path"] == login:
            await self.app(scope, receive, send)
            return
        state = services(request)
        reviewer = await run_in_threadpool(
            current_reviewer, request, state.keyring, state.reviewers
        )
        if reviewer is None:
            await RedirectResponse(login, 303)(scope, receive, send)
            return
        scope.setdefault("state", {})["reviewer"] = reviewer
        await self.app(scope, receive, send)


Endpoint = Callable[[View], Awaitable[Response]]


def dashboard(*, admin: bool = False, post: bool = False) -> Callable[[Endpoint], Any]:
    """Wrap a dashboard endpoint: ``admin`` pages answer 403 to other roles; ``post`` endpoints
    read the bounded form and refuse a wrong CSRF token."""

    def wrap(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(endpoint)
        async def handler(request: Request) -> Response:
            state = services(request)
            reviewer: Reviewer = request.state.reviewer  # set by RequireReviewer
            view = View(request, state, reviewer, state.keyring.csrf_token(reviewer.token))
            if admin and reviewer.role != "admin":
                return await view.render(
                    "dashboard/forbidden.html",
                    status=403,
                    reason="This page is for institution administrators.",
                )
            if post:
                view.form = await read_form(request)
                if not csrf_ok(state.keyring, reviewer, view.form.get("csrf")):
                    return await view.render(
                        "dashboard/forbidden.html",
                        status=403,
                        reason="The form expired or did not come from this dashboard; "
                        "go back, reload the page and try again.",
                    )
            return await endpoint(view)

        return handler

    return wrap
