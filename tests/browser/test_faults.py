"""Faults on exam day, with the real SDK in Chromium: four heartbeat intervals offline, and the
server restarted under a live exam page. Nothing is lost, everything arrives in order, the log
verifies."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openproctor.core import parse_policy, verify_log

from ..support import free_port, stop, wait_healthy
from .conftest import BUNDLE, lms_page


@pytest.fixture(autouse=True)
def _bounded_waits(page):
    page.set_default_timeout(60_000)


def start(page, live_server, session_id: str) -> str:
    return page.evaluate(
        """([server, jwt]) => openproctor.init({serverOrigin: server, integrationName: "lms",
             jwt}).then(s => { window.s = s; return s.id; })""",
        [live_server.base, live_server.jwt(session_id)],
    )


def test_four_heartbeats_offline_mid_exam(page, context, lms, live_server):
    """Offline for four heartbeat intervals (this exam's heartbeat is 5 s: 20 s; a minute at the
    default 15 s is the same number of intervals), then back."""
    store = live_server.store()
    try:
        store.policies.save(
            "uni-a",
            parse_policy({"exam_id": "offline", "heartbeat_seconds": 5, "consent": "off"}),
            "t",
        )
    finally:
        store.close()
    page.goto(lms("/exam", lms_page(live_server.base)))
    session_id = page.evaluate(
        """([server, jwt]) => openproctor.init({serverOrigin: server, integrationName: "lms",
             jwt}).then(s => { window.s = s; return s.id; })""",
        [live_server.base, live_server.jwt("offline-intervals", claims={"examId": "offline"})],
    )
    page.wait_for_function("() => s.state.acknowledged >= 0")
    context.set_offline(True)
    time.sleep(2)
    page.click("#question", button="right")  # recorded while offline
    time.sleep(8)
    page.click("#question", click_count=3)
    page.keyboard.press("Control+C")
    time.sleep(10.5)  # four intervals offline in all, heartbeats signed and queued
    queued = live_server.session(session_id).next_seq
    assert queued == 1  # nothing reached the server meanwhile
    context.set_offline(False)
    page.wait_for_function("() => s.state.acknowledged >= 5")
    page.evaluate("() => s.finish().then(() => s.logUploaded)")
    log = verify_log(session_id, live_server.events(session_id), live_server.keys(session_id))
    assert [e.seq for e in log] == list(range(len(log)))
    kinds = [e.type for e in log]
    assert "context_menu" in kinds and "copy_paste" in kinds
    assert kinds.count("heartbeat") >= 3  # the offline intervals kept their heartbeats
    (offline,) = [e.data for e in log if e.type == "network_offline"]
    assert offline["duration_ms"] >= 20_000
    assert not [e for e in log if e.type == "sdk_gap"]  # offline is not the SDK stopping


def test_server_restart_mid_exam(page, lms, live_server, tmp_path):
    """A second server on its own port over the same database and keys is stopped and started
    again while the exam page keeps signing; the client retries and catches up."""
    home = Path(live_server.database_url.removeprefix("sqlite:///")).parent
    env = {
        **os.environ,
        "OPENPROCTOR_DATABASE_URL": live_server.database_url,
        "OPENPROCTOR_SECRET_FILE": str(home / "secret.key"),
        "OPENPROCTOR_BUNDLE_DIR": str(BUNDLE),
    }
    env.pop("OPENPROCTOR_SECRET_KEYS", None)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "openproctor.server.cli",
        "serve",
        "--port",
        str(port),
        "--public-origin",
        base,
        "--log-level",
        "warning",
    ]

    log_path = home / f"restart-{port}.log"

    def serve() -> subprocess.Popen:
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(command, env=env, stdout=log_file, stderr=log_file)
        wait_healthy(base, process, log_path)
        return process

    server = serve()
    try:
        page.goto(lms("/exam", lms_page(base)))
        session_id = page.evaluate(
            """([server, jwt]) => openproctor.init({serverOrigin: server,
                 integrationName: "lms", jwt}).then(s => { window.s = s; return s.id; })""",
            [base, live_server.jwt("restart-1")],
        )
        page.wait_for_function("() => s.state.acknowledged >= 0")
        stop(server)
        page.click("#question", button="right")  # signed while the server is down
        time.sleep(4)
        server = serve()
        page.wait_for_function("() => s.state.acknowledged >= 1", timeout=60_000)
        page.evaluate("() => s.finish().then(() => s.logUploaded)")
    finally:
        stop(server)
    log = verify_log(session_id, live_server.events(session_id), live_server.keys(session_id))
    assert "context_menu" in [e.type for e in log] and log[-1].type == "session_end"


WALL_CLOCK = """() => {
  // The page's wall clock (Date) can be moved by the test, as an NTP step or a student
  // changing the system time would move it. performance.now() is left alone, as in browsers.
  const Real = Date; let offset = 0;
  window.jumpClock = ms => { offset += ms; };
  function Fake(...args) { return args.length ? new Real(...args) : new Real(Real.now() + offset); }
  Fake.now = () => Real.now() + offset; Fake.parse = Real.parse; Fake.UTC = Real.UTC;
  Fake.prototype = Real.prototype;
  window.Date = Fake;
}"""


def test_wall_clock_jumps_do_not_break_the_chain(page, lms, live_server):
    """Two hours forward, then three back, mid-exam: events keep their order and their real
    spacing, the log verifies and is complete."""
    page.add_init_script(f"({WALL_CLOCK})()")
    page.goto(lms("/exam", lms_page(live_server.base)))
    session_id = start(page, live_server, "clock-jump")
    started = time.monotonic()
    page.click("#question", button="right")
    time.sleep(1.2)
    page.evaluate("() => jumpClock(2 * 3600 * 1000)")
    assert page.evaluate("() => Date.now() - performance.timeOrigin - performance.now()") > 7e6
    page.click("#question", button="right")
    time.sleep(1.2)
    page.evaluate("() => jumpClock(-3 * 3600 * 1000)")
    page.click("#question", button="right")
    time.sleep(1.2)
    page.evaluate("() => s.finish().then(() => s.logUploaded)")
    elapsed_ms = (time.monotonic() - started) * 1000
    log = verify_log(session_id, live_server.events(session_id), live_server.keys(session_id))
    times = [e.t for e in log]
    assert times == sorted(times)
    assert times[-1] <= elapsed_ms + 15_000  # real exam time, not hours
    menus = [e for e in log if e.type == "context_menu"]
    assert len(menus) == 3
    assert all(1000 <= b.t - a.t <= 3000 for a, b in itertools.pairwise(menus))
    row = live_server.session(session_id)
    assert row.complete and not row.score_mismatch
