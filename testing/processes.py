"""Starting and ending the processes a test needs (a server, a browser): a free port, waiting
until a server answers, and ending a process politely, then for good."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx2 as httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(
    base: str, process: subprocess.Popen[bytes], log: Path | None = None, timeout: float = 30
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
            detail = log.read_text(errors="replace") if log is not None and log.exists() else ""
            raise RuntimeError(f"server at {base} did not start: {detail}")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """End a process this test started: politely, then for good."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
