"""Real server processes: kill -9 mid-stream loses nothing acknowledged; two processes on one
PostgreSQL database ingest the same sessions correctly. Traffic stays on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import pytest

from openproctor.core import ChainState, Signer, verify_log
from openproctor.server.cli import main as cli_main
from openproctor.server.security.tokens import mint_start_token
from openproctor.server.storage import Storage

from ...support import ENVIRONMENT, free_port, stop, wait_healthy
from .conftest import SECRET


@contextmanager
def server(
    database_url: str,
    secret_file: Path,
    port: int,
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
    log_level: str = "warning",
) -> Iterator[subprocess.Popen]:
    env = {
        **os.environ,
        "OPENPROCTOR_DATABASE_URL": database_url,
        "OPENPROCTOR_SECRET_FILE": str(secret_file),
        "OPENPROCTOR_PUBLIC_ORIGIN": f"http://127.0.0.1:{port}",
        **(extra_env or {}),
    }
    env.pop("OPENPROCTOR_SECRET_KEYS", None)
    log_path = secret_file.parent / f"server-{port}.log"
    log = log_path.open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "openproctor.server.cli",
            "serve",
            "--port",
            str(port),
            "--log-level",
            log_level,
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, log_path)
        yield process
    finally:
        stop(process)
        log.close()


def register(database_url: str, secret_file: Path) -> None:
    old = {k: os.environ.get(k) for k in ("OPENPROCTOR_DATABASE_URL", "OPENPROCTOR_SECRET_FILE")}
    os.environ["OPENPROCTOR_DATABASE_URL"] = database_url
    os.environ["OPENPROCTOR_SECRET_FILE"] = str(secret_file)
    try:
        assert (
            cli_main(["integration", "add", "lms1", "--institution", "uni-a", "--secret", SECRET])
            == 0
        )
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def start_session(base: str, external_id: str) -> dict:
    token = mint_start_token(
        SECRET, user_id="u-" + external_id, exam_id="E1", session_id=external_id
    )
    response = httpx.post(
        f"{base}/api/v1/sessions", json={"integrationName": "lms1", "jwt": token}, timeout=10
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def opening(signer: Signer):
    return signer.sign(
        0, "session_start", {"sdk_version": "0.1.0", **ENVIRONMENT, "heartbeat_ms": 15000}
    )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'durable.sqlite3'}"


def test_kill_9_mid_stream_loses_nothing_acknowledged(sqlite_url, tmp_path):
    secret_file = tmp_path / "secret.key"
    register(sqlite_url, secret_file)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    acknowledged = -1
    stop = threading.Event()
    with server(sqlite_url, secret_file, port) as process:
        grant = start_session(base, "durable-1")
        sid, key = grant["session_id"], bytes.fromhex(grant["signing_key"])
        signer = Signer(key, sid)
        headers = {"authorization": f"Bearer {grant['token']}"}
        first = [opening(signer)]

        def pump() -> None:
            nonlocal acknowledged
            batch = first
            t = 0
            with httpx.Client(base_url=base, headers=headers, timeout=5) as http:
                for _ in range(2000):  # bounded
                    if stop.is_set():
                        return
                    try:
                        response = http.post(
                            f"/api/v1/sessions/{sid}/events",
                            json={"events": [e.to_dict() for e in batch]},
                        )
                    except httpx.TransportError:
                        return  # the server died under us
                    if response.status_code != 200:
                        return
                    acknowledged = response.json()["acknowledged_seq"]
                    batch = []
                    for _ in range(50):
                        t += 100
                        batch.append(signer.sign(t, "heartbeat", {}))

        thread = threading.Thread(target=pump)
        thread.start()
        deadline = time.monotonic() + 20
        while acknowledged < 500 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)  # mid-stream, no shutdown
        process.wait(10)
        stop.set()
        thread.join(10)
    assert acknowledged >= 500

    store = Storage(sqlite_url)
    stored = store.sessions.events(sid)
    store.close()
    assert len(stored) - 1 >= acknowledged  # every acknowledged event is there
    assert (len(stored) - 1) % 50 == 0  # whole batches only: the opening event plus 50s
    log = verify_log(sid, stored, [key], complete=False)

    # The client continues the chain against the restarted server from what was stored.
    with server(sqlite_url, secret_file, port):
        resumed = start_session(base, "durable-1")
        assert resumed["resumed"] and resumed["chain"]["next_seq"] == len(stored)
        state = ChainState(
            sid,
            resumed["chain"]["next_seq"],
            resumed["chain"]["last_mac"],
            resumed["chain"]["last_t"],
        )
        signer = Signer(key, sid, state=state)
        tail = [
            signer.sign(log[-1].t + 1000, "heartbeat", {}),
            signer.sign(
                log[-1].t + 2000, "session_end", {"count": len(stored) + 1, "reason": "finished"}
            ),
        ]
        response = httpx.post(
            f"{base}/api/v1/sessions/{sid}/events",
            json={"events": [e.to_dict() for e in tail]},
            headers={"authorization": f"Bearer {resumed['token']}"},
            timeout=10,
        )
        assert response.status_code == 200 and response.json()["complete"]


def test_two_server_processes_share_one_postgresql(database_url, tmp_path):
    if not database_url.startswith("postgresql"):
        pytest.skip("the multi-process deployment is PostgreSQL's (SQLite is one machine)")
    secret_file = tmp_path / "secret.key"
    register(database_url, secret_file)
    ports = [free_port(), free_port()]
    with server(database_url, secret_file, ports[0]), server(database_url, secret_file, ports[1]):
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        sessions = [start_session(bases[i % 2], f"multi-{i}") for i in range(6)]
        errors: list[str] = []

        def student(grant: dict, index: int) -> None:
            sid, key = grant["session_id"], bytes.fromhex(grant["signing_key"])
            signer = Signer(key, sid)
            headers = {"authorization": f"Bearer {grant['token']}"}
            batches = [[opening(signer)]]
            for b in range(10):
                batches.append(
                    [signer.sign(1000 * (b * 20 + i + 1), "heartbeat", {}) for i in range(20)]
                )
            batches.append(
                [
                    signer.sign(
                        300_000,
                        "session_end",
                        {"count": signer.state.next_seq, "reason": "finished"},
                    )
                ]
            )
            for number, batch in enumerate(batches):
                base = bases[(index + number) % 2]  # alternate between the two processes
                body = {"events": [e.to_dict() for e in batch]}
                for _ in range(2):  # send every batch twice, through both processes
                    response = httpx.post(
                        f"{base}/api/v1/sessions/{sid}/events",
                        json=body,
                        headers=headers,
                        timeout=10,
                    )
                    if response.status_code != 200:
                        errors.append(response.text)
                    base = bases[(index + number + 1) % 2]

        threads = [threading.Thread(target=student, args=(g, i)) for i, g in enumerate(sessions)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert errors == []
    store = Storage(database_url)
    for grant in sessions:
        log = store.sessions.events(grant["session_id"])
        assert len(log) == 1 + 200 + 1
        verify_log(grant["session_id"], log, [bytes.fromhex(grant["signing_key"])])
        row = store.sessions.get(grant["session_id"])
        assert row.status == "finished" and row.complete
    store.close()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _response(sock: socket.socket) -> bytes:
    """One whole HTTP response: the headers, then content-length bytes of body (TCP may hand
    them over in separate reads), or whatever came before the server closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")[1:]
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_slow_clients_get_408_and_do_not_hold_the_server(tmp_path):
    """100 clients send their headers and the start of a body, then stall: each gets 408 once
    the body deadline passes, the server keeps answering others meanwhile, memory stays
    bounded, and nothing is stored."""
    database_url = f"sqlite:///{tmp_path / 'slow.sqlite3'}"
    secret_file = tmp_path / "secret.key"
    register(database_url, secret_file)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with server(database_url, secret_file, port, {"OPENPROCTOR_BODY_TIMEOUT_SECONDS": "2"}) as proc:
        grant = start_session(base, "slow-1")
        before = rss_bytes(proc.pid)
        head = (
            f"POST /api/v1/sessions/{grant['session_id']}/events HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
            f"authorization: Bearer {grant['token']}\r\ncontent-length: 200000\r\n\r\n"
        ).encode()
        sockets = []
        try:
            for _ in range(100):
                sock = socket.create_connection(("127.0.0.1", port), timeout=15)
                sock.sendall(head + b'{"events": [')
                sockets.append(sock)
            started = time.monotonic()
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
            assert time.monotonic() - started < 1.5  # not stuck behind the slow ones
            answers = [_response(sock) for sock in sockets]
        finally:
            for sock in sockets:
                sock.close()
        assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[0][:200]
        assert b"request_timeout" in answers[0]
        assert rss_bytes(proc.pid) - before < 64 * 1024 * 1024
        store = Storage(database_url)
        try:
            assert store.sessions.events(grant["session_id"]) == []
        finally:
            store.close()


def test_metrics_add_up_across_workers(tmp_path):
    """Two workers behind one port: whichever answers /metrics reports every session started
    (prometheus-client's multiprocess mode, set up by `serve --workers 2`)."""
    database_url = f"sqlite:///{tmp_path / 'metrics.sqlite3'}"
    secret_file = tmp_path / "secret.key"
    register(database_url, secret_file)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        server(database_url, secret_file, port, workers=2),
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        for n in range(12):  # a new connection each: spread over the workers
            start_session(base, f"metrics-{n}")
        seen = set()
        for _ in range(8):
            text = http.get("/metrics", headers={"connection": "close"}).text
            line = next(
                line
                for line in text.splitlines()
                if line.startswith('openproctor_sessions_started_total{kind="started"}')
            )
            seen.add(float(line.rsplit(" ", 1)[1]))
    assert seen == {12.0}


def test_the_record_key_stays_out_of_the_server_log(tmp_path):
    """A real server with its access log on: the student's record link is requested, and its
    key appears nowhere in what the server printed (uvicorn logs full paths)."""
    database_url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    secret_file = tmp_path / "secret.key"
    register(database_url, secret_file)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with server(
        database_url, secret_file, port, {"OPENPROCTOR_LOG_LEVEL": "info"}, log_level="info"
    ):
        grant = start_session(base, "log-1")
        record = grant["record_url"]
        assert httpx.get(base + record, timeout=10).status_code == 200
        evidence = record.replace("?", "/evidence.json?", 1)
        assert httpx.get(base + evidence, timeout=30).status_code == 200
    printed = (tmp_path / f"server-{port}.log").read_text()
    assert "GET /record/" in printed  # the access log is on ...
    key = record.split("key=", 1)[1]
    assert key not in printed and "key=[redacted]" in printed  # ... and the key is not in it
    assert grant["token"] not in printed and grant["signing_key"] not in printed
