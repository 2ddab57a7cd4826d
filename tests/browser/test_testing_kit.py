"""openproctor.testing, the integrators' test kit, tested with its own fixtures: each signal helper
produces exactly the expected typed event in Chromium and in Firefox (or skips with its
documented reason), the privacy assertions catch a page that leaks, the record's assertions
fail with the breakdown, and ``openproctor check-page`` reports a CSP that blocks the worker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from openproctor.testing import (
    SignalUnsupported,
    agree,
    context_menu,
    copy_paste,
    focus_loss,
    fullscreen_exit,
    offline,
    print_attempt,
    second_display,
    tab_switch,
)

#: An integrator's exam page: the script tag, and init() with the JWT its backend minted.
EXAM = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>Quiz</title><script src="{server}/sdk/v1/loader.js"></script></head>
<body><h1>Quiz</h1><label for="answer">Answer</label><textarea id="answer"></textarea>
<script>
openproctor.init({{serverOrigin: "{server}", integrationName: "{integration}", jwt: "{jwt}"}})
  .then(function (s) {{
    window.s = s;
    s.on("state", function (x) {{ if (x.flags && x.flags.length) window.liveFlags = true; }});
    return s.examStarted;
  }})
  .then(function () {{ window.started = true; }}, function (e) {{ window.failure = e.message; }});
</script></body></html>"""


def exam_page(host, server, jwt: str, path: str = "/quiz") -> str:
    html = EXAM.format(server=server.url, integration=server.integration, jwt=jwt)
    return host.serve(path, html)


def start(page, url: str) -> None:
    page.goto(url)
    agree(page)  # the kit's exam keeps the default policy: the student agrees first
    page.wait_for_function("() => window.started || window.failure", timeout=60_000)
    assert page.evaluate("() => window.failure || null") is None
    page.wait_for_timeout(300)


def finish(page) -> None:
    page.evaluate("() => s.finish().then(() => s.logUploaded)")


@pytest.mark.parametrize("openproctor_browser_name", ["chromium", "firefox"])
def test_each_signal_helper_produces_exactly_its_event(
    openproctor_page,
    openproctor_browser_name,
    openproctor_server,
    openproctor_exam_host,
    openproctor_token,
):
    page, engine = openproctor_page, openproctor_browser_name
    session_id = f"kit-1-{engine}"
    start(page, exam_page(openproctor_exam_host, openproctor_server, openproctor_token(session_id)))
    tab_switch(page, seconds=2)
    # Longer than the normaliser's merge window: the switch's own blur and focus are folded
    # into it, and a window blur that began at once would count as part of the switch.
    page.wait_for_timeout(1200)
    focus_loss(page, seconds=1.5)
    for helper in (fullscreen_exit, offline, copy_paste, context_menu, print_attempt):
        page.wait_for_timeout(300)
        helper(page)
    page.wait_for_timeout(300)
    if engine == "chromium":
        second_display(page, seconds=1.5)
    else:
        with pytest.raises(SignalUnsupported, match="does not implement screen.isExtended"):
            second_display(page)
    page.wait_for_timeout(300)
    finish(page)
    assert page.evaluate("() => window.liveFlags === true")  # the page's listener saw them live

    record = openproctor_server.session(session_id)
    record.assert_verified()
    record.assert_flag("tab_switch", count=1, min_seconds=2, max_seconds=6)
    record.assert_flag("focus_loss", count=1, min_seconds=1.5, max_seconds=5)
    record.assert_flag("fullscreen_exit", count=1)
    record.assert_flag("network_offline", count=1, min_seconds=1.5, max_seconds=6)
    copies = record.assert_flag("copy_paste", count=2)
    assert [e["data"]["action"] for e in copies] == ["copy", "paste"]
    record.assert_flag("context_menu", count=1)
    record.assert_flag("print_attempt", count=1)
    record.assert_flag("multiple_displays", count=1 if engine == "chromium" else 0)
    expected = {
        "tab_switch",
        "focus_loss",
        "fullscreen_exit",
        "network_offline",
        "copy_paste",
        "context_menu",
        "print_attempt",
    } | ({"multiple_displays"} if engine == "chromium" else set())
    assert {e["type"] for e in record.flags()} == expected  # nothing else was produced


def test_the_record_assertions_fail_with_the_breakdown(
    openproctor_page, openproctor_server, openproctor_exam_host, openproctor_token
):
    page = openproctor_page
    start(page, exam_page(openproctor_exam_host, openproctor_server, openproctor_token("kit-2")))
    tab_switch(page, seconds=1)
    page.wait_for_timeout(500)
    finish(page)
    record = openproctor_server.session("kit-2")
    record.assert_verified()
    with pytest.raises(AssertionError) as failed:
        record.assert_not_flagged()
    assert "tab_switch: 1 (" in str(failed.value) and "signed chain" in str(failed.value)
    with pytest.raises(AssertionError, match="a tab_switch lasted .* less than 30"):
        record.assert_flag("tab_switch", count=1, min_seconds=30)
    with pytest.raises(AssertionError, match="expected 2 focus_loss, found 0"):
        record.assert_flag("focus_loss", count=2)
    with pytest.raises(ValueError, match="not a flag type"):
        record.assert_flag("tab-switch")


LEAKY = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
</head><body><textarea id="answer"></textarea><script>
// An "analytics" worker this page should never have: it sends what the student typed.
var worker = new Worker("/leaky-worker.js");
document.getElementById("answer").addEventListener("change", function (e) {
  worker.postMessage(e.target.value);
});
</script></body></html>"""
LEAKY_WORKER = """onmessage = function (e) {
  fetch("http://127.0.0.1:9/collect", {method: "POST", body: JSON.stringify({text: e.data})})
    .catch(function () {});
};"""


def test_the_privacy_assertions_catch_a_worker_that_leaks(
    openproctor_page, openproctor_requests, openproctor_exam_host, openproctor_server
):
    marker = "MARKER-kit-8c1e typed answer"
    url = openproctor_exam_host.serve("/leaky", LEAKY)
    openproctor_exam_host.serve(
        "/leaky-worker.js", LEAKY_WORKER, {"content-type": "text/javascript"}
    )
    page = openproctor_page
    page.goto(url)
    page.fill("#answer", marker)
    page.locator("#answer").blur()
    page.wait_for_timeout(1000)
    leaks = [r for r in openproctor_requests.requests if r.url.endswith("/collect")]
    assert leaks  # only the worker makes this request: the recorder sees workers' requests
    with pytest.raises(AssertionError, match="went to an origin other than") as elsewhere:
        openproctor_requests.assert_only_origins(
            openproctor_exam_host.origin, openproctor_server.url
        )
    assert "http://127.0.0.1:9/collect" in str(elsewhere.value)
    with pytest.raises(AssertionError, match="carried the marker") as leaked:
        openproctor_requests.assert_no_content_left(marker)
    assert "/collect" in str(leaked.value) and "in its body" in str(leaked.value)
    openproctor_requests.assert_no_content_left("a text nobody typed")


def check_page(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openproctor.server.cli", "check-page", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_page_reports_a_working_page_and_a_csp_that_blocks_the_worker(
    openproctor_server, openproctor_exam_host, openproctor_token
):
    good = exam_page(openproctor_exam_host, openproctor_server, openproctor_token(), "/good")
    done = check_page(good, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["loader_found"] and report["problems"] == []
    assert 0 < report["started_ms"] <= report["ready_ms"]  # the exam starts before the core
    assert report["servers"] == [openproctor_server.url]

    # The page's CSP allows the loader's origin for scripts but not for workers.
    csp = f"script-src 'unsafe-inline' {openproctor_server.url}; worker-src 'none'"
    html = EXAM.format(
        server=openproctor_server.url,
        integration=openproctor_server.integration,
        jwt=openproctor_token(),
    )
    blocked = openproctor_exam_host.serve("/blocked", html, {"content-security-policy": csp})
    done = check_page(blocked, "--timeout", "20")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "CSP violation: worker-src blocked" in done.stdout
    assert "the SDK reported an error" in done.stdout and "PROBLEMS FOUND" in done.stdout

    done = check_page("http://127.0.0.1:9/nothing-listens-here")
    assert done.returncode == 2 and "the page did not load" in done.stdout
