"""Signal helpers: each makes the browser fire the real events a student's action fires, on
any exam page, so the SDK records exactly what it would record from a person.

Every helper returns once the page is back to its normal state (visible, focused, online,
not in full screen). Where an engine cannot produce the signal under automation the helper
raises :class:`SignalUnsupported`, which pytest reports as a skip with the reason: never a
silent no-op. docs/testing-your-integration.md lists how each helper works in each engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from .browsers import engine_of

#: How long a helper waits for the browser to show the state it asked for.
SETTLE_SECONDS = 5.0


HIDDEN = "document.visibilityState === 'hidden'"
PLAYWRIGHT_CHROMIUM = (
    "tab_switch(): the page stayed visible when another tab came to the front. A Chromium "
    "launched by Playwright keeps every page visible: use the openproctor_page fixture, or start "
    "Chromium yourself and attach with connect_over_cdp(url, no_defaults=True)"
)


class SignalUnsupported(pytest.skip.Exception):  # type: ignore[name-defined,misc]
    """This engine cannot produce the signal under automation; pytest shows it as a skip."""

    def __init__(self, signal: str, engine: str, reason: str) -> None:
        super().__init__(f"openproctor.testing.{signal}() in {engine}: {reason}")


class SignalFailed(AssertionError):
    """The browser did not reach the state the helper asked for (the message says why)."""


def _wait(
    page: Any,
    expression: str,
    what: str,
    timeout: float = SETTLE_SECONDS,
    failure: str | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while not page.evaluate(f"() => !!({expression})"):
        if time.monotonic() > deadline:
            raise SignalFailed(failure or f"the page did not become {what} within {timeout:g} s")
        time.sleep(0.02)


def _hidden(page: Any) -> bool:
    return bool(page.evaluate("() => document.visibilityState === 'hidden'"))


@contextmanager
def _chromium_other_tab(page: Any) -> Iterator[None]:
    """A second tab in the page's window is brought to the front, then closed."""
    browser = page.context.browser
    browser_cdp = browser.new_browser_cdp_session()
    page_cdp = page.context.new_cdp_session(page)
    try:
        info = page_cdp.send("Target.getTargetInfo")["targetInfo"]
        other = browser_cdp.send(
            "Target.createTarget",
            {"url": "about:blank", "browserContextId": info["browserContextId"]},
        )
        try:
            yield
        finally:
            browser_cdp.send("Target.activateTarget", {"targetId": info["targetId"]})
            browser_cdp.send("Target.closeTarget", {"targetId": other["targetId"]})
    finally:
        page_cdp.detach()
        browser_cdp.detach()


def tab_switch(page: Any, seconds: float = 2.0) -> None:
    """The student opens another tab for ``seconds``, then comes back: ``visibilitychange``
    (hidden, then visible) and the window's blur and focus, as in a real tab switch.

    Chromium: a new tab is created and activated over the DevTools protocol
    (``Target.createTarget``); the page must come from the ``openproctor_page`` fixture (a
    Chromium the kit started), because a Chromium launched by Playwright never hides a page.
    Firefox: ``window.open`` opens a second tab, which hides the page."""
    engine = engine_of(page)
    if engine == "chromium":
        with _chromium_other_tab(page):
            _wait(page, HIDDEN, "hidden", failure=PLAYWRIGHT_CHROMIUM)
            time.sleep(seconds)
    elif engine == "firefox":
        with page.context.expect_page() as opened:
            page.evaluate("() => { window.open('about:blank', '_blank'); }")
        other = opened.value
        _wait(page, HIDDEN, "hidden")
        time.sleep(seconds)
        other.close()
        page.bring_to_front()
    else:
        raise SignalUnsupported(
            "tab_switch", engine, "Playwright's WebKit never hides a page under automation"
        )
    _wait(page, "document.visibilityState === 'visible'", "visible again")


def focus_loss(page: Any, seconds: float = 2.0) -> None:
    """The window loses focus for ``seconds`` while the page stays visible (the student clicks
    into another application): ``blur`` then ``focus`` on the window, no ``visibilitychange``.

    Chromium: one DevTools session keeps the page rendered as visible (focus emulation on)
    while a second turns focus emulation off, then a second tab takes the focus.
    Firefox: a second window (``context.new_page()``) takes the focus."""
    engine = engine_of(page)
    if engine == "chromium":
        keep_visible = page.context.new_cdp_session(page)
        toggle = page.context.new_cdp_session(page)
        try:
            keep_visible.send("Emulation.setFocusEmulationEnabled", {"enabled": True})
            toggle.send("Emulation.setFocusEmulationEnabled", {"enabled": True})
            toggle.send("Emulation.setFocusEmulationEnabled", {"enabled": False})
            with _chromium_other_tab(page):
                _wait(page, "!document.hasFocus()", "unfocused")
                if _hidden(page):
                    raise SignalFailed("focus_loss(): the page was hidden, not only unfocused")
                time.sleep(seconds)
        finally:
            keep_visible.send("Emulation.setFocusEmulationEnabled", {"enabled": False})
            toggle.detach()
            keep_visible.detach()
    elif engine == "firefox":
        other = page.context.new_page()
        _wait(page, "!document.hasFocus()", "unfocused")
        time.sleep(seconds)
        other.close()
        page.bring_to_front()
    else:
        raise SignalUnsupported(
            "focus_loss", engine, "Playwright's WebKit keeps every page focused"
        )
    _wait(page, "document.hasFocus()", "focused again")


_FULLSCREEN_BUTTON = """() => {
  const b = document.createElement("button");
  b.id = "__openproctor_testing_fullscreen";
  b.textContent = "full screen";
  b.style.cssText = "position:fixed;left:0;top:0;z-index:2147483647";
  b.addEventListener("click", () => { document.documentElement.requestFullscreen(); b.remove(); },
                     {once: true});
  document.body.appendChild(b);
}"""


def fullscreen_exit(page: Any, seconds: float = 0.5) -> None:
    """The page enters full screen (after ``seconds`` the student presses Escape) and leaves
    it: two ``fullscreenchange`` events, the second one leaving full screen.

    Entering needs a user gesture. Chromium: ``requestFullscreen()`` is evaluated over the
    DevTools protocol as a user gesture (nothing is added to the page). Firefox: a small
    button is added to the page for one click, then removed."""
    engine = engine_of(page)
    if engine == "chromium":
        cdp = page.context.new_cdp_session(page)
        try:
            cdp.send(
                "Runtime.evaluate",
                {
                    "expression": "document.documentElement.requestFullscreen()",
                    "userGesture": True,
                    "awaitPromise": True,
                },
            )
        finally:
            cdp.detach()
    elif engine == "firefox":
        page.evaluate(_FULLSCREEN_BUTTON)
        page.click("#__openproctor_testing_fullscreen")
    else:
        raise SignalUnsupported(
            "fullscreen_exit", engine, "Playwright's WebKit cannot grant a fullscreen gesture"
        )
    _wait(page, "document.fullscreenElement", "full screen")
    time.sleep(seconds)
    page.keyboard.press("Escape")
    deadline = time.monotonic() + 1.0
    while page.evaluate("() => !!document.fullscreenElement") and time.monotonic() < deadline:
        time.sleep(0.02)
    # Some headless builds ignore Escape in full screen: leave it the way a page button would.
    page.evaluate("() => document.fullscreenElement && document.exitFullscreen()")
    _wait(page, "!document.fullscreenElement", "out of full screen")


def offline(context: Any, seconds: float = 2.0) -> None:
    """The network drops for ``seconds`` (the browser's own offline mode, page and workers):
    ``offline`` then ``online`` on the window. Accepts a browser context or a page."""
    context = getattr(context, "context", context)
    context.set_offline(True)
    try:
        time.sleep(seconds)
    finally:
        context.set_offline(False)


def copy_paste(page: Any, selector: str | None = None) -> None:
    """Ctrl+C then Ctrl+V (Cmd on macOS) with the keyboard: a ``copy`` and a ``paste`` event,
    two ``copy_paste`` events in the log. With ``selector`` the shortcut goes to that element
    (a paste into a text field inserts whatever the browser's clipboard holds); without, to
    the page's body, which changes nothing on the page."""
    if selector is not None:
        page.focus(selector)
    else:
        page.evaluate("() => { if (document.activeElement) document.activeElement.blur(); }")
    page.keyboard.press("ControlOrMeta+C")
    time.sleep(0.2)
    page.keyboard.press("ControlOrMeta+V")
    time.sleep(0.2)


def context_menu(page: Any, selector: str | None = None) -> None:
    """A right click (on ``selector``, else the page's top-left corner): a ``contextmenu``
    event; Escape closes the menu where one opens."""
    if selector is not None:
        page.click(selector, button="right")
    else:
        page.mouse.click(1, 1, button="right")
    page.keyboard.press("Escape")


def print_attempt(page: Any) -> None:
    """The student prints the page: ``window.print()``, which fires ``beforeprint`` in both
    engines. Headless Chromium shows no dialog. Firefox's print dialog would stop the page until
    closed: the ``openproctor_page`` fixture launches Firefox with the preference
    ``print.always_print_silent``; a Firefox launched otherwise needs it too."""
    engine = engine_of(page)
    if engine not in ("chromium", "firefox"):
        raise SignalUnsupported("print_attempt", engine, "not tested in this engine")
    page.evaluate("() => { setTimeout(() => window.print(), 0); }")
    time.sleep(0.3)


def second_display(page: Any, seconds: float = 2.0) -> None:
    """A second display is attached for ``seconds``, then removed: ``screen.isExtended``
    becomes true and ``change`` fires on ``window.screen``.

    Chromium only (``Emulation.addScreen``, Chromium 139 and newer), and only on a secure page
    (https, or http on localhost/127.0.0.1): Chromium shows ``screen.isExtended`` nowhere
    else. Firefox has no ``screen.isExtended`` at all, so neither a page nor the SDK can see
    a second display there: the helper skips."""
    engine = engine_of(page)
    if engine != "chromium":
        raise SignalUnsupported(
            "second_display",
            engine,
            "this engine does not implement screen.isExtended (the Window Management API), so "
            "no page can see a second display",
        )
    if not page.evaluate("() => typeof screen.isExtended === 'boolean'"):
        raise SignalUnsupported(
            "second_display",
            engine,
            "screen.isExtended exists only on secure pages (https, or http on localhost)",
        )
    cdp = page.context.new_cdp_session(page)
    try:
        try:
            added = cdp.send(
                "Emulation.addScreen",
                {"left": 4000, "top": 0, "width": 1920, "height": 1080},
            )
        except Exception as exc:
            if "wasn't found" in str(exc):
                raise SignalUnsupported(
                    "second_display", engine, "this Chromium has no Emulation.addScreen"
                ) from None
            raise
        try:
            _wait(page, "screen.isExtended === true", "extended to a second display")
            time.sleep(seconds)
        finally:
            cdp.send("Emulation.removeScreen", {"screenId": added["screenInfo"]["id"]})
        _wait(page, "screen.isExtended === false", "back on one display")
    finally:
        cdp.detach()


# -- the student's panel ------------------------------------------------------------------------

PANEL = "[data-openproctor-panel]"


def _panel_button(page: Any, action: str, what: str, timeout: float) -> None:
    button = page.locator(f"{PANEL} button[data-action={action}]")
    try:
        button.wait_for(state="visible", timeout=timeout * 1000)
    except Exception as exc:  # Playwright's TimeoutError, whichever engine
        raise SignalFailed(
            f"{what}: the SDK panel showed no {action!r} button within {timeout:g} s (is the "
            "exam's policy consent 'off', or init() given theme 'none'?)"
        ) from exc
    button.click()


def agree(page: Any, timeout: float = 30.0) -> None:
    """Click "I agree" in the SDK panel's notice, as the student does: the exam starts then
    (with the policy's default ``consent: "required"``), and a signed consent event is logged."""
    _panel_button(page, "agree", "agree()", timeout)
    _wait(
        page,
        "window.openproctor && !document.querySelector('" + PANEL + "')"
        ".shadowRoot.querySelector('[data-action=agree]')",
        "past the notice",
    )


def take_break(page: Any, timeout: float = 10.0) -> None:
    """Open the panel's menu and click "Take a break" (the policy must allow breaks)."""
    page.locator(f"{PANEL} button.indicator").click()
    button = page.locator(f"{PANEL} button[data-action=take-break]")  # in any language
    try:
        button.wait_for(state="visible", timeout=timeout * 1000)
    except Exception as exc:
        raise SignalFailed(
            "take_break(): no 'Take a break' button: the policy allows no breaks, or none left"
        ) from exc
    button.click()


def end_break(page: Any, timeout: float = 10.0) -> None:
    """Click "End the break" in the panel's break dialog."""
    _panel_button(page, "end-break", "end_break()", timeout)
