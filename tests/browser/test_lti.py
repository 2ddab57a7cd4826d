"""From the LMS's launch to the student seeing the exam with the SDK running, in Chromium.

The LMS is lti1p3platform (tests/lti_platform.py) answering on the LMS origin through
Playwright; its key set is on a real loopback server (the tool fetches it), and it checks the
tool's LtiStartAssessment against the tool's real /lti/jwks.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx2 as httpx
import pytest

from openproctor.server.lti.launch import OPENPROCTOR_CLAIM

from ..lti_platform import LEARNER, LaunchSpec, Platform, serve_jwks
from .conftest import LMS


@pytest.fixture(scope="module")
def platform(live_server, exam_host) -> Iterator[Platform]:
    platform = Platform(live_server.base, issuer=LMS, base=LMS, client_id="browser-client")
    with serve_jwks(platform) as (jwks_url, _):
        store = live_server.store()
        try:
            integration = store.integrations.get("lms")
            assert integration is not None
            store.lti.add_registration(
                integration.id,
                platform.issuer,
                platform.client_id,
                [platform.deployment_id],
                auth_url=LMS + "/auth",
                jwks_url=jwks_url,
                exam_url=f"{exam_host}/quiz?server={live_server.base}",
            )
        finally:
            store.close()
        yield platform


ASSESSMENT = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<script src="{loader}" data-session-mode="lms" data-session-token="{token}" async></script>
</head><body><h1>{title}</h1><p id="question">2 + 2 = ?</p><textarea id="answer"></textarea>
</body></html>"""


@pytest.fixture
def lms_platform(context, live_server, platform) -> Platform:
    """The LMS's pages: launch, OIDC authorisation, the assessment and the quiz page."""

    def handler(route: Any) -> None:
        try:
            serve(route)
        except Exception as exc:  # shown in the test's output instead of a bare network error
            route.fulfill(status=500, body=f"test platform failed: {exc!r}")
            raise

    def serve(route: Any) -> None:
        request = route.request
        path = request.url[len(LMS) :].split("?")[0].split("#")[0]
        if path == "/launch":
            query = parse_qs(request.url.split("?", 1)[1])
            spec = LaunchSpec(user=query["user"][0], roles=[LEARNER], kind=query["kind"][0])
            # The LMS page sends the browser on (Chromium refuses a fulfilled 302 to a new
            # origin from an intercepted navigation on this port).
            target = json.dumps(platform.login_url(spec))
            body = f"<script>location.replace({target})</script>"
            route.fulfill(body=body, content_type="text/html")
        elif path == "/auth":
            launch = platform.authorize(request.url)
            fields = "".join(
                f'<input type="hidden" name="{k}" value="{html.escape(launch[k])}">'
                for k in ("id_token", "state")
            )
            body = (
                f'<form id="f" method="post" action="{launch["launch_url"]}">{fields}</form>'
                "<script>document.getElementById('f').submit()</script>"
            )
            route.fulfill(body=body, content_type="text/html")
        elif path == "/start-assessment":
            message = parse_qs(request.post_data)["JWT"][0]
            tool_keys = httpx.get(live_server.base + "/lti/jwks", timeout=10).json()
            claims = platform.check_tool_message(message, tool_keys)
            session = claims[OPENPROCTOR_CLAIM]
            body = ASSESSMENT.format(
                loader=session["loader_url"], token=session["token"], title="Proctored quiz"
            )
            route.fulfill(body=body, content_type="text/html")
        else:
            route.fulfill(status=404, body="not found")

    context.route(f"{LMS}/**", handler)
    context.grant_permissions(["local-network-access"])
    return platform


def _running(page: Any) -> dict[str, Any]:
    session_id = page.evaluate("() => openproctor.session.then(s => { window.s = s; return s.id })")
    page.wait_for_function("() => s.state.ready && s.state.acknowledged >= 0", timeout=60_000)
    return {"id": session_id, **page.evaluate("() => s.state")}


def test_proctoring_services_launch_reaches_the_exam_with_the_sdk_running(
    page, lms_platform, live_server
):
    page.goto(f"{LMS}/launch?user=student-lti-1&kind=start_proctoring")
    page.wait_for_url(f"{LMS}/start-assessment")
    assert page.inner_text("h1") == "Proctored quiz"
    state = _running(page)
    assert state["error"] is None
    ap = "https://purl.imsglobal.org/spec/lti-ap/claim/"
    received = lms_platform.received[-1]
    assert received[ap + "session_data"] == "platform-session-student-lti-1"
    row = live_server.session(state["id"])
    assert row.user_id == "student-lti-1" and row.context_id == "course-42"
    events = live_server.events(state["id"])
    assert events and events[0]["type"] == "session_start"


def test_resource_link_launch_sends_the_learner_to_the_exam_page(
    page, lms_platform, live_server, exam_host
):
    page.goto(f"{LMS}/launch?user=student-lti-2&kind=resource")
    quiz = f"{exam_host}/quiz?server={live_server.base}"
    page.wait_for_url(quiz + "*")
    state = _running(page)
    assert page.url == quiz  # the token was read from the fragment and removed
    assert state["error"] is None
    assert live_server.session(state["id"]).user_id == "student-lti-2"
    assert json.loads(live_server.session(state["id"]).user_json)["source"] == "lti"
