"""The demo: a sample exam page with a fake LMS backend that mints the integration JWT; at the
end the student follows the record link to see what was recorded (record.py). Served with a
strict Content-Security-Policy, the one docs/sdk.md tells integrators to use, so the demo proves
the SDK runs under it."""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import Conflict
from ..security.tokens import mint_start_token
from ..services import Services
from .http import services
from .pages import page

HERE = Path(__file__).resolve().parent
INTEGRATION = "demo"
INSTITUTION = "demo-university"
EXAM_ID = "demo-exam"


def ensure_demo_integration(state: Services) -> None:
    """Register the demo integration once (same-origin only, random secret)."""
    if state.store.integrations.get(INTEGRATION) is None:
        secret = secrets.token_urlsafe(32)
        with contextlib.suppress(Conflict):  # another worker may have registered it first
            state.store.integrations.add(
                INTEGRATION,
                INSTITUTION,
                state.keyring.encrypt(secret),
                [],
                institution_name="Demo University",
            )


async def exam_page(request: Request) -> Response:
    return page("demo_exam.html")


async def fake_lms_start(request: Request) -> JSONResponse:
    """What an LMS backend does: sign a JWT for the logged-in student with its secret."""
    state = services(request)
    integration = await run_in_threadpool(state.store.integrations.get, INTEGRATION)
    assert integration is not None
    student = "demo-student-" + secrets.token_hex(3)
    token = mint_start_token(
        state.keyring.decrypt(integration.secret_enc),
        user_id=student,
        exam_id=EXAM_ID,
        session_id="demo-" + secrets.token_hex(6),
        exam_name="Demo exam: the openproctor quiz",
        duration=30,
        first_name="Demo",
        last_name="Student",
    )
    return JSONResponse({"integrationName": INTEGRATION, "jwt": token})


routes = [
    Route("/demo", exam_page, methods=["GET"]),
    Route("/demo/lms/start", fake_lms_start, methods=["POST"]),
    Mount("/demo/static", StaticFiles(directory=HERE / "static"), name="demo-static"),
]
