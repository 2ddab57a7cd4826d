"""Constructor's SDK settings in Chromium: init() with Constructor's config keys, the honoured
ones (beforeExamList, fullScreenWatchFocusAlert, experiment_watchWindowSize) shown to the
student, the rest reported once in the live state's warnings; without them compat.js is never
fetched."""

from __future__ import annotations

import pytest

from .conftest import lms_page


@pytest.fixture(autouse=True)
def _bounded_waits(page):
    page.set_default_timeout(30_000)


INIT = """([server, jwt, extra]) => {
  window.started = false;
  const config = {serverOrigin: server, integrationName: "lms", jwt, theme: "default", ...extra};
  return openproctor.init(config).then(s => {
    window.s = s; s.examStarted.then(() => { window.started = true; }); return s.id;
  });
}"""


def _init(page, live_server, session_id: str, extra: dict) -> str:
    return page.evaluate(INIT, [live_server.base, live_server.jwt(session_id), extra])


def test_constructor_settings_are_honoured_or_reported(page, lms, live_server):
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(lms("/exam", lms_page(live_server.base)))
    extra = {
        "beforeExamList": True,
        "fullScreenWatchFocusAlert": True,
        "allowCameraSelection": True,
        "disabledWorkers": ["watchUploading", "ping"],
        "someFutureKey": 1,
    }
    _init(page, live_server, "compat-1", extra)
    assert any("/sdk/v1/compat-" in url for url in requested)
    # beforeExamList: the steps come first, and examStarted waits for "Start the exam".
    steps = page.get_by_role("alertdialog", name="Before your exam")
    assert "never your camera, microphone, screen" in steps.inner_text()
    assert page.evaluate("() => started") is False
    page.get_by_role("button", name="Start the exam").click()
    page.wait_for_function("() => started === true")
    warnings = {w["key"]: w["message"] for w in page.evaluate("() => s.state.warnings")}
    assert "no camera is used" in warnings["allowCameraSelection"]
    assert "never lowers what counts" in warnings["disabledWorkers.ping"]
    assert "no video upload" in warnings["disabledWorkers.watchUploading"]
    assert "not an SDK setting openproctor knows" in warnings["someFutureKey"]
    assert "beforeExamList" not in warnings and "fullScreenWatchFocusAlert" not in warnings
    # fullScreenWatchFocusAlert: back from another window, the student is told, calmly.
    page.evaluate("() => { window.dispatchEvent(new Event('blur')); }")
    page.wait_for_timeout(1100)
    page.evaluate("() => { window.dispatchEvent(new Event('focus')); }")
    alert = page.get_by_role("alertdialog", name="You left the exam")
    assert "You left the exam window for 1 s" in alert.inner_text()
    page.get_by_role("button", name="Back to the exam").click()
    assert page.locator("[data-openproctor='You left the exam']").count() == 0
    page.evaluate("() => s.finish().then(() => s.logUploaded)")


def test_a_small_window_is_told_until_it_is_large_again(page, lms, live_server):
    # The screen a laptop would have (emulation otherwise makes it the viewport's size).
    page.add_init_script(
        "Object.defineProperty(screen, 'availWidth', {get: () => 1280});"
        "Object.defineProperty(screen, 'availHeight', {get: () => 720});"
    )
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(lms("/exam", lms_page(live_server.base)))
    _init(page, live_server, "compat-2", {"experiment_watchWindowSize": True})
    small = page.get_by_role("alertdialog", name="The exam window is too small")
    assert small.count() == 0
    page.set_viewport_size({"width": 500, "height": 300})
    small.wait_for()
    page.set_viewport_size({"width": 1280, "height": 720})
    small.wait_for(state="detached")
    assert page.evaluate("() => s.state.warnings") == []
    page.evaluate("() => s.finish().then(() => s.logUploaded)")


def test_without_constructor_settings_nothing_more_is_fetched(page, lms, live_server):
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(lms("/exam", lms_page(live_server.base)))
    _init(page, live_server, "compat-3", {})
    page.wait_for_function("() => started === true")
    assert not any("compat-" in url for url in requested)
    assert page.locator("[data-openproctor]").count() == 0
    page.evaluate("() => s.finish().then(() => s.logUploaded)")
