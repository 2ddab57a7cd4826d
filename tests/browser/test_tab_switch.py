"""Tab switch in Chromium, driven by Selenium and Debian's chromedriver: a real new tab hides the
exam page (Playwright keeps every page visible by design, so it cannot show this)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from .engines import CHROMEDRIVER, CHROMIUM, QUIET


@pytest.fixture
def driver() -> Iterator[webdriver.Chrome]:
    if not Path(CHROMEDRIVER).exists():
        pytest.fail(f"{CHROMEDRIVER} is missing: ./dev test installs Debian's chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in [*QUIET, "--headless=new"]:
        options.add_argument(argument)
    chrome = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield chrome
    chrome.quit()


def test_switching_tabs_is_one_tab_switch_not_a_focus_loss_too(driver, live_server):
    wait = WebDriverWait(driver, 30)
    driver.get(f"{live_server.base}/demo")
    driver.find_element(By.ID, "start").click()
    wait.until(
        expected_conditions.text_to_be_present_in_element((By.ID, "status"), "Proctoring active")
    )
    exam = driver.current_window_handle
    driver.switch_to.new_window("tab")  # the student opens a search engine in a new tab
    driver.get(f"{live_server.base}/healthz")
    time.sleep(2.5)
    driver.switch_to.window(exam)
    time.sleep(1.5)
    driver.find_element(By.ID, "finish").click()
    wait.until(expected_conditions.visibility_of_element_located((By.ID, "done")))
    session_id = driver.execute_script("return demoSession.id")
    log = live_server.events(session_id)
    switches = [e for e in log if e["type"] == "tab_switch"]
    assert len(switches) == 1 and switches[0]["data"]["count"] == 1
    assert 2000 <= switches[0]["data"]["duration_ms"] <= 6000
    # The window blur that came with the switch was folded into it, not counted again.
    assert not [e for e in log if e["type"] == "focus_loss"]
    assert live_server.session(session_id).complete
