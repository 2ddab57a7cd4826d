"""An openproctor server for tests: a real ``openproctor serve`` on a temporary SQLite file and a
free port, or an existing (staging) server reached with an integration's credential, and the
server's record of a session with assertions on it.

Both kinds answer the same questions the same way, over HTTP, as an LMS backend would: the
session's status with the integration credential (``GET /api/v1/sessions/{id}``), then the
evidence bundle behind the student's record link, checked by the same code as
``openproctor verify`` against the server's published key set.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import jwt

from openproctor.core import FLAG_TYPES
from openproctor.server.evidence import Verification, verify_bundle
from openproctor.server.security.tokens import mint_start_token

from .processes import free_port, stop, wait_healthy

#: The status of a session whose log may still grow; every other status is final.
RUNNING = "active"


class ServerError(RuntimeError):
    """The server did not start, or answered something a test cannot go on from."""


@dataclass
class OpenproctorServer:
    """A server and one integration on it. ``secret`` never appears in a repr or a log."""

    url: str
    integration: str
    secret: str = field(repr=False)
    origins: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    home: Path | None = field(default=None, repr=False)

    # -- what an LMS backend does --------------------------------------------------------------

    def token(
        self,
        session_id: str | None = None,
        user_id: str = "qa-student-1",
        exam_id: str = "qa-exam",
        **claims: Any,
    ) -> str:
        """The session JWT an LMS backend mints for ``init({jwt})`` (DESIGN.md's payload;
        ``claims`` replaces or adds claims, and ``claim=...`` leaves one out)."""
        return mint_start_token(
            self.secret,
            user_id=user_id,
            exam_id=exam_id,
            session_id=session_id or f"qa-{secrets.token_hex(6)}",
            claims=claims,
        )

    def credential(self) -> str:
        """The integration credential for the REST API: a one-minute HS256 JWT."""
        now = int(time.time())
        return jwt.encode(
            {"iss": self.integration, "iat": now, "exp": now + 60}, self.secret, "HS256"
        )

    def start_session(self, session_id: str | None = None, **token_claims: Any) -> dict[str, Any]:
        """``POST /api/v1/sessions`` as an LMS backend does for the script tag: the answer
        carries ``session_id`` and the session ``token`` to put in the exam page's URL
        fragment (``#openproctor_token=...``)."""
        response = httpx.post(
            f"{self.url}/api/v1/sessions",
            json={
                "integrationName": self.integration,
                "jwt": self.token(session_id, **token_claims),
            },
            timeout=15,
        )
        if response.status_code not in (200, 201):
            raise ServerError(f"starting a session failed: {response.status_code} {response.text}")
        found: dict[str, Any] = response.json()
        return found

    def status(self, session_id: str) -> dict[str, Any]:
        """What the integration API says of a session (its id, or the LMS's own sessionId)."""
        response = httpx.get(
            f"{self.url}/api/v1/sessions/{session_id}",
            headers={"authorization": f"Bearer {self.credential()}"},
            timeout=15,
        )
        if response.status_code != 200:
            raise ServerError(
                f"GET /api/v1/sessions/{session_id}: {response.status_code} {response.text}"
            )
        found: dict[str, Any] = response.json()
        return found

    def session(self, session_id: str, wait: float = 15.0) -> Record:
        """The server's record of a session. Waits up to ``wait`` seconds for the session to
        end (so the last events are stored); a session still running after that is returned
        as it stands, and ``assert_verified()`` then says it is incomplete."""
        deadline = time.monotonic() + wait
        status = self.status(session_id)
        while status["status"] == RUNNING and time.monotonic() < deadline:
            time.sleep(0.2)
            status = self.status(session_id)
        response = httpx.get(
            f"{self.url}{status['record_url'].replace('?', '/evidence.json?', 1)}", timeout=30
        )
        if response.status_code != 200:
            raise ServerError(f"the evidence bundle: {response.status_code} {response.text}")
        keys = httpx.get(f"{self.url}/lti/jwks", timeout=15)
        if keys.status_code != 200:
            raise ServerError(f"the server's key set (/lti/jwks): {keys.status_code}")
        bundle = response.json()
        return Record(status, bundle, verify_bundle(bundle, keys.json()))

    # -- a local server ------------------------------------------------------------------------

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None

    def log(self) -> str:
        """What a local server printed (empty for a remote one)."""
        path = self.home / "server.log" if self.home is not None else None
        return path.read_text(errors="replace") if path is not None and path.exists() else ""


def start_local_server(
    origins: Sequence[str], integration: str = "qa-lms", timeout: float = 60.0
) -> OpenproctorServer:
    """``openproctor serve`` from this Python environment on a temporary SQLite database and a
    free 127.0.0.1 port, with one integration whose allowed origins are ``origins`` and whose
    secret is fresh. ``stop()`` ends the process and deletes the folder."""
    home = Path(tempfile.mkdtemp(prefix="openproctor-server-"))
    secret = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "OPENPROCTOR_DATABASE_URL": f"sqlite:///{home / 'openproctor.sqlite3'}",
        "OPENPROCTOR_SECRET_FILE": str(home / "secret.key"),
    }
    env.pop("OPENPROCTOR_SECRET_KEYS", None)
    cli = [sys.executable, "-m", "openproctor.server.cli"]
    command = [*cli, "integration", "add", integration, "--institution", "qa", "--secret", secret]
    for origin in origins:
        command += ["--origin", origin]
    added = subprocess.run(  # noqa: S603 - our own CLI
        command, env=env, capture_output=True, text=True, timeout=120
    )
    if added.returncode != 0:
        shutil.rmtree(home, ignore_errors=True)
        raise ServerError(f"openproctor integration add failed: {added.stderr or added.stdout}")
    port = free_port()
    with (home / "server.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own CLI
            [
                *cli,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--public-origin",
                f"http://127.0.0.1:{port}",
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = OpenproctorServer(
        f"http://127.0.0.1:{port}", integration, secret, tuple(origins), process, home
    )
    try:
        wait_healthy(server.url, process, home / "server.log", timeout)
    except RuntimeError as exc:
        server.stop()
        raise ServerError(f"openproctor serve did not start: {exc}") from None
    if httpx.get(f"{server.url}/sdk/v1/loader.js", timeout=10).status_code != 200:
        detail = server.log()
        server.stop()
        raise ServerError(
            "the server has no SDK bundle to serve (/sdk/v1/loader.js): install openproctor from "
            f"its wheel, or run `python build.py` in a checkout\n{detail}"
        )
    return server


@dataclass
class Record:
    """The server's record of one session: its status, its evidence bundle, and the offline
    verification of that bundle (chain, completeness, score, the server's attestation)."""

    status: dict[str, Any]
    bundle: dict[str, Any]
    verification: Verification

    @property
    def session_id(self) -> str:
        return str(self.status["session_id"])

    @property
    def events(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.bundle["events"]
        return found

    def flags(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """The flag events of the log (of one type when given), in order."""
        return [
            e
            for e in self.events
            if e["type"] in FLAG_TYPES and (event_type is None or e["type"] == event_type)
        ]

    def summary(self) -> str:
        """The breakdown a failing assertion shows: each flag type with its events' counts and
        durations, then the server's score, band and integrity."""
        lines = [f"the server's record of session {self.session_id}:"]
        by_type: dict[str, list[dict[str, Any]]] = {}
        for event in self.flags():
            by_type.setdefault(event["type"], []).append(event)
        for event_type, found in by_type.items():
            details = ", ".join(_describe(e["data"]) for e in found)
            lines.append(f"  {event_type}: {len(found)} ({details})")
        if not by_type:
            lines.append("  no flag events")
        integrity = self.status["integrity"]
        lines.append(
            f"  {len(self.events)} events; status {self.status['status']}; score "
            f"{self.status['score']}; band {self.status['band']}; flagged "
            f"{self.status['flagged']}; integrity {integrity['status']}"
            + (f" ({integrity['reason']})" if integrity["reason"] else "")
        )
        lines += ["  " + line for line in self.verification.lines()]
        return "\n".join(lines)

    def assert_verified(self, complete: bool = True) -> None:
        """The bundle verifies offline against the server's key set (every MAC and link, the
        score recomputed, the attestation), the server found no integrity failure, and (with
        ``complete``) the log runs from session_start to session_end."""
        problems = []
        if not self.verification.ok:
            problems.append("the evidence bundle does not verify")
        if not self.verification.identity_checked:
            problems.append("the attestation was not checked against the server's key set")
        if self.status["integrity"]["status"] != "verified":
            problems.append("the server recorded an integrity failure")
        if complete and not self.status["integrity"]["complete"]:
            problems.append("the log is not complete (no session_end: was the exam finished?)")
        if problems:
            raise AssertionError("; ".join(problems) + "\n" + self.summary())

    def assert_flag(
        self,
        event_type: str,
        count: int | None = None,
        min_seconds: float | None = None,
        max_seconds: float | None = None,
    ) -> list[dict[str, Any]]:
        """The log holds ``event_type`` events (exactly ``count`` of them when given), each
        lasting at least ``min_seconds`` / at most ``max_seconds`` when given. Returns them."""
        if event_type not in FLAG_TYPES:
            raise ValueError(f"{event_type!r} is not a flag type; flag types: {FLAG_TYPES}")
        found = self.flags(event_type)
        problems = []
        if count is None and not found:
            problems.append(f"expected at least one {event_type}, found none")
        if count is not None and len(found) != count:
            problems.append(f"expected {count} {event_type}, found {len(found)}")
        for event in found:
            seconds = event["data"].get("duration_ms", 0) / 1000
            if min_seconds is not None and seconds < min_seconds:
                problems.append(f"a {event_type} lasted {seconds:.1f} s, less than {min_seconds}")
            if max_seconds is not None and seconds > max_seconds:
                problems.append(f"a {event_type} lasted {seconds:.1f} s, more than {max_seconds}")
        if problems:
            raise AssertionError("; ".join(problems) + "\n" + self.summary())
        return found

    def assert_not_flagged(self, ignore: Sequence[str] = ()) -> None:
        """No flag event (but those of the types in ``ignore``) and not flagged for review."""
        found = [e for e in self.flags() if e["type"] not in ignore]
        if found or self.status["flagged"]:
            what = f"{len(found)} flag event(s)" if found else "no flag events"
            raise AssertionError(
                f"expected no flags; found {what}, flagged={self.status['flagged']}\n"
                + self.summary()
            )


def _describe(data: dict[str, Any]) -> str:
    parts = []
    if "duration_ms" in data:
        parts.append(f"{data['duration_ms'] / 1000:.1f} s")
    parts += [f"{k}={json.dumps(v)}" for k, v in data.items() if k not in ("duration_ms",)]
    return " ".join(parts) or "-"
