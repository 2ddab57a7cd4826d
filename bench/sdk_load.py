"""SDK load in Chromium: navigation -> core ready (cold and warm), bytes transferred, main-thread
long tasks during boot and during a stream of simulated events, and the worker's heap.

Run (the bundle must be built; starts its own server on 127.0.0.1, stops by itself):
    .venv/bin/python bench/sdk_load.py --runs 7 --soak-seconds 600
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openproctor.server.security.tokens import mint_start_token
from tests.browser.engines import QUIET as ARGS
from tests.support import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-integration-secret-" + "0123456789abcdef" * 2

PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<script>
window.longTasks = [];
new PerformanceObserver(list => { for (const e of list.getEntries())
  longTasks.push({start: e.startTime, duration: e.duration}); })
  .observe({type: "longtask", buffered: true});
</script>
<script src="/sdk/v1/loader.js"></script>
<script>
window.bench = openproctor.init({serverOrigin: location.origin, integrationName: "bench",
  jwt: JWT, bundle: MODE}).then(s => s.ready).then(s => { window.s = s;
  window.readyAt = performance.now(); return s.state; });
</script></head><body><textarea id="a"></textarea></body></html>"""

SOAK = """(seconds) => new Promise(resolve => {
  const kinds = [() => window.dispatchEvent(new Event("blur")),
                 () => window.dispatchEvent(new Event("focus")),
                 () => document.dispatchEvent(new Event("copy")),
                 () => document.dispatchEvent(new Event("contextmenu")),
                 () => document.dispatchEvent(
                   new KeyboardEvent("keydown", {key: "c", ctrlKey: true})),
                 () => document.dispatchEvent(new PointerEvent("pointermove"))];
  let i = 0;
  const started = performance.now();
  const timer = setInterval(() => {
    kinds[i++ % kinds.length]();
    if (performance.now() - started > seconds * 1000) { clearInterval(timer); resolve(i); }
  }, 50);
})"""


def start_server(home: Path, origins: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    env = {
        **os.environ,
        "OPENPROCTOR_DATABASE_URL": f"sqlite:///{home / 'bench.sqlite3'}",
        "OPENPROCTOR_SECRET_FILE": str(home / "secret.key"),
        "OPENPROCTOR_BUNDLE_DIR": str(ROOT / "build" / "sdk"),
    }
    cli = [sys.executable, "-m", "openproctor.server.cli"]
    allowed = [arg for origin in origins for arg in ("--origin", origin)]
    subprocess.run(
        [
            *cli,
            "integration",
            "add",
            "bench",
            "--institution",
            "bench",
            "--secret",
            SECRET,
            *allowed,
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    process = subprocess.Popen(
        [*cli, "serve", "--demo", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, process)
    return process, base


class Transfer:
    """Counts the bytes (encoded bodies and headers) of every request the context finishes, the
    worker's included, while it is open."""

    def __init__(self, context) -> None:
        self.context, self.finished = context, []

    def _record(self, request) -> None:
        self.finished.append(request)

    def __enter__(self) -> Transfer:
        self.context.on("requestfinished", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.3)  # let the last responses finish
        self.context.remove_listener("requestfinished", self._record)

    @property
    def bytes(self) -> int:
        return sum(
            r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"] for r in self.finished
        )


def one_load(context, base: str, mode: str, run: int) -> dict:
    jwt = mint_start_token(
        SECRET,
        user_id=f"u{run}-{mode}",
        exam_id="bench",
        session_id=f"bench-{mode}-{run}-{time.time_ns()}",
    )
    html = PAGE.replace("JWT", json.dumps(jwt)).replace("MODE", json.dumps(mode))
    page = context.new_page()
    page.route(base + "/__bench", lambda route: route.fulfill(body=html, content_type="text/html"))
    with Transfer(context) as transfer:
        page.goto(base + "/__bench")
        state = page.evaluate("() => bench")
        ready = page.evaluate("() => readyAt")
    return {**measured(page, transfer.bytes, ready, state), "heap_bytes": state.get("heapBytes")}


OBSERVER = """
window.longTasks = [];
new PerformanceObserver(list => { for (const e of list.getEntries())
  longTasks.push({start: e.startTime, duration: e.duration}); })
  .observe({type: "longtask", buffered: true});
addEventListener("openproctor:state", e => {
  if (e.detail.ready && !window.readyAt) { window.readyAt = performance.now();
    window.readyState = e.detail; }
});
"""


def demo_load(context, base: str) -> dict:
    """The demo exam page as served (no routing, so the HTTP cache works): navigation, then the
    start button as soon as the page has loaded, until the core is ready in the worker."""
    page = context.new_page()
    with Transfer(context) as transfer:
        page.goto(base + "/demo")
        page.click("#start")
        # The notice, as a student agrees to it (the core boots meanwhile: "ready" is its time).
        page.locator("[data-openproctor-panel] button[data-action=agree]").click(timeout=60000)
        page.wait_for_selector('#status:has-text("Proctoring active")', timeout=60000)
        ready = page.evaluate("() => window.readyAt")
        state = page.evaluate("() => window.readyState")
    return measured(page, transfer.bytes, ready, state)


def measured(page, transferred: int, ready: float, state: dict) -> dict:
    """What one load measured: time to ready, the worker's boot, bytes, long tasks until ready."""
    boot_long = [t for t in page.evaluate("() => longTasks") if t["start"] <= ready]
    return {
        "page": page,
        "ready_ms": ready,
        "worker_boot_ms": state["bootMs"],
        "bytes": transferred,
        "long_tasks_boot": len(boot_long),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--soak-seconds", type=int, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server, base = start_server(Path(tmp))
        try:
            results = measure(base, args, Path(tmp))
        finally:
            server.terminate()
            server.wait(10)
    print(json.dumps(results, indent=1))


def measure(base: str, args: argparse.Namespace, tmp: Path) -> dict:
    results: dict = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for mode in ("fast", "wheel"):  # the same routed page for both (cache off: cold)
            cold = []
            for run in range(args.runs):
                context = browser.new_context()
                load = one_load(context, base, mode, run)
                load["page"].evaluate("() => s.finish()")
                context.close()
                cold.append(load)
            results[f"routed_page_{mode}"] = {
                "cold_ready_ms_median": statistics.median(r["ready_ms"] for r in cold),
                "cold_worker_boot_ms_median": statistics.median(r["worker_boot_ms"] for r in cold),
                "cold_bytes_median": statistics.median(r["bytes"] for r in cold),
                "long_tasks_during_boot_max": max(r["long_tasks_boot"] for r in cold),
                "worker_wasm_heap_bytes": cold[0]["heap_bytes"],
            }
        cold = []
        for _ in range(args.runs):
            context = browser.new_context()
            context.add_init_script(OBSERVER)
            cold.append(demo_load(context, base))
            context.close()
        persistent = p.chromium.launch_persistent_context(
            str(tmp / "profile"), executable_path="/usr/bin/chromium", args=ARGS
        )
        persistent.add_init_script(OBSERVER)
        demo_load(persistent, base)["page"].close()  # fill the disk cache
        warm = []
        for _ in range(args.runs):
            load = demo_load(persistent, base)
            load["page"].close()
            warm.append(load)
        persistent.close()
        results["demo_page_fast"] = {
            "cold_ready_ms_median": statistics.median(r["ready_ms"] for r in cold),
            "warm_ready_ms_median": statistics.median(r["ready_ms"] for r in warm),
            "cold_worker_boot_ms_median": statistics.median(r["worker_boot_ms"] for r in cold),
            "warm_worker_boot_ms_median": statistics.median(r["worker_boot_ms"] for r in warm),
            "cold_bytes_median": statistics.median(r["bytes"] for r in cold),
            "warm_bytes_median": statistics.median(r["bytes"] for r in warm),
            "long_tasks_during_boot_max": max(r["long_tasks_boot"] for r in cold + warm),
        }
        results["runs"] = args.runs
        if args.soak_seconds:
            context = browser.new_context()
            load = one_load(context, base, "fast", 9999)
            page = load["page"]
            before = len(page.evaluate("() => longTasks"))
            fired = page.evaluate(SOAK, args.soak_seconds)
            tasks = page.evaluate("() => longTasks")[before:]
            sid = page.evaluate("() => s.id")
            page.evaluate("() => s.finish().then(() => s.logUploaded)")
            results["soak"] = {
                "seconds": args.soak_seconds,
                "signals_fired": fired,
                "long_tasks": len(tasks),
                "longest_ms": max((t["duration"] for t in tasks), default=0),
                "session": sid,
            }
            context.close()
        browser.close()
    return results


if __name__ == "__main__":
    main()
