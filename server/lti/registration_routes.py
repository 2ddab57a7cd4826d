"""``/lti/register/{code}``: LTI Dynamic Registration's endpoint, the URL an administrator
pastes into the LMS (lti/dynamic_registration.py does the exchange)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import Invalid, OpenproctorError
from ..security import validation
from ..web.http import own_origin, services, status_of
from ..web.pages import page
from .dynamic_registration import OPTIONAL_MESSAGES

CLAIM = "openid_configuration"


async def register(request: Request) -> Response:
    state = services(request)
    configuration = request.query_params.get(CLAIM, "")
    # The LMS frames this page (Canvas opens it in an iframe): allow its origin.
    frame = []
    if configuration and validation.url_problem(configuration) is None:
        parts = urlsplit(configuration)
        frame.append(f"{parts.scheme}://{parts.netloc}")
    try:
        if not configuration:
            raise Invalid(
                "missing_parameter",
                "the request lacks openid_configuration: paste this URL into your LMS's "
                "dynamic registration (Moodle: Manage tools; Canvas: Developer Keys → LTI "
                "Registration) rather than opening it here",
            )
        done = await run_in_threadpool(
            state.lti_registration.register,
            request.path_params["code"],
            configuration,
            request.query_params.get("registration_token", ""),
            own_origin(request, state.settings.public_origin),
        )
    except OpenproctorError as exc:
        return page("lti_error.html", status=status_of(exc), frame_ancestors=frame, error=exc)
    messages = ["LtiResourceLinkRequest"] + [
        m for m in OPTIONAL_MESSAGES if m in done.platform.messages_supported
    ]
    missing = [s for s in done.asked_scopes if s not in done.granted_scopes]
    return page(
        "lti_registered.html",
        frame_ancestors=frame,
        done=done,
        messages=messages,
        missing=missing,
    )


routes = [Route("/lti/register/{code}", register, methods=["GET"])]
