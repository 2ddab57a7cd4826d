"""The reviewer's pages in Chromium: sign in, the queue, a flagged session, a decision; with the
accessibility basics (labels, keyboard, contrast of the score colours). pytest-playwright keeps a
screenshot of a failing page (--screenshot=only-on-failure, in pyproject)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx2 as httpx
import pytest

from openproctor.core import Signer

from ..support import ENVIRONMENT

PASSWORD = "a long reviewer password"


def add_account(live_server, name: str, role: str) -> str:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "openproctor.server.cli",
            "reviewer",
            "add",
            name,
            "--institution",
            "uni-a",
            "--role",
            role,
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        text=True,
        env={**os.environ, "OPENPROCTOR_DATABASE_URL": live_server.database_url},
        check=True,
        capture_output=True,
    )
    return name


@pytest.fixture(scope="module")
def reviewer(live_server) -> str:
    return add_account(live_server, "rita", "reviewer")


@pytest.fixture(scope="module")
def admin(live_server) -> str:
    return add_account(live_server, "adam", "admin")


def sign_in(page, live_server, name: str) -> None:
    page.goto(f"{live_server.base}/dashboard/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.base}/dashboard")


@pytest.fixture(scope="module")
def flagged(live_server) -> str:
    """A session with many tab switches, uploaded by a protocol-level client."""
    grant = live_server.start_session("dashboard-flagged-1", user_id="student-dash")
    signer = Signer(bytes.fromhex(grant["signing_key"]), grant["session_id"])
    events = [
        signer.sign(
            0, "session_start", {"sdk_version": "0.1.0", **ENVIRONMENT, "heartbeat_ms": 15000}
        )
    ]
    events += [
        signer.sign(1000 * (i + 1), "tab_switch", {"duration_ms": 40_000, "count": 1})
        for i in range(6)
    ]
    response = httpx.post(
        f"{live_server.base}/api/v1/sessions/{grant['session_id']}/events",
        json={"events": [e.to_dict() for e in events]},
        headers={"authorization": f"Bearer {grant['token']}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return str(grant["session_id"])


CONTRAST = """() => {
  function lum(rgb) {
    const c = rgb.match(/\\d+/g).slice(0, 3).map(Number).map(v => {
      v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }
  const bg = lum(getComputedStyle(document.body).backgroundColor);
  return ["score-bad", "score-mid", "score-good"].map(name => {
    const el = document.createElement("span"); el.className = name; document.body.appendChild(el);
    const fg = lum(getComputedStyle(el).color); el.remove();
    return [name, (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05)];
  });
}"""

UNLABELLED = """() => Array.from(document.querySelectorAll(
  "input:not([type=hidden]), select, textarea")).filter(el => {
    const byFor = el.id && document.querySelector(`label[for="${el.id}"]`);
    return !byFor && !el.closest("label");
  }).map(el => el.name)"""


def test_review_a_flagged_session(page, live_server, reviewer, flagged):
    page.goto(f"{live_server.base}/dashboard")
    assert page.url.endswith("/dashboard/login")
    assert page.evaluate(UNLABELLED) == []
    page.fill("#username", reviewer)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")  # the form works from the keyboard
    page.wait_for_url(f"{live_server.base}/dashboard")
    row = page.locator(f'tr[data-session="{flagged}"]')
    assert "flagged" in row.inner_text()
    for name, ratio in page.evaluate(CONTRAST):
        assert ratio >= 4.5, f"{name} contrast {ratio:.2f} is below WCAG AA"
    # Keyboard: tab to the session's link and follow it.
    link = row.locator("a")
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.base}/dashboard/sessions/{flagged}")
    assert "tab switched" in page.inner_text("#breakdown")
    assert "flagged for review" in page.inner_text("#flagged")
    assert page.evaluate(UNLABELLED) == []
    page.check("input[value=violation_confirmed]")
    page.fill("#comment", "six long tab switches")
    page.click("text=Record the decision")
    page.wait_for_url(f"**/dashboard/sessions/{flagged}#decisions")
    assert "violation confirmed" in page.inner_text("#current-decision")
    assert "rita (reviewer)" in page.inner_text("#current-decision")


def test_an_admin_edits_and_promotes_a_policy(page, live_server, admin, flagged):
    sign_in(page, live_server, admin)
    page.click("nav >> text=Exam policies")
    page.click("#policies >> text=CS101-final")
    assert page.evaluate(UNLABELLED) == []
    page.fill("#trust_threshold", "1.4")
    page.click("#save")
    assert "must be from 0 to 1" in page.inner_text("#trust_threshold-error")
    assert page.get_attribute("#trust_threshold", "aria-invalid") == "true"
    page.fill("#trust_threshold", "0.6")
    page.uncheck("input[name=flags_enabled][value=context_menu]")
    page.focus("#heartbeat_seconds")
    page.keyboard.press("Enter")  # submits from the keyboard
    page.wait_for_url("**/dashboard/policies/CS101-final?done=saved")
    diff = page.inner_text("#diff")
    assert "trust threshold\t0.7\t0.6" in diff and "context_menu" in diff
    page.click("#promote")
    page.wait_for_url("**?done=promoted")
    assert "Promoted to production" in page.inner_text("#notice")
    assert "No differences" in page.inner_text("#diff")
    new = live_server.start_session("after-promotion", user_id="student-promo")
    assert new["policy"]["trust_threshold"] == 0.6


def test_a_reviewer_reads_the_report_and_exports_it(page, live_server, reviewer, flagged):
    sign_in(page, live_server, reviewer)
    page.click("nav >> text=Reports")
    page.select_option("#exam", "CS101-final")
    page.click("text=Show")
    page.wait_for_url("**/dashboard/reports?exam=CS101-final")
    assert page.evaluate(UNLABELLED) == []
    assert int(page.inner_text("#count-sessions")) >= 1
    chart = page.locator("#histogram svg")
    assert chart.get_attribute("role") == "img"
    assert "Sessions by trust score" in chart.locator("title").text_content()
    assert page.locator('#flag-rates tr[data-flag="tab_switch"]').count() == 1
    assert "No reviewer decisions yet" in page.inner_text("#calibration-message") or (
        "Calibration needs" in page.inner_text("#calibration-message")
    )
    with page.expect_download() as download:
        page.click("#csv")
    text = Path(download.value.path()).read_text()
    assert text.startswith("session_id,lms_attempt,course,exam_id,started_at") and flagged in text
