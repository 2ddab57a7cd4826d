"""openproctor.testing without a browser: the plugin's options (a staging server with the
integration's credential; the errors that name what is missing), the record read over the
API, and the privacy assertions on recorded requests."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from openproctor.testing import (
    OpenproctorServer,
    RecordedRequest,
    RequestRecorder,
    ServerError,
    start_local_server,
)
from openproctor.testing.plugin import remote_server


def run_pytest(folder: Path, test: str, *args: str, env: dict[str, str] | None = None):
    (folder / "test_inner.py").write_text(textwrap.dedent(test))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


REMOTE_TEST = """
    import httpx2 as httpx
    from openproctor.core import Signer

    ENVIRONMENT = {"browser": "Chromium", "browser_version": "156.0", "engine": "Blink",
                   "platform": "Linux x86_64", "mobile": False, "screens": 1}

    def test_a_session_on_the_staging_server(openproctor_server):
        assert "secret" not in repr(openproctor_server)
        grant = openproctor_server.start_session("lms-77")
        signer = Signer(bytes.fromhex(grant["signing_key"]), grant["session_id"])
        events = [
            signer.sign(0, "session_start", {"sdk_version": "0.1.0", **ENVIRONMENT,
                                             "heartbeat_ms": 15000}),
            signer.sign(4000, "tab_switch", {"duration_ms": 3000, "count": 1}),
            signer.sign(9000, "session_end", {"count": 2, "reason": "finished"}),
        ]
        url = f"{openproctor_server.url}/api/v1/sessions/{grant['session_id']}"
        auth = {"authorization": f"Bearer {grant['token']}"}
        stored = httpx.post(url + "/events", headers=auth,
                            json={"events": [e.to_dict() for e in events]})
        assert stored.status_code == 200, stored.text
        assert httpx.post(url + "/finish", headers=auth).status_code == 200
        record = openproctor_server.session("lms-77")  # the LMS's own session id
        record.assert_verified()
        record.assert_flag("tab_switch", count=1, min_seconds=3)
"""


@pytest.fixture(scope="module")
def staging():
    """A running server standing in for an integrator's staging server."""
    server = start_local_server(["https://lms.example.edu"], integration="lms-staging")
    yield server
    server.stop()


def test_the_plugin_tests_against_a_running_server_with_its_credential(staging, tmp_path):
    (tmp_path / "secret").write_text(staging.secret + "\n")
    done = run_pytest(
        tmp_path,
        REMOTE_TEST,
        "--openproctor-url",
        staging.url,
        "--openproctor-integration",
        "lms-staging",
        "--openproctor-secret-file",
        str(tmp_path / "secret"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_a_wrong_secret_is_a_clear_refusal(staging):
    wrong = OpenproctorServer(staging.url, "lms-staging", "not-the-secret-" + "x" * 20)
    with pytest.raises(ServerError, match="starting a session failed: 401"):
        wrong.start_session()
    with pytest.raises(ServerError, match="401"):
        wrong.status("anything")


@pytest.mark.parametrize(
    ("integration", "secret_file", "environ", "message"),
    [
        (None, None, {"OPENPROCTOR_TEST_SECRET": "s" * 32}, "needs --openproctor-integration"),
        ("lms", None, {}, "needs the integration's secret"),
        ("lms", None, {"OPENPROCTOR_TEST_SECRET": ""}, "needs the integration's secret"),
    ],
)
def test_a_staging_server_without_its_credential_is_a_usage_error(
    integration, secret_file, environ, message
):
    option = SimpleNamespace(
        openproctor_url="https://proctor.example.edu/",
        openproctor_integration=integration,
        openproctor_secret_file=secret_file,
        openproctor_origin=[],
    )
    with pytest.raises(pytest.UsageError, match=message):
        remote_server(option, environ)


def test_the_secret_comes_from_the_file_and_never_shows(tmp_path):
    (tmp_path / "secret").write_text("from-the-file-" + "y" * 20 + "\n")
    option = SimpleNamespace(
        openproctor_url="https://proctor.example.edu/",
        openproctor_integration="lms",
        openproctor_secret_file=str(tmp_path / "secret"),
        openproctor_origin=["https://lms.example.edu"],
    )
    server = remote_server(option, {"OPENPROCTOR_TEST_SECRET": "not-this-one"})
    assert server.url == "https://proctor.example.edu" and server.secret.startswith("from-the-file")
    assert "from-the-file" not in repr(server) and server.origins == ("https://lms.example.edu",)


class FakeContext:
    def __init__(self) -> None:
        self.listeners = []

    def on(self, event, listener) -> None:
        self.listeners.append(listener)

    def remove_listener(self, event, listener) -> None:
        self.listeners.remove(listener)


class FakeRequest:
    def __init__(self, url: str, body: bytes = b"", headers=None) -> None:
        self.url, self.method, self.resource_type = url, "POST", "fetch"
        self.post_data_buffer, self.headers = body, headers or {}


def recorded(*requests: FakeRequest) -> RequestRecorder:
    context = FakeContext()
    recorder = RequestRecorder(context)
    for request in requests:
        context.listeners[0](request)
    return recorder


def test_every_encoding_of_the_marker_is_caught():
    marker = "MARKER-unit ä/b"
    encodings = [
        FakeRequest(f"https://x.test/?q={marker}"),
        FakeRequest("https://x.test/?q=MARKER-unit%20%C3%A4%2Fb"),
        FakeRequest("https://x.test/", b'{"t": "MARKER-unit \\u00e4/b"}'),
        FakeRequest("https://x.test/", "MARKER-unit ä/b".encode()),
        FakeRequest("https://x.test/", b"TUFSS0VSLXVuaXQgw6QvYg"),  # base64, unpadded
        FakeRequest("https://x.test/", headers={"x-answer": marker}),
    ]
    for request in encodings:
        with pytest.raises(AssertionError, match="carried the marker"):
            recorded(request).assert_no_content_left(marker)
    recorded(FakeRequest("https://x.test/", b"nothing here")).assert_no_content_left(marker)
    with pytest.raises(ValueError):
        recorded().assert_no_content_left("")


def test_only_origins_lists_what_went_elsewhere_and_ignores_local_urls():
    recorder = recorded(
        FakeRequest("https://lms.example.edu/quiz"),
        FakeRequest("https://proctor.example.edu/sdk/v1/loader.js"),
        FakeRequest("data:text/plain,hello"),
        FakeRequest("https://cdn.example.com/analytics.js"),
    )
    assert len(recorder.requests) == 3  # data: never leaves the browser
    recorder.assert_only_origins(
        "https://lms.example.edu", "https://proctor.example.edu", "https://cdn.example.com/x"
    )
    with pytest.raises(AssertionError) as failed:
        recorder.assert_only_origins(
            "https://lms.example.edu/quiz/42", "https://proctor.example.edu"
        )
    assert "1 of 3 requests" in str(failed.value)
    assert "https://cdn.example.com/analytics.js" in str(failed.value)
    assert isinstance(recorder.requests[0], RecordedRequest)
    recorder.stop()
    assert recorder.context.listeners == []
