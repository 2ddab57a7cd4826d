"""Per engine (Chromium, Firefox, WebKitGTK): navigation -> core ready in a fresh browser, and the
core's throughput in that engine's Pyodide (sign and score 10,000 events on the page).

Run (bundle built, Debian browsers installed, starts Xvfb and a server, stops by itself):
    .venv/bin/python bench/engines.py --runs 5
"""

from __future__ import annotations

import argparse
import http.server
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sdk_load import SECRET, start_server  # noqa: E402

from openproctor.server.security.tokens import mint_start_token  # noqa: E402
from tests.browser import engines  # noqa: E402

EXAM = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<script src="SERVER/sdk/v1/loader.js"></script></head><body><script>
openproctor.init({serverOrigin: "SERVER", integrationName: "bench", jwt: JWT}).then(
  s => s.ready).then(s => { window.readyAt = performance.now(); window.s = s; },
  e => { window.failure = e.message; });
</script></body></html>"""

CORE = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head>
<body><script type="module">
const m = await (await fetch("SERVER/sdk/v1/manifest.json")).json();
const base = "SERVER/sdk/v1/";
const { loadPyodide } = await import(base + m.assets.runtime + "pyodide.mjs");
const py = await loadPyodide({indexURL: base + m.assets.runtime,
  stdLibURL: base + m.assets.stdlib, lockFileURL: base + m.assets.lock});
window.result = py.runPython(`
import time
from openproctor.core import Signer, Tally, parse_policy, score_tally
policy = parse_policy({"exam_id": "bench"})
times = []
for _ in range(3):
    started = time.perf_counter()
    signer, tally = Signer(b"bench-key", "bench"), Tally()
    for i in range(10000):
        kind = "heartbeat" if i % 5 else "focus_loss"
        data = {} if kind == "heartbeat" else {"duration_ms": 500, "count": 1}
        tally.add(signer.sign(i * 100, kind, data))
    score_tally(tally, policy)
    times.append(time.perf_counter() - started)
min(times) * 1000
`);
</script></body></html>"""


class Pages(http.server.BaseHTTPRequestHandler):
    server_base = ""

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        page = EXAM if url.path == "/exam" else CORE
        body = (
            page.replace("SERVER", self.server_base)
            .replace("JWT", json.dumps(query.get("jwt", [""])[0]))
            .encode()
        )
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    pages = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    host = f"http://127.0.0.1:{pages.server_port}"
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    xvfb = subprocess.Popen(
        ["Xvfb", ":97", "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        server, base = start_server(Path(tmp), origins=(host,))
        Pages.server_base = base
        try:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as playwright:
                firefox = playwright.firefox.launch(
                    channel="moz-firefox", headless=True, executable_path=engines.FIREFOX
                )
                makers = {
                    "chromium": engines.chromium,
                    "firefox": lambda: engines.PlaywrightEngine("firefox", firefox),
                    "webkit": lambda: engines.webkit(":97"),
                }
                for name, make in makers.items():
                    ready, core = [], []
                    for run in range(args.runs):
                        adapter = make()  # a fresh browser profile: a cold load
                        try:
                            jwt = mint_start_token(
                                SECRET,
                                user_id=f"{name}{run}",
                                exam_id="bench",
                                session_id=f"{name}-{run}-{time.time_ns()}",
                            )
                            adapter.open(f"{host}/exam?jwt={jwt}")
                            ready.append(engines.wait_for(adapter, "window.readyAt"))
                            adapter.open(f"{host}/core")
                            core.append(engines.wait_for(adapter, "window.result"))
                        finally:
                            adapter.close()
                    results[name] = {
                        "cold_ready_ms_median": round(statistics.median(ready)),
                        "sign_and_score_10000_ms_median": round(statistics.median(core), 1),
                        "events_per_s": round(10000 / (statistics.median(core) / 1000)),
                        "runs": args.runs,
                    }
                firefox.close()
        finally:
            server.terminate()
            server.wait(10)
            xvfb.terminate()
            pages.shutdown()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
