"""The SDK in Chromium: boot in a worker, real signals to typed events, session end, the chain
verified by the CPython core, golden vectors, privacy, a strict CSP, and failures reported."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from openproctor.core import SDK_VERSION, verify_log
from openproctor.testing import RequestRecorder, agree

from .conftest import LMS, lms_page


@pytest.fixture(autouse=True)
def _bounded_waits(page):
    """Promises awaited through page.evaluate have no timeout of their own: bound them."""
    page.set_default_timeout(30_000)


VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "chain_v1.json").read_text())


def start_programmatic(page, live_server, session_id: str) -> str:
    """openproctor.init() as an integrator calls it; returns the session id once ready."""
    jwt = live_server.jwt(session_id)
    return page.evaluate(
        """([server, jwt]) => openproctor.init({serverOrigin: server, integrationName: "lms", jwt})
             .then(s => { window.s = s; window.states = []; s.on("state", x => states.push(
               JSON.parse(JSON.stringify(x)))); return s.id; })""",
        [live_server.base, jwt],
    )


def finish(page) -> dict:
    return page.evaluate("() => s.finish().then(() => s.logUploaded)")


def logged_types(live_server, session_id: str) -> list[str]:
    return [e["type"] for e in live_server.events(session_id)]


def verified(live_server, session_id: str):
    log = verify_log(session_id, live_server.events(session_id), live_server.keys(session_id))
    row = live_server.session(session_id)
    assert row.complete and row.status == "finished" and not row.score_mismatch
    return log


def test_script_tag_boots_in_a_worker_and_reaches_ready(page, lms, live_server):
    grant = live_server.start_session("tag-1")
    url = lms(
        "/exam",
        lms_page(
            live_server.base,
            loader_attrs=('data-institution-key="uni-a" data-session-mode="lms" async'),
        ),
    )
    page.goto(f"{url}#openproctor_token={grant['token']}&section=2")
    session_id = page.evaluate("() => openproctor.session.then(s => { window.s = s; return s.id })")
    assert session_id == grant["session_id"]
    state = page.evaluate("() => s.ready.then(() => s.state)")
    assert state["ready"] and state["bootMs"] > 0 and state["error"] is None
    assert len(page.workers) == 1  # Pyodide runs in a worker, not on the page
    # The token was read once and removed from the address bar; other fragments stay.
    assert page.url == f"{url}#section=2"
    result = finish(page)
    assert result["complete"] is True
    log = verified(live_server, session_id)
    assert log[0].type == "session_start" and log[0].data["browser"] == "Chromium"
    assert log[0].data["engine"] == "Blink" and log[-1].type == "session_end"


def test_wrong_institution_key_is_refused(page, lms, live_server):
    grant = live_server.start_session("tag-2")
    url = lms(
        "/exam",
        lms_page(
            live_server.base,
            loader_attrs=('data-institution-key="another-uni" data-session-mode="lms" async'),
        ),
    )
    page.goto(f"{url}#openproctor_token={grant['token']}")
    message = page.evaluate("() => openproctor.session.then(() => 'ok', e => e.message)")
    assert "does not match this session's institution" in message


def test_signals_before_the_session_and_the_worker_still_arrive(page, lms, live_server):
    page.goto(lms("/exam", lms_page(live_server.base)))
    page.click("#fs")  # before init(): no session, no worker yet
    page.wait_for_function("() => !!document.fullscreenElement")
    page.keyboard.press("Escape")
    page.evaluate("() => document.fullscreenElement && document.exitFullscreen()")
    page.wait_for_function("() => !document.fullscreenElement")
    session_id = start_programmatic(page, live_server, "early-1")
    finish(page)
    assert "fullscreen_exit" in logged_types(live_server, session_id)


def test_calls_made_before_the_loader_arrived_are_replayed(page, lms, live_server):
    snippet = (
        "<script>window.openproctor=window.openproctor||{q:[],init:function(c){var d={};"
        "d.p=new Promise(function(r,j){d.resolve=r;d.reject=j});this.q.push(['init',c,d]);"
        "return d.p}};window.early=openproctor.init({serverOrigin:%s,integrationName:'lms',"
        "jwt:%s});</script>"
    )
    head = snippet % (json.dumps(live_server.base), json.dumps(live_server.jwt("queued-1")))
    page.goto(lms("/exam", lms_page(live_server.base, head=head, loader_attrs="async")))
    session_id = page.evaluate("() => early.then(s => { window.s = s; return s.id })")
    assert finish(page)["complete"] is True
    verified(live_server, session_id)


def test_golden_vectors_in_pyodide_equal_cpython(page, lms, live_server, manifest):
    assets = manifest["assets"]
    sdk = f"{live_server.base}/sdk/v1/"
    harness = f"""<!doctype html><html><head><link rel="icon" href="data:,"></head><body>
<script type="module">
const {{ loadPyodide }} = await import("{sdk}{assets["runtime"]}pyodide.mjs");
const py = await loadPyodide({{indexURL: "{sdk}{assets["runtime"]}",
  stdLibURL: "{sdk}{assets["stdlib"]}", lockFileURL: "{sdk}{assets["lock"]}"}});
py.globals.set("vectors_json", {json.dumps(json.dumps(VECTORS))});
window.result = py.runPython(`
import json
from openproctor.core import Signer, canonical_encode, derive_session_key, genesis
v = json.loads(vectors_json)
key = derive_session_key(v["server_secret_utf8"], v["session_id"])
signer = Signer(key, v["session_id"])
events = [signer.sign(e["t"], e["type"], e["data"]) for e in v["events"]]
json.dumps({{"key": key.reveal().hex(), "genesis": genesis(v["session_id"]),
  "encoding": [canonical_encode(c["value"]).decode() for c in v["encoding"]],
  "signing": [e.signing_bytes().decode() for e in events], "macs": [e.mac for e in events]}})
`);
</script></body></html>"""
    page.goto(lms("/vectors", harness))
    page.wait_for_function("() => window.result", timeout=30000)
    result = json.loads(page.evaluate("() => window.result"))
    assert result["key"] == VECTORS["session_key_hex"]
    assert result["genesis"] == VECTORS["genesis"]
    assert result["encoding"] == [c["canonical_utf8"] for c in VECTORS["encoding"]]
    assert result["signing"] == [e["signing_utf8"] for e in VECTORS["events"]]
    assert result["macs"] == [e["mac"] for e in VECTORS["events"]]


MARKER = "MARKER-7f3a-typed-answer"


def test_privacy_only_the_server_is_contacted_and_no_content_leaves(page, context, live_server):
    """The demo exam, under its strict CSP: every request (page and worker) goes to the local
    server, and no request body carries what the student typed or copied (the assertions of
    openproctor.testing, the kit integrators use for the same check on their pages)."""
    requests = RequestRecorder(context)
    blocked = []

    def guard(route):
        if route.request.url.startswith(live_server.base):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page.goto(f"{live_server.base}/demo")
    page.click("#start")
    agree(page)  # the demo exam asks for consent (the default policy)
    page.wait_for_selector('#status:has-text("Proctoring active")', timeout=30000)
    page.fill("#q1", MARKER)
    page.click("#q1", click_count=3)
    page.keyboard.press("Control+C")
    page.click("#q2")
    page.keyboard.press("Control+V")
    page.keyboard.type(" and more " + MARKER)
    time.sleep(1.5)
    page.click("#finish")
    page.wait_for_selector("#done:not([hidden])", timeout=30000)
    assert blocked == []
    requests.assert_only_origins(live_server.base)
    assert any("/sdk/v1/" in r.url and r.url.endswith(".wasm") for r in requests.requests)
    assert any(b'"copy_paste"' in r.body for r in requests.requests)  # the paste was recorded
    requests.assert_no_content_left(MARKER)  # ... but never its contents
    session_id = page.evaluate("() => demoSession.id")
    stored = json.dumps(live_server.events(session_id))
    assert MARKER not in stored and "copy_paste" in stored


def test_the_student_sees_what_was_recorded_and_verifies_the_download(page, live_server, tmp_path):
    """The link shown at the end of the exam: the record, and an evidence bundle that
    `openproctor verify` checks offline."""
    page.goto(f"{live_server.base}/demo")
    page.click("#start")
    agree(page)  # the demo exam asks for consent (the default policy)
    page.wait_for_selector('#status:has-text("Proctoring active")', timeout=30000)
    page.click("#q1", button="right")
    time.sleep(1.2)
    page.click("#finish")
    page.wait_for_selector("#done:not([hidden])", timeout=30000)
    page.click("#results-link")
    page.wait_for_url("**/record/**")
    assert page.inner_text("#integrity") == "verified"
    assert "opened the context menu once" in page.inner_text("#breakdown")
    rows = page.query_selector_all("#events tbody tr")
    assert rows[0].inner_text().split("\t")[2] == "session_start"
    with page.expect_download() as download:
        page.click("#evidence")
    bundle = tmp_path / "evidence.json"
    download.value.save_as(bundle)
    checked = subprocess.run(
        [
            sys.executable,
            *("-m", "openproctor.server.cli", "verify", str(bundle)),
            *("--server", live_server.base),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "VERIFIED" in checked.stdout and f"{len(rows)} events" in checked.stdout


def test_cross_origin_page_under_the_documented_csp(page, lms, live_server):
    csp = (
        f"default-src 'self'; script-src 'self' 'unsafe-inline' {live_server.base} "
        f"'wasm-unsafe-eval'; worker-src blob: {live_server.base}; "
        f"connect-src {live_server.base}; img-src data:; "
        "style-src 'self'"
    )
    url = lms("/csp", lms_page(live_server.base), headers={"content-security-policy": csp})
    violations = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    page.goto(url)
    session_id = start_programmatic(page, live_server, "csp-1")
    assert finish(page)["complete"] is True
    verified(live_server, session_id)
    assert violations == []


def test_boot_failure_is_reported_through_the_promise_and_the_listener(
    page, context, lms, live_server
):
    context.route(f"{live_server.base}/sdk/v1/worker-*", lambda r: r.fulfill(status=404))
    page.goto(lms("/exam", lms_page(live_server.base)))
    page.evaluate(
        "() => { window.seen = []; window.addEventListener('openproctor:state', "
        "e => seen.push(e.detail.error)); }"
    )
    message = page.evaluate(
        """([server, jwt]) => openproctor.init({serverOrigin: server, integrationName: "lms",
             jwt}).then(() => "booted", e => e.message)""",
        [live_server.base, live_server.jwt("broken-1")],
    )
    assert "worker failed to load" in message
    assert any(e and "worker failed to load" in e for e in page.evaluate("() => seen"))


def test_worker_served_with_a_wrong_mime_type_is_reported(page, context, lms, live_server):
    def wrong_type(route):
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-type": "text/plain"})

    context.route(f"{live_server.base}/sdk/v1/worker-*", wrong_type)
    page.goto(lms("/exam", lms_page(live_server.base)))
    message = page.evaluate(
        """([server, jwt]) => openproctor.init({serverOrigin: server, integrationName: "lms",
             jwt}).then(() => "booted", e => e.code + ": " + e.message)""",
        [live_server.base, live_server.jwt("mime-1")],
    )
    assert message.startswith("boot_failed: the proctoring worker failed to load")


def test_missing_bundle_is_reported(page, context, lms, live_server):
    context.route(
        f"{live_server.base}/sdk/v1/manifest.json",
        lambda r: r.fulfill(
            status=404,
            content_type="application/json",
            body=json.dumps(
                {"error": {"code": "bundle_not_built", "message": "the SDK bundle is not built"}}
            ),
        ),
    )
    page.goto(lms("/exam", lms_page(live_server.base)))
    message = page.evaluate(
        """([server, jwt]) => openproctor.init({serverOrigin: server, integrationName: "lms",
             jwt}).then(() => "booted", e => e.code + ": " + e.message)""",
        [live_server.base, live_server.jwt("nobundle-1")],
    )
    assert message == "bundle_not_built: the SDK bundle is not built"


@pytest.fixture
def mobile_context(browser):
    context = browser.new_context(
        user_agent=(
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like "
            "Gecko) Chrome/156.0.0.0 Mobile Safari/537.36"
        ),
        is_mobile=True,
        has_touch=True,
        viewport={"width": 412, "height": 915},
    )
    context.grant_permissions(["local-network-access"])
    yield context
    context.close()


def test_mobile_is_refused_with_a_clear_message(mobile_context, live_server):
    page = mobile_context.new_page()
    page.route(
        f"{LMS}/exam",
        lambda r: r.fulfill(body=lms_page(live_server.base), content_type="text/html"),
    )
    page.goto(f"{LMS}/exam")
    code = page.evaluate(
        """([server, jwt]) => openproctor.init({serverOrigin: server, integrationName: "lms",
             jwt}).then(() => "started", e => e.code)""",
        [live_server.base, live_server.jwt("mobile-1")],
    )
    assert code == "mobile_not_allowed"
    assert "cannot be taken on a phone or tablet" in page.inner_text("[role=alert]")


@pytest.mark.parametrize(
    ("missing", "simulate"),
    [
        ("WebAssembly", "window.WebAssembly = undefined;"),
        (
            "module workers",
            "var W = window.Worker; window.Worker = function (url) { return new W(url); };",
        ),  # an engine that ignores {type: 'module'}
    ],
)
def test_an_engine_too_old_gets_a_clear_message(page, lms, live_server, missing, simulate):
    head = f"<script>{simulate}</script>"
    page.goto(lms("/old", lms_page(live_server.base, head=head)))
    error = page.evaluate(
        """([server, jwt]) => openproctor.init({serverOrigin: server, integrationName: "lms",
             jwt}).then(() => "started", e => e.code + ": " + e.message)""",
        [live_server.base, live_server.jwt("old-" + missing.replace(" ", "-"))],
    )
    assert error.startswith("browser_unsupported: This browser is too old for this proctored exam")
    assert "Please use a current version" in page.inner_text("[role=alert]")


def test_reload_mid_exam_loses_nothing_and_continues_the_chain(page, context, lms, live_server):
    """Uploads fail, the student copies twice and reloads: the unsent events wait in IndexedDB,
    the reloaded page resumes the same session and chain, and every event arrives once."""
    url = lms("/exam", lms_page(live_server.base))
    page.goto(url)
    jwt = live_server.jwt("reload-1")
    start = """([server, jwt]) => openproctor.init({serverOrigin: server, integrationName: "lms",
                 jwt}).then(s => { window.s = s; return s.id; })"""
    session_id = page.evaluate(start, [live_server.base, jwt])
    page.wait_for_function("() => s.state.acknowledged >= 0")  # session_start is stored
    blocked = []

    def drop(route):
        blocked.append(route.request.url)
        route.abort()

    context.route(f"{live_server.base}/api/v1/sessions/*/events", drop)
    page.click("#question", click_count=3)
    page.keyboard.press("Control+C")
    time.sleep(1.2)
    page.click("#question", button="right")
    # Both leave their debounce windows, are signed, and their upload is refused.
    page.wait_for_function("() => s.state.flags.length === 2")
    deadline = time.monotonic() + 10
    while not blocked and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert blocked
    assert live_server.session(session_id).next_seq == 1
    page.reload()
    context.unroute(f"{live_server.base}/api/v1/sessions/*/events")
    again = page.evaluate(start, [live_server.base, jwt])
    assert again == session_id
    page.wait_for_function("() => s.state.acknowledged >= 2")
    page.click("#question", button="right")  # after the reload, the chain goes on
    time.sleep(1.2)
    finish(page)
    log = verified(live_server, session_id)
    assert [e.seq for e in log] == list(range(len(log)))
    kinds = [e.type for e in log]
    assert kinds.count("copy_paste") == 1 and kinds.count("context_menu") == 2
    assert kinds.count("session_start") == 1


BLOCK_UPLOADS = """() => {
  // The page's network fails for ordinary uploads while the test says so; a request the
  // browser was handed with keepalive still goes out (no Playwright interception involved:
  // intercepting a request of a page being unloaded is what made an earlier version flaky).
  var realFetch = window.fetch;
  window.blockUploads = true;
  window.fetch = function (url, init) {
    if (window.blockUploads && String(url).indexOf("/events") > 0 && !(init && init.keepalive)) {
      return Promise.reject(new TypeError("network down (test)"));
    }
    return realFetch.apply(this, arguments);
  };
}"""


def test_leaving_the_page_hands_unsent_events_to_the_browser(page, live_server, exam_host):
    """Uploads fail; the student leaves the exam page: the unsent events go out with fetch
    keepalive as the page is hidden, and reach the server without the page coming back."""
    query = urlencode({"server": live_server.base, "jwt": live_server.jwt("keepalive-1")})
    page.goto(f"{exam_host}/exam?{query}")
    page.click("#start")
    page.wait_for_function("() => window.s && s.state.acknowledged >= 0", timeout=60_000)
    session_id = page.evaluate("() => s.id")
    page.evaluate(BLOCK_UPLOADS)
    page.click("#question", button="right")
    page.wait_for_function("() => s.state.flags.length === 1")
    time.sleep(1.5)  # signed, and the upload and its first retry failed
    assert live_server.session(session_id).next_seq == 1
    page.goto("about:blank")  # pagehide: the flush
    deadline = time.monotonic() + 10
    while live_server.session(session_id).next_seq == 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "context_menu" in logged_types(live_server, session_id)


def test_a_refused_finish_is_reported_once_and_not_retried(page, context, lms, live_server):
    """The server refuses the end of the session (a 4xx, here without an error body): the
    loader reports it through logUploaded and the listener, and does not ask again."""
    calls = []

    def refuse(route):
        calls.append(route.request.url)
        route.fulfill(status=409, content_type="text/plain", body="no")

    context.route(f"{live_server.base}/api/v1/sessions/*/finish", refuse)
    page.goto(lms("/exam", lms_page(live_server.base)))
    start_programmatic(page, live_server, "finish-refused")
    outcome = page.evaluate(
        "() => s.finish().then(() => s.logUploaded).then(() => 'uploaded', e => e.code)"
    )
    assert outcome == "http_409"
    assert page.evaluate("() => s.state.error") == "request failed with status 409"
    page.wait_for_timeout(3000)  # a retry would come after 0.75-1.25 s
    assert len(calls) == 1


def test_a_failed_finish_is_retried_until_it_is_stored(page, context, lms, live_server):
    calls = []

    def unavailable_once(route):
        calls.append(route.request.url)
        if len(calls) == 1:
            route.fulfill(status=503, content_type="application/json", body="{}")
        else:
            route.continue_()

    context.route(f"{live_server.base}/api/v1/sessions/*/finish", unavailable_once)
    page.goto(lms("/exam", lms_page(live_server.base)))
    session_id = start_programmatic(page, live_server, "finish-retried")
    assert finish(page)["complete"] is True
    assert len(calls) == 2
    verified(live_server, session_id)


def test_the_worker_is_released_when_the_session_ends(page, lms, live_server):
    page.goto(lms("/exam", lms_page(live_server.base)))
    start_programmatic(page, live_server, "released-1")
    assert len(page.workers) == 1
    finish(page)
    page.wait_for_function("() => !s.live()")
    deadline = time.monotonic() + 10
    while page.workers and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert page.workers == []
    page.click("#question", button="right")  # after the end: nothing to send it to, no error
    assert page.evaluate("() => s.state.error") is None


def test_a_malformed_session_token_is_a_clear_error(page, lms, live_server):
    page.goto(lms("/exam", lms_page(live_server.base)))
    outcome = page.evaluate(
        "(server) => openproctor.init({serverOrigin: server, sessionToken: 'not-a-jwt'})"
        ".then(() => 'started', e => e.code + ': ' + e.message)",
        live_server.base,
    )
    assert outcome == "invalid_token: sessionToken is not a session token"


def test_the_loader_names_the_version_of_the_core(page, lms, live_server):
    page.goto(lms("/exam", lms_page(live_server.base)))
    assert page.evaluate("() => openproctor.version") == SDK_VERSION
