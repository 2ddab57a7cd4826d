"""The same scenarios on Chromium, Firefox and WebKitGTK, one adapter per engine (engines.py).

Each test opens an LMS-like exam page on a second loopback origin, starts the SDK with
openproctor.init(), produces real browser signals the way the engine allows under automation,
finishes, and checks what the server stored: the typed events, a verified complete chain, and
(privacy) that nothing the student typed or copied left the page.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from openproctor.core import verify_log

from . import engines
from .engines import Unsupported, wait_for

ENGINES = ["chromium", "firefox", "webkit"]
NEEDS = {
    "chromium": [engines.CHROMIUM],
    "firefox": [engines.FIREFOX],
    "webkit": [engines.MINIBROWSER, engines.WEBKITDRIVER, "/usr/bin/Xvfb"],
}


@pytest.fixture(scope="session")
def xvfb() -> Iterator[str]:
    """A virtual screen for WebKitGTK (it has no headless mode), started and stopped here."""
    for number in range(90, 110):
        if not os.path.exists(f"/tmp/.X11-unix/X{number}") and not os.path.exists(
            f"/tmp/.X{number}-lock"
        ):
            break
    display = f":{number}"
    process = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not os.path.exists(f"/tmp/.X11-unix/X{number}") and time.monotonic() < deadline:
        time.sleep(0.05)
    yield display
    process.terminate()
    process.wait(10)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[Any]:
    name = request.param
    missing = [path for path in NEEDS[name] if not os.path.exists(path)]
    if missing:
        pytest.fail(f"{name}: {', '.join(missing)} missing (./dev test installs them)")
    if name == "chromium":
        adapter = engines.chromium(request.getfixturevalue("playwright"))
    elif name == "firefox":
        adapter = engines.PlaywrightEngine("firefox", request.getfixturevalue("firefox_browser"))
    else:
        adapter = engines.webkit(request.getfixturevalue("xvfb"))
    yield adapter
    adapter.close()


def start(adapter, live_server, exam_host: str, session_id: str) -> str:
    jwt = live_server.jwt(f"{adapter.name}-{session_id}")
    query = urllib.parse.urlencode({"server": live_server.base, "jwt": jwt})
    adapter.open(f"{exam_host}/exam?{query}")
    adapter.click("#start")
    wait_for(adapter, "window.s && window.s.state.ready && window.flags.started")
    return adapter.js("window.s.id")


def finish(adapter, live_server, session_id: str) -> list:
    time.sleep(1.2)  # past the debounce window of the last signal
    adapter.click("#finish")
    wait_for(adapter, "window.flags.uploaded")
    assert adapter.js("window.flags.finished && window.flags.video")
    log = verify_log(session_id, live_server.events(session_id), live_server.keys(session_id))
    assert live_server.session(session_id).complete
    return log


def of_type(log, kind: str) -> list[dict]:
    return [dict(e.data) for e in log if e.type == kind]


def test_boots_in_a_worker_and_names_the_engine(engine, live_server, exam_host):
    session_id = start(engine, live_server, exam_host, "boot")
    assert engine.js("window.s.state.bootMs") > 0
    user_agent = engine.js("navigator.userAgent")
    log = finish(engine, live_server, session_id)
    start_data = log[0].data
    if engine.name == "chromium":
        expected = ("Chromium", re.search(r"Chrome/([\d.]+)", user_agent)[1], "Blink")
    elif engine.name == "firefox":
        expected = ("Firefox", re.search(r"Firefox/([\d.]+)", user_agent)[1], "Gecko")
    else:
        expected = ("WebKitGTK", "unknown", "WebKit")  # its UA hides the real version
    assert (start_data["browser"], start_data["browser_version"], start_data["engine"]) == expected
    assert log[-1].type == "session_end"


def test_tab_switch(engine, live_server, exam_host):
    session_id = start(engine, live_server, exam_host, "tab")
    engine.leave_tab(2.0)
    log = finish(engine, live_server, session_id)
    (switch,) = of_type(log, "tab_switch")
    assert 1500 <= switch["duration_ms"] <= 8000
    assert of_type(log, "focus_loss") == []  # the blur that came with it is not counted twice


def test_window_blur(engine, live_server, exam_host):
    session_id = start(engine, live_server, exam_host, "blur")
    try:
        engine.blur_window(2.0)
    except Unsupported as reason:
        pytest.skip(str(reason))
    log = finish(engine, live_server, session_id)
    losses = of_type(log, "focus_loss")
    assert losses and losses[0]["duration_ms"] >= 1000


def test_copy_and_paste(engine, live_server, exam_host):
    session_id = start(engine, live_server, exam_host, "clip")
    engine.js(
        "(function(){var r=document.createRange();r.selectNodeContents("
        "document.getElementById('question'));getSelection().removeAllRanges();"
        "getSelection().addRange(r);return 1})()"
    )
    engine.keys("c")
    time.sleep(1.2)
    engine.click("#answer")
    engine.keys("v")
    log = finish(engine, live_server, session_id)
    assert sorted(d["action"] for d in of_type(log, "copy_paste")) == ["copy", "paste"]


def test_offline_and_back(engine, live_server, exam_host):
    session_id = start(engine, live_server, exam_host, "net")
    try:
        engine.set_offline(True)
    except Unsupported as reason:
        pytest.skip(str(reason))
    time.sleep(2.0)
    engine.set_offline(False)
    log = finish(engine, live_server, session_id)
    (offline,) = of_type(log, "network_offline")
    assert offline["duration_ms"] >= 1500


MARKER = "MARKER-typed-9c1e"


def test_privacy_only_the_server_and_no_content(engine, live_server, exam_host):
    session_id = start(engine, live_server, exam_host, "privacy")
    engine.type("#answer", MARKER)
    engine.js("(function(){var t=document.getElementById('answer');t.select();return 1})()")
    engine.keys("c")
    time.sleep(1.2)
    engine.keys("v")
    finish(engine, live_server, session_id)
    sent = engine.js("window.sent")
    assert sent and all(r["url"].startswith(live_server.base) for r in sent)
    assert any("copy_paste" in r["body"] for r in sent)
    assert not any(MARKER in r["body"] for r in sent)
    # Every resource the page loaded came from the two local origins.
    resources = engine.js("performance.getEntriesByType('resource').map(e => e.name)")
    assert all(url.startswith((live_server.base, exam_host)) for url in resources)


def test_engine_is_found_by_path_not_downloaded():
    # What the tests drive is Debian's packages (nothing is downloaded by a driver tool).
    for paths in NEEDS.values():
        for path in paths:
            assert os.path.isabs(path)
    assert shutil.which("Xvfb") in (None, "/usr/bin/Xvfb")


PANEL_JS = "document.querySelector('[data-openproctor-panel]').shadowRoot"


def panel_click(adapter, selector: str) -> None:
    """A click on a panel button (inside its shadow root, where WebDriver selectors don't go)."""
    wait_for(
        adapter,
        f"!!document.querySelector('[data-openproctor-panel]') && !!{PANEL_JS}"
        f".querySelector({selector!r})",
    )
    adapter.js(f"{PANEL_JS}.querySelector({selector!r}).click()")


def test_the_panel_gates_warns_and_excuses_a_declared_break(engine, live_server, exam_host):
    """Consent required, a counted tab switch warned about at once (aria-live), then a declared
    break whose tab switch is logged but not counted, a blocked copy, and the end card: in each
    engine (the other states, in Chromium and Firefox, are in test_accessibility.py)."""
    from openproctor.core import parse_policy
    from openproctor.server.security.tokens import mint_start_token

    from .conftest import SECRET

    exam = "panel-engines-2"
    store = live_server.store()
    try:
        if store.policies.current("uni-a", exam) is None:
            rules = {"exam_id": exam, "breaks": {"count": 1, "max_minutes": 5}, "prevent": ["copy"]}
            store.policies.save("uni-a", parse_policy(rules), "tests")
    finally:
        store.close()
    jwt = mint_start_token(
        SECRET, user_id="student-p", exam_id=exam, session_id=f"{engine.name}-panel"
    )
    engine.open(
        f"{exam_host}/exam?{urllib.parse.urlencode({'server': live_server.base, 'jwt': jwt})}"
    )
    engine.click("#start")
    wait_for(
        engine,
        f"!!document.querySelector('[data-openproctor-panel]') && !!{PANEL_JS}"
        ".querySelector('[data-action=agree]')",
    )
    assert engine.js("!!window.flags.started") is False  # waits for "I agree"
    notice = engine.js(f"{PANEL_JS}.querySelector('[role=dialog]').textContent")
    assert "What this exam records" in notice and "System check" in notice
    assert "Your browser is supported." in notice  # the system check, in words
    panel_click(engine, "[data-action=agree]")
    wait_for(engine, "window.s && window.s.state.ready && window.flags.started")
    session_id = engine.js("window.s.id")
    # The page notes when it became visible again and when the live region spoke (its clock,
    # not the test's: WebDriver's polling adds its own delay).
    engine.js(
        f"(function(){{ var live = {PANEL_JS}.querySelector('[aria-live]'); window.seen = {{}};"
        " document.addEventListener('visibilitychange', function () {"
        "   if (document.visibilityState === 'visible') window.seen.back = performance.now(); });"
        " new MutationObserver(function () { if (live.textContent && !window.seen.said)"
        "   window.seen.said = performance.now(); }).observe(live,"
        "   {childList: true, characterData: true, subtree: true}); return 1; })()"
    )
    engine.leave_tab(2.0)
    wait_for(engine, "window.seen.said > 0")
    said = engine.js(f"{PANEL_JS}.querySelector('[aria-live]').textContent")
    assert said.startswith("You left the exam tab for ") and "a person may review it" in said
    assert engine.js("window.seen.said - window.seen.back") < 1000
    panel_click(engine, "button.indicator")
    panel_click(engine, "[data-action=take-break]")
    wait_for(engine, "window.s.state.onBreak")
    engine.leave_tab(2.0)
    panel_click(engine, "[data-action=end-break]")
    wait_for(engine, "!window.s.state.onBreak")
    # prevent: copying is cancelled, said, and still recorded
    engine.js(
        "(function(){ window.copyCancelled = null; document.addEventListener('copy', function (e)"
        " { window.copyCancelled = e.defaultPrevented; }); var r = document.createRange();"
        " r.selectNodeContents(document.getElementById('question'));"
        " getSelection().removeAllRanges(); getSelection().addRange(r); return 1; })()"
    )
    engine.keys("c")
    wait_for(engine, "window.copyCancelled !== null")
    assert engine.js("window.copyCancelled") is True
    wait_for(
        engine,
        f"{PANEL_JS}.querySelector('[aria-live]').textContent"
        ".indexOf('Copying is turned off') >= 0",
    )
    log = finish(engine, live_server, session_id)
    wait_for(engine, f"{PANEL_JS}.textContent.indexOf('Your exam is submitted.') >= 0")  # the end
    assert engine.js(f"{PANEL_JS}.querySelector('[role=status] a').href").startswith(
        live_server.base + "/record/"
    )
    assert [e.data["mode"] for e in log if e.type == "consent"] == ["required"]
    assert [e.data["action"] for e in log if e.type == "copy_paste"] == ["copy"]
    types = [e.type for e in log]
    inside = types[types.index("break_start") : types.index("break_end")]
    assert types.count("tab_switch") == 2 and "tab_switch" in inside
    tab = next(
        line for line in live_server.session(session_id).breakdown if line["flag"] == "tab_switch"
    )
    assert (tab["count"], tab["excused_count"]) == (1, 1)
