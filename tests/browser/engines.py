"""One small adapter per browser engine, so the scenarios in test_engines.py are written once.

- chromium: Playwright attached to a Chromium that openproctor.testing started (real tab
            switches and window blurs: the kit's signal helpers), headless
- firefox:  Playwright in WebDriver-BiDi mode driving Debian's firefox-esr, headless, with the
            kit's signal helpers
- webkit:   Selenium + WebKitWebDriver driving WebKitGTK's MiniBrowser under Xvfb
An engine that cannot produce a signal under automation raises Unsupported with the reason.
"""

from __future__ import annotations

import time
from typing import Any

from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from openproctor.testing import focus_loss, start_chromium, tab_switch
from openproctor.testing.browsers import StartedChromium

CHROMIUM = "/usr/bin/chromium"
FIREFOX = "/usr/bin/firefox-esr"
MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
WEBKITDRIVER = "/usr/bin/WebKitWebDriver"
QUIET = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def wait_for(adapter: Any, expression: str, timeout: float = 60) -> Any:
    """Poll a JavaScript expression until it is truthy; a page's ``window.failure`` ends it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = adapter.js(expression)
        if value:
            return value
        failure = adapter.js("window.failure || null")
        if failure:
            raise AssertionError(f"{adapter.name}: {failure}")
        time.sleep(0.05)
    raise AssertionError(f"{adapter.name}: timed out waiting for {expression}")


class Unsupported(Exception):
    """This engine cannot produce the signal under automation (the message says why)."""


class SeleniumEngine:
    def __init__(self, name: str, driver: webdriver.Remote) -> None:
        self.name, self.driver = name, driver

    def open(self, url: str) -> None:
        self.driver.get(url)

    def click(self, css: str) -> None:
        self.driver.find_element(By.CSS_SELECTOR, css).click()

    def js(self, expression: str) -> Any:
        return self.driver.execute_script(f"return ({expression});")

    def keys(self, combo: str) -> None:
        ActionChains(self.driver).key_down(Keys.CONTROL).send_keys(combo).key_up(
            Keys.CONTROL
        ).perform()

    def type(self, css: str, text: str) -> None:
        self.driver.find_element(By.CSS_SELECTOR, css).send_keys(text)

    def leave_tab(self, seconds: float) -> None:
        if self.name == "webkit":  # WebKitGTK does not hide a page for a new tab: minimise
            self.driver.minimize_window()
            time.sleep(seconds)
            self.driver.maximize_window()
            return
        exam = self.driver.current_window_handle
        self.driver.switch_to.new_window("tab")
        time.sleep(seconds)
        self.driver.close()
        self.driver.switch_to.window(exam)

    def blur_window(self, seconds: float) -> None:
        exam = self.driver.current_window_handle
        self.driver.switch_to.new_window("window")
        time.sleep(seconds)
        self.driver.close()
        self.driver.switch_to.window(exam)

    def set_offline(self, offline: bool) -> None:
        raise Unsupported("WebKitWebDriver has no network emulation")

    def close(self) -> None:
        self.driver.quit()


class PlaywrightEngine:
    """Firefox in a new context of a shared browser, or Chromium started by the kit (its default
    context, where focus and visibility are real: see openproctor.testing.browsers)."""

    def __init__(self, name: str, browser: Any, started: StartedChromium | None = None) -> None:
        self.name, self.browser, self.started = name, browser, started
        self.context = browser.contexts[0] if started is not None else browser.new_context()
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)

    def open(self, url: str) -> None:
        self.page.goto(url)

    def click(self, css: str) -> None:
        self.page.click(css)

    def js(self, expression: str) -> Any:
        return self.page.evaluate(f"() => ({expression})")

    def keys(self, combo: str) -> None:
        self.page.keyboard.press(f"Control+{combo.upper()}")

    def type(self, css: str, text: str) -> None:
        self.page.type(css, text)

    def leave_tab(self, seconds: float) -> None:
        tab_switch(self.page, seconds)

    def blur_window(self, seconds: float) -> None:
        focus_loss(self.page, seconds)

    def set_offline(self, offline: bool) -> None:
        self.context.set_offline(offline)

    def close(self) -> None:
        if self.started is not None:
            self.started.close()
        else:
            self.context.close()


def chromium(playwright: Any) -> PlaywrightEngine:
    started = start_chromium(playwright, CHROMIUM)
    return PlaywrightEngine("chromium", started.browser, started)


def webkit(display: str) -> SeleniumEngine:
    from selenium.webdriver.webkitgtk.options import Options
    from selenium.webdriver.webkitgtk.service import Service

    options = Options()
    options.binary_location = MINIBROWSER
    options.add_argument("--automation")
    service = Service(WEBKITDRIVER, env={"DISPLAY": display})
    return SeleniumEngine("webkit", webdriver.WebKitGTK(options=options, service=service))
