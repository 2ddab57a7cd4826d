"""An LMS written for Constructor's simple integration, end to end in Chromium with only the
base URL and the secret changed: its page posts the start form, the browser lands on the exam
page (its own fragment kept) where the script tag starts proctoring, the LMS backend finishes
the session and reads its status, and the result arrives at its review_url, signed."""

from __future__ import annotations

import html
import json
import time

import httpx2 as httpx
import jwt
import pytest

from ..support import Receiver, constructor_guide_payload
from .conftest import LMS, SECRET


@pytest.fixture(autouse=True)
def _bounded_waits(page):
    page.set_default_timeout(30_000)


def _review_url(live_server, url: str) -> None:
    store = live_server.store()
    try:
        store.integrations.configure("lms", "test", review_url=url)
    finally:
        store.close()


@pytest.fixture
def review_receiver(live_server):
    receiver = Receiver()
    _review_url(live_server, receiver.url)
    yield receiver
    _review_url(live_server, "")
    receiver.close()


def constructor_token(session_id: str) -> str:
    """What Constructor's guide has the LMS backend sign (its example, with real values)."""
    payload = constructor_guide_payload(
        LMS + "/opentest#test/b3875623", sessionId=session_id, identification="face_and_passport"
    )
    return jwt.encode(payload, SECRET, algorithm="HS256")


def api_headers() -> dict[str, str]:
    return {"authorization": "JWT " + jwt.encode({"exp": int(time.time()) + 30}, SECRET)}


def test_a_constructor_integration_runs_unchanged(page, lms, live_server, review_receiver):
    base = live_server.base
    action = f"{base}/integration/simple/lms/start/"
    start_page = f"""<!doctype html><html><head><meta charset="utf-8">
<link rel="icon" href="data:,"></head><body><form method="post" action="{action}">
<input type="hidden" name="token" value="{html.escape(constructor_token("cflow-1"))}">
<button id="go">Start the proctored test</button></form></body></html>"""
    exam_page = f"""<!doctype html><html><head><meta charset="utf-8">
<link rel="icon" href="data:,"><script src="{base}/sdk/v1/loader.js" data-session-mode="lms"
  data-institution-key="uni-a" async></script></head>
<body><h1>Final test</h1><textarea id="answer"></textarea></body></html>"""
    lms("/opentest", exam_page)
    page.goto(lms("/course/7", start_page))
    page.click("#go")
    page.wait_for_url(f"{LMS}/opentest**")
    session_id = page.evaluate("() => openproctor.session.then(s => s.id)")
    assert page.evaluate("() => location.hash") == "#test/b3875623"  # its route; our token gone
    row = live_server.session(session_id)
    assert row.external_id == "cflow-1"
    said = [w["claim"] for w in row.warnings]
    assert said[0] == "identification" and "biometricIdentification" in said

    api = f"{base}/api/v2/integration/simple/lms/sessions/cflow-1"
    status = httpx.get(f"{api}/status/", headers=api_headers(), timeout=10).json()
    assert status["status"] == "started" and status["accountId"] == "123"
    finished = httpx.post(f"{api}/finish/", headers=api_headers(), timeout=10)
    assert finished.json() == {"message": "finished"}
    assert httpx.get(f"{api}/status/", headers=api_headers(), timeout=10).json()["status"] == (
        "finished"
    )

    deadline = time.monotonic() + 30  # the server's own background round sends it
    while not review_receiver.requests and time.monotonic() < deadline:
        time.sleep(0.25)
    assert review_receiver.requests, "no result reached the review_url"
    headers, body = review_receiver.requests[0]
    scheme, _, token = headers["authorization"].partition(" ")
    assert scheme == "JWT" and set(jwt.decode(token, SECRET, algorithms=["HS256"])) == {"exp"}
    result = json.loads(body)
    assert result["sessionId"] == "cflow-1" and result["accountId"] == "123"
    assert result["final"] is False and result["conclusion"] == "unknown"
    assert result["openproctor"]["not_done"][0]["claim"] == "identification"
