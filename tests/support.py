"""Small helpers shared by the tests and the benchmarks (ports, waiting for a server, fixtures'
data), so each exists once."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx2 as httpx

#: The session_start environment of a desktop Chromium, as the loader reports it.
ENVIRONMENT = {
    "browser": "Chromium",
    "browser_version": "156.0",
    "engine": "Blink",
    "platform": "Linux x86_64",
    "mobile": False,
    "screens": 1,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(
    base: str, process: subprocess.Popen, log: Path | None = None, timeout: float = 30
) -> None:
    """Wait until ``base``/healthz answers 200; fail with the server's log if it died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            detail = log.read_text() if log is not None and log.exists() else ""
            raise RuntimeError(f"server at {base} did not start: {detail}")
        time.sleep(0.1)


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """End a process this test started: politely, then for good."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
