"""A student on a slow link (2 Mbit/s, 150 ms, the DevTools protocol's network emulation, which
covers the worker's downloads): the exam starts at once, long before the core has booted; a tab
switch made 2 s after examStarted is signed with its real time and duration once the core is
ready, and the boot, longer than two heartbeat intervals of this exam (5 s), is not an SDK gap
(the page shows it was alive)."""

from __future__ import annotations

from urllib.parse import urlencode

from openproctor.core import parse_policy, verify_log
from openproctor.testing import tab_switch

#: Chromium's emulation: bytes per second each way, and the latency added to every request.
SLOW_LINK = {
    "offline": False,
    "latency": 150,
    "downloadThroughput": 250_000,
    "uploadThroughput": 250_000,
}


def test_on_a_slow_link_the_exam_starts_at_once_and_early_signals_keep_their_times(
    openproctor_page, live_server, exam_host
):
    store = live_server.store()
    try:
        policy = parse_policy({"exam_id": "slow-link", "heartbeat_seconds": 5, "consent": "off"})
        store.policies.save("uni-a", policy, "test")
    finally:
        store.close()
    page = openproctor_page
    jwt = live_server.jwt("slow-link-1", claims={"examId": "slow-link"})
    page.goto(f"{exam_host}/exam?" + urlencode({"server": live_server.base, "jwt": jwt}))
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW_LINK)
    page.click("#start")
    page.wait_for_function("() => window.flags.started || window.failure", timeout=30_000)
    assert not page.evaluate("() => s.state.ready")  # the exam runs; the core still boots
    page.wait_for_timeout(2000)
    tab_switch(page, seconds=2)
    assert not page.evaluate("() => s.state.ready")  # the switch happened before the boot ended
    page.wait_for_function("() => s.state.ready || window.failure", timeout=90_000)
    assert page.evaluate("() => s.state.bootMs") > 10_000  # over two heartbeat intervals
    cdp.send(
        "Network.emulateNetworkConditions",
        {**SLOW_LINK, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    page.wait_for_timeout(1200)
    page.click("#finish")
    page.wait_for_function("() => window.flags.uploaded", timeout=30_000)

    session_id = page.evaluate("() => s.id")
    log = verify_log(session_id, live_server.events(session_id), live_server.keys(session_id))
    (switch,) = [e for e in log if e.type == "tab_switch"]
    assert 2000 <= switch.t <= 8000  # when it happened, not when the core signed it
    assert 1800 <= switch.data["duration_ms"] <= 5000
    beats = [e.t for e in log if e.type == "heartbeat"]
    assert beats and beats[0] <= 7000  # a heartbeat from the boot, with the boot's time
    assert not [e for e in log if e.type == "sdk_gap"]
    row = live_server.session(session_id)
    assert row.complete and not [f for f in row.breakdown if f["flag"] == "sdk_gap"]
