"""One small adapter per browser engine, so the scenarios in test_engines.py are written once.

- chromium: Selenium + Debian's chromedriver, headless (real tabs hide the page)
- firefox:  Playwright in WebDriver-BiDi mode driving Debian's firefox-esr, headless
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

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
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
        if self.name == "chromium":
            raise Unsupported(
                "headless Chromium under chromedriver does not move focus to a "
                "second window; blur is tested through Playwright with focus "
                "emulation off in test_sdk.py::test_real_signals_become_typed_events"
            )
        exam = self.driver.current_window_handle
        self.driver.switch_to.new_window("window")
        time.sleep(seconds)
        self.driver.close()
        self.driver.switch_to.window(exam)

    def set_offline(self, offline: bool) -> None:
        if self.name != "chromium":
            raise Unsupported("WebKitWebDriver has no network emulation")
        self.driver.set_network_conditions(
            offline=offline, latency=0, download_throughput=10_000_000, upload_throughput=10_000_000
        )

    def close(self) -> None:
        self.driver.quit()


class PlaywrightEngine:
    def __init__(self, name: str, browser: Any) -> None:
        self.name, self.browser = name, browser
        self.context = browser.new_context()
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
        # Firefox hides the page when a link opens a second tab (a new_page() is a window).
        with self.context.expect_page() as opened:
            self.page.click("#away")
        time.sleep(seconds)
        opened.value.close()
        self.page.bring_to_front()

    def blur_window(self, seconds: float) -> None:
        other = self.context.new_page()  # a second window takes the focus
        time.sleep(seconds)
        other.close()
        self.page.bring_to_front()

    def set_offline(self, offline: bool) -> None:
        self.context.set_offline(offline)

    def close(self) -> None:
        self.context.close()


def chromium() -> SeleniumEngine:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in [*QUIET, "--headless=new"]:
        options.add_argument(argument)
    return SeleniumEngine(
        "chromium", webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    )


def webkit(display: str) -> SeleniumEngine:
    from selenium.webdriver.webkitgtk.options import Options
    from selenium.webdriver.webkitgtk.service import Service

    options = Options()
    options.binary_location = MINIBROWSER
    options.add_argument("--automation")
    service = Service(WEBKITDRIVER, env={"DISPLAY": display})
    return SeleniumEngine("webkit", webdriver.WebKitGTK(options=options, service=service))
