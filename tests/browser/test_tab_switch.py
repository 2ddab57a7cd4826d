"""Tab switch on the demo exam in Chromium, with openproctor.testing's helper: a real second tab
hides the exam page (the kit's Chromium has no focus emulation, so the page can be hidden)."""

from __future__ import annotations

from openproctor.testing import agree, tab_switch


def test_switching_tabs_is_one_tab_switch_not_a_focus_loss_too(openproctor_page, live_server):
    page = openproctor_page
    page.goto(f"{live_server.base}/demo")
    page.click("#start")
    agree(page)  # the demo exam asks for consent (the default policy)
    page.wait_for_selector('#status:has-text("Proctoring active")')
    tab_switch(page, seconds=2.5)  # the student opens a search engine in a new tab
    page.wait_for_timeout(1500)
    page.click("#finish")
    page.wait_for_selector("#done:not([hidden])")
    session_id = page.evaluate("() => demoSession.id")
    log = live_server.events(session_id)
    switches = [e for e in log if e["type"] == "tab_switch"]
    assert len(switches) == 1 and switches[0]["data"]["count"] == 1
    assert 2000 <= switches[0]["data"]["duration_ms"] <= 6000
    # The window blur that came with the switch was folded into it, not counted again.
    assert not [e for e in log if e["type"] == "focus_loss"]
    assert live_server.session(session_id).complete
