"""Browser tests: a real server process on 127.0.0.1, the real bundle, Debian's Chromium.

Playwright drives most scenarios. Playwright keeps every page it launches "visible and focused"
by design, so the tab-switch and window-blur scenarios use openproctor.testing's fixtures and
helpers: a Chromium the kit starts and attaches to without focus emulation, where a new tab
really hides the exam page.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from openproctor.core import parse_policy
from openproctor.server.security.keys import Keyring, load_master_keys
from openproctor.server.security.tokens import mint_start_token
from openproctor.server.storage import Storage
from openproctor.server.storage.audit import use_key
from openproctor.server.storage.rows import SessionRow

from ..support import free_port, stop, wait_healthy
from .engines import CHROMIUM, FIREFOX, QUIET

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "build" / "sdk"
CHROMIUM_ARGS = QUIET
LMS = "http://localhost:9"  # an origin other than the server's 127.0.0.1
SECRET = "browser-test-integration-secret-" + "0123456789abcdef" * 2
EXAM = "CS101-final"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: ./dev test installs Debian's chromium package")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@dataclass
class LiveServer:
    base: str
    database_url: str
    keyring: Keyring

    def store(self) -> Storage:
        """The server's database, as the server opens it (its audit log signed with its key)."""
        store = Storage(self.database_url)
        use_key(store.engine, self.keyring.audit_keys()[0])
        return store

    def jwt(self, session_id: str, user_id: str = "student-1", **extra: Any) -> str:
        return mint_start_token(
            SECRET, user_id=user_id, exam_id=EXAM, session_id=session_id, **extra
        )

    def start_session(self, session_id: str, user_id: str = "student-1") -> dict[str, Any]:
        response = httpx.post(
            f"{self.base}/api/v1/sessions",
            timeout=10,
            json={"integrationName": "lms", "jwt": self.jwt(session_id, user_id)},
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    def events(self, session_id: str) -> list[dict[str, Any]]:
        store = self.store()
        try:
            return store.sessions.events(session_id)
        finally:
            store.close()

    def session(self, session_id: str) -> SessionRow:
        store = self.store()
        try:
            row = store.sessions.get(session_id)
            assert row is not None
            return row
        finally:
            store.close()

    def keys(self, session_id: str) -> list[Any]:
        return self.keyring.session_keys(session_id)


EXAM_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<link rel="icon" href="data:,"><title>Exam</title>
<script>
// Records every request body the page sends (the SDK uploads from the page).
window.sent = [];
var realFetch = window.fetch;
window.fetch = function (url, init) {
  sent.push({url: String(url), body: init && init.body ? String(init.body) : ""});
  return realFetch.apply(this, arguments);
};
window.flags = {};
</script>
<script src="SERVER/sdk/v1/loader.js"></script>
</head><body><h1>Exam</h1><a id="away" href="/blank" target="_blank">reference</a>
<p id="question">Which of these is a prime number?</p>
<label for="answer">Your answer</label><textarea id="answer"></textarea>
<button id="start" type="button">Start</button><button id="finish" type="button">Finish</button>
<p id="status"></p>
<script>
document.getElementById("start").onclick = function () {
  openproctor.init({serverOrigin: "SERVER", integrationName: "lms", jwt: JWT}).then(function (s) {
    window.s = s;
    s.examStarted.then(function () { flags.started = true; });
    s.examFinished.then(function () { flags.finished = true; });
    s.logUploaded.then(function () { flags.uploaded = true; });
    s.videoUploaded.then(function () { flags.video = true; });
  }, function (e) { window.failure = e.code + ": " + e.message; });
};
document.getElementById("finish").onclick = function () { s.finish(); };
</script></body></html>"""


class _ExamPages(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/exam":
            body = (
                EXAM_PAGE.replace("SERVER", query["server"][0])
                .replace("JWT", json.dumps(query["jwt"][0]))
                .encode()
            )
        elif url.path == "/quiz":  # the exam page an LTI launch sends a learner to
            body = (
                '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
                f'<script src="{query["server"][0]}/sdk/v1/loader.js" data-session-mode="lms" '
                'async></script></head><body><h1>Quiz</h1><textarea id="answer"></textarea>'
                "</body></html>"
            ).encode()
        else:
            body = b"<!doctype html><title>elsewhere</title><p>another tab</p>"
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def exam_host() -> Iterator[str]:
    """A second loopback origin that serves an LMS-like exam page (cross-origin to the server)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ExamPages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, exam_host: str) -> Iterator[LiveServer]:
    if not (BUNDLE / "manifest.json").exists():
        pytest.fail("the SDK bundle is not built: run python build.py (./dev test does)")
    home = tmp_path_factory.mktemp("server")
    database_url = f"sqlite:///{home / 'browser.sqlite3'}"
    env = {
        **os.environ,
        "OPENPROCTOR_DATABASE_URL": database_url,
        "OPENPROCTOR_SECRET_FILE": str(home / "secret.key"),
        "OPENPROCTOR_BUNDLE_DIR": str(BUNDLE),
        # The test LMS serves its key set on 127.0.0.1: a private address the guard refuses.
        "OPENPROCTOR_OUTBOUND_ALLOW_PRIVATE": "1",
    }
    env.pop("OPENPROCTOR_SECRET_KEYS", None)
    cli = [sys.executable, "-m", "openproctor.server.cli"]
    subprocess.run(
        [
            *cli,
            "integration",
            "add",
            "lms",
            "--institution",
            "uni-a",
            "--origin",
            LMS,
            "--origin",
            exam_host,
            "--secret",
            SECRET,
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    # The shared exam asks for no consent: test_panel.py covers the notice and its gate on
    # exams of its own, and every other test here starts the exam as the integrator does.
    store = Storage(database_url)
    try:
        store.policies.save("uni-a", parse_policy({"exam_id": EXAM, "consent": "off"}), "tests")
    finally:
        store.close()
    port = free_port()
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [*cli, "serve", "--demo", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process, home / "server.log")
        keyring = Keyring(tuple(load_master_keys((), home / "secret.key")))
        yield LiveServer(base, database_url, keyring)
    finally:
        stop(process)
        log.close()


@pytest.fixture(scope="session")
def firefox_browser(playwright) -> Iterator[Any]:
    """Stock Firefox ESR through WebDriver BiDi (pytest-playwright's Playwright instance)."""
    browser = playwright.firefox.launch(
        channel="moz-firefox", headless=True, executable_path=FIREFOX
    )
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def manifest() -> dict[str, Any]:
    return json.loads((BUNDLE / "manifest.json").read_text())


def lms_page(base: str, body: str = "", head: str = "", loader_attrs: str = "") -> str:
    """An exam page as an LMS would serve it on its own origin, with the script tag."""
    return f"""<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
{head}
<script src="{base}/sdk/v1/loader.js" {loader_attrs}></script>
</head><body><h1>Exam</h1><button id="fs" type="button">Full screen</button>
<textarea id="answer"></textarea><p id="question">Copy me if you dare.</p>{body}
<script>
document.getElementById("fs").addEventListener("click", function () {{
  document.documentElement.requestFullscreen();
}});
</script></body></html>"""


@pytest.fixture
def lms(context, live_server):
    """Serve HTML as the LMS origin (http://lms.test) through Playwright, no network."""
    pages: dict[str, tuple[str, dict[str, str]]] = {}

    def handler(route):
        path = route.request.url[len(LMS) :].split("#")[0].split("?")[0]
        if path in pages:
            html, headers = pages[path]
            route.fulfill(body=html, content_type="text/html", headers=headers)
        else:
            route.fulfill(status=404, body="not found")

    context.route(f"{LMS}/**", handler)
    # Chromium asks the user before a page reaches a loopback or private address (Local
    # Network Access); a student on a real LMS talking to a local server would grant it.
    context.grant_permissions(["local-network-access"])

    def serve(path: str, html: str, headers: dict[str, str] | None = None) -> str:
        pages[path] = (html, headers or {})
        return LMS + path

    return serve
