"""A student on a slow link: the core's download is held for 12 s (longer than two heartbeat
intervals of this exam's 5 s), and the student switches tabs meanwhile. The boot is not an
SDK gap (the page shows it was alive), and the tab switch is signed with its real time and
duration once the core is ready."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from openproctor.core import parse_policy, verify_log
from openproctor.testing import tab_switch

HELD_SECONDS = 12.0


def test_a_slow_boot_is_not_an_sdk_gap_and_early_signals_keep_their_times(
    openproctor_page, live_server, exam_host
):
    store = live_server.store()
    try:
        policy = parse_policy({"exam_id": "slow-link", "heartbeat_seconds": 5})
        store.policies.save("uni-a", policy, "test")
    finally:
        store.close()
    page = openproctor_page
    held = []
    page.context.route(
        "**/pyodide.asm.wasm", lambda route: held.append(route)
    )  # the worker's biggest download
    jwt = live_server.jwt("slow-boot-1", claims={"examId": "slow-link"})
    page.goto(f"{exam_host}/exam?" + urlencode({"server": live_server.base, "jwt": jwt}))
    page.click("#start")
    clicked = time.monotonic()
    while not held:
        assert time.monotonic() - clicked < 30, "the worker never asked for the runtime"
        page.wait_for_timeout(50)
    page.wait_for_timeout(1000)
    tab_switch(page, seconds=2)  # long before the core is ready
    page.wait_for_timeout(max(0.0, HELD_SECONDS - (time.monotonic() - clicked)) * 1000)
    assert not page.evaluate("() => !!(window.s && window.s.state.ready)")
    held[0].continue_()
    page.wait_for_function("() => window.flags.started || window.failure", timeout=60_000)
    boot_ms = page.evaluate("() => s.state.bootMs")
    assert boot_ms >= HELD_SECONDS * 1000 - 2000
    page.wait_for_timeout(1200)
    page.click("#finish")
    page.wait_for_function("() => window.flags.uploaded", timeout=30_000)

    session_id = page.evaluate("() => s.id")
    log = verify_log(session_id, live_server.events(session_id), live_server.keys(session_id))
    (switch,) = [e for e in log if e.type == "tab_switch"]
    assert 1000 <= switch.t <= 6000  # when it happened, not when the core signed it
    assert 1800 <= switch.data["duration_ms"] <= 5000
    beats = [e.t for e in log if e.type == "heartbeat"]
    assert beats and beats[0] <= 7000  # a heartbeat from the boot, with the boot's time
    assert not [e for e in log if e.type == "sdk_gap"]
    row = live_server.session(session_id)
    assert row.complete and not [f for f in row.breakdown if f["flag"] == "sdk_gap"]
