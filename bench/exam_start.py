"""Exam start in Chromium: click on "start" -> examStarted, click -> core ready, and the bytes
the browser received before examStarted, on localhost and three emulated links (the DevTools
protocol's network emulation, which covers the worker's downloads), cold (a fresh profile) and
warm (the same profile, second visit).

"Before" is today's core-ready time: until 2026-12-03 examStarted waited for the core, so the
old click -> examStarted is this run's click -> core ready (plus the same microtask); both come
from the same loads. Bounded: a fixed number of loads, each with a time limit.

Run: .venv/bin/python bench/exam_start.py [--runs 3] [--profiles localhost,50M,5M,2M]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import sync_playwright

from openproctor.testing import ExamHost, start_chromium, start_local_server

#: name: (download bits/s, latency ms); None is the bare loopback.
PROFILES: dict[str, tuple[float, int] | None] = {
    "localhost": None,
    "50M": (50e6, 20),
    "5M": (5e6, 60),
    "2M": (2e6, 150),
}
LABELS = {
    "localhost": "localhost",
    "50M": "50 Mbit/s, 20 ms",
    "5M": "5 Mbit/s, 60 ms",
    "2M": "2 Mbit/s, 150 ms",
}

PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<script src="SERVER/sdk/v1/loader.js"></script></head><body><button id="start">Start</button>
<script>
document.getElementById("start").onclick = function () {
  window.clickAt = performance.timeOrigin + performance.now();
  // theme "none" and agree() at once: the student's reading of the notice is not the SDK's time
  // (with the panel, examStarted follows the click on "I agree").
  openproctor.init({serverOrigin: "SERVER", integrationName: "INTEGRATION", jwt: JWT,
                    theme: "none"})
    .then(function (s) {
      s.agree();
      var now = function () { return performance.timeOrigin + performance.now(); };
      s.examStarted.then(function () { window.startedAt = now(); });
      s.ready.then(function () { window.readyAt = now(); });
    }, function (e) { window.failure = e.message; });
};
</script></body></html>"""


def one_load(browser, host: ExamHost, server, link: tuple[float, int] | None, run: str) -> dict:
    context = browser.contexts[0]
    page = context.new_page()
    finished: list = []

    def record(request) -> None:
        finished.append(request)

    context.on("requestfinished", record)
    html = (
        PAGE.replace("SERVER", server.url)
        .replace("INTEGRATION", server.integration)
        .replace("JWT", json.dumps(server.token(f"bench-{run}-{time.time_ns()}")))
    )
    url = host.serve(f"/start-{run}", html)
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    if link is not None:
        bits, latency = link
        cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": latency,
                "downloadThroughput": bits / 8,
                "uploadThroughput": bits / 8,
            },
        )
    page.goto(url)
    page.wait_for_timeout(300)
    page.click("#start")
    page.wait_for_function("() => window.readyAt || window.failure", timeout=180_000)
    times = page.evaluate("() => [clickAt, startedAt, readyAt, window.failure || null]")
    page.wait_for_timeout(300)
    context.remove_listener("requestfinished", record)
    if times[3]:
        raise RuntimeError(times[3])
    click, started, ready = times[:3]
    before = 0
    for request in finished:
        timing = request.timing
        done = timing["startTime"] + timing["responseEnd"]
        if done <= started:
            sizes = request.sizes()
            before += sizes["responseBodySize"] + sizes["responseHeadersSize"]
    page.close()
    return {"started_ms": started - click, "ready_ms": ready - click, "bytes_before": before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profiles", default=",".join(PROFILES))
    args = parser.parse_args()
    chosen = [p.strip() for p in args.profiles.split(",")]
    host = ExamHost()
    server = start_local_server([host.origin])
    rows = []
    try:
        with sync_playwright() as playwright:
            for name in chosen:
                link = PROFILES[name]
                for state in ("cold", "warm"):
                    loads = []
                    for run in range(args.runs):
                        started = start_chromium(playwright)
                        try:
                            if state == "warm":  # a first visit fills the disk cache
                                one_load(started.browser, host, server, link, f"{name}-{run}-w0")
                            loads.append(
                                one_load(started.browser, host, server, link, f"{name}-{run}")
                            )
                        finally:
                            started.close()
                    rows.append((name, state, loads))
                    print(name, state, json.dumps(loads), file=sys.stderr)
    finally:
        server.stop()
        host.close()
    rtt = {name: (PROFILES[name][1] if PROFILES[name] else 0) for name in chosen}
    print(f"medians of {args.runs} loads each, Chromium, one run")
    print(
        "| link | cache | click → examStarted | click → core ready (= before) | ratio | "
        "target (3 RTT + 150 ms) | bytes before examStarted |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, state, loads in rows:
        started = statistics.median(x["started_ms"] for x in loads)
        ready = statistics.median(x["ready_ms"] for x in loads)
        bytes_before = statistics.median(x["bytes_before"] for x in loads)
        target = 3 * rtt[name] + 150
        print(
            f"| {LABELS[name]} | {state} | {started:,.0f} ms | {ready:,.0f} ms | "
            f"{ready / started:,.1f}x | {target} ms: {'met' if started <= target else 'missed'} | "
            f"{bytes_before / 1000:,.1f} KB |"
        )


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        main()
