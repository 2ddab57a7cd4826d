"""The gate in Chromium: an exam with an access code (a Moodle quiz password, a Canvas access
code). The loader asks for it only once the server holds the session's signed start, fills
the LMS's password field (or shows it), and the code is in no request the SDK sends and in no
event of the log."""

from __future__ import annotations

import json

import httpx2 as httpx
import pytest

from openproctor.core import parse_policy
from openproctor.server.access_codes import AccessCodes
from openproctor.server.security.tokens import mint_start_token

from .conftest import SECRET, lms_page

GATED = "GATED-quiz"
CODE = "tulip-42-orchard"


@pytest.fixture(autouse=True)
def _bounded_waits(page):
    page.set_default_timeout(30_000)


@pytest.fixture(scope="module")
def gated_exam(live_server) -> str:
    store = live_server.store()
    try:
        store.policies.save("uni-a", parse_policy({"exam_id": GATED}), "test")
        AccessCodes(store, live_server.keyring).set("uni-a", GATED, CODE, "test")
    finally:
        store.close()
    return GATED


def grant(live_server, session_id: str) -> dict:
    jwt = mint_start_token(SECRET, user_id="student-g", exam_id=GATED, session_id=session_id)
    response = httpx.post(
        f"{live_server.base}/api/v1/sessions",
        json={"integrationName": "lms", "jwt": jwt},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def recorded(page) -> list[dict]:
    """Every request the page makes, in order, with its body and (once known) its status."""
    seen: list[dict] = []
    page.on("request", lambda r: seen.append({"url": r.url, "body": r.post_data or ""}))

    def finished(response) -> None:
        for entry in seen:
            if entry["url"] == response.url and "status" not in entry:
                entry["status"] = response.status
                break

    page.on("response", finished)
    return seen


def test_the_quiz_password_is_filled_once_proctoring_runs(page, lms, live_server, gated_exam):
    session = grant(live_server, "gate-moodle")
    assert session["gate"] is True
    seen = recorded(page)
    body = '<form id="quiz"><input type="password" name="quizpassword" id="pw"></form>'
    url = lms(
        "/quiz", lms_page(live_server.base, body=body, loader_attrs='data-session-mode="lms" async')
    )
    page.goto(f"{url}#openproctor_token={session['token']}")
    page.wait_for_function("(code) => document.getElementById('pw').value === code", arg=CODE)
    urls = [entry["url"] for entry in seen]
    asked = next(i for i, u in enumerate(urls) if u.endswith("/access-code"))
    # Asked for only after the server stored (acknowledged) the session's first events.
    stored = [
        i
        for i, entry in enumerate(seen)
        if entry["url"].endswith("/events") and entry.get("status") == 200
    ]
    assert stored and stored[0] < asked
    assert sum(u.endswith("/access-code") for u in urls) == 1
    page.evaluate("() => openproctor.session.then(s => s.finish()).then(() => true)")
    page.wait_for_function("() => openproctor.session.then(s => s.logUploaded).then(() => true)")
    assert not any(CODE in entry["body"] for entry in seen)
    assert CODE not in json.dumps(live_server.events(session["session_id"]))
    assert not page.query_selector('input[aria-label="Access code for this exam"]')


def test_without_a_password_field_the_code_is_shown(page, lms, live_server, gated_exam):
    session = grant(live_server, "gate-shown")
    url = lms("/plain", lms_page(live_server.base, loader_attrs='data-session-mode="lms" async'))
    page.goto(f"{url}#openproctor_token={session['token']}")
    shown = page.wait_for_selector('input[aria-label="Access code for this exam"]')
    page.wait_for_function(
        "(code) => document.querySelector('input[aria-label=\"Access code for this exam\"]')"
        ".value === code",
        arg=CODE,
    )
    assert shown.evaluate("e => e.readOnly") is True


def test_an_exam_without_a_code_asks_for_none(page, lms, live_server):
    session = live_server.start_session("gate-none")
    assert session["gate"] is False
    seen = recorded(page)
    url = lms("/nogate", lms_page(live_server.base, loader_attrs='data-session-mode="lms" async'))
    page.goto(f"{url}#openproctor_token={session['token']}")
    page.evaluate("() => openproctor.session.then(s => s.finish()).then(s => true)")
    assert not any(entry["url"].endswith("/access-code") for entry in seen)
