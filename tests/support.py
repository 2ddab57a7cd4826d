"""Small helpers shared by the tests and the benchmarks (ports, waiting for a server, fixtures'
data), so each exists once. The process helpers are openproctor.testing's, which integrators'
tests use too."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from openproctor.testing.processes import free_port, stop, wait_healthy

__all__ = [
    "ENVIRONMENT",
    "Receiver",
    "constructor_guide_payload",
    "free_port",
    "stop",
    "wait_healthy",
]

#: The session_start environment of a desktop Chromium, as the loader reports it.
ENVIRONMENT = {
    "browser": "Chromium",
    "browser_version": "156.0",
    "engine": "Blink",
    "platform": "Linux x86_64",
    "mobile": False,
    "screens": 1,
}


class Receiver:
    """A real HTTP server on 127.0.0.1 that records every POST and answers with the next status
    of ``statuses`` (the last one repeats): a webhook receiver for tests."""

    def __init__(self, statuses: tuple[int, ...] = (200,)) -> None:
        import http.server
        import threading

        self.statuses = list(statuses)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = (
                    receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                )
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/openproctor"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def constructor_guide_payload(session_url: str, **changes: Any) -> dict[str, Any]:
    """The payload of Constructor's "Creating a JWT" example, with real dates, a real exam page
    and a fresh exp; every other claim as the guide has it. A change to ``...`` drops the claim."""
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "userId": "1232134",
        "lastName": "Smith",
        "firstName": "John",
        "thirdName": "",
        "language": "en",
        "accountId": 123,
        "accountName": "Corporate university",
        "examId": "a3875623",
        "courseName": "Physics",
        "examName": "Final test",
        "userAgreementUrl": "https://school.org/eula",
        "duration": 120,
        "schedule": False,
        "auxiliaryCamera": False,
        "proctoring": "offline",
        "identification": "passport",
        "rules": {"allow_to_use_paper": False, "allow_to_use_calculator": False},
        "startDate": (now - timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        "endDate": (now + timedelta(hours=3)).isoformat().replace("+00:00", "Z"),
        "sessionId": "828331bda025",
        "sessionUrl": session_url,
        "exp": int(time.time()) + 30,
        "biometricIdentification": {
            "enabled": True,
            "photo_url": "https://example.org/face.png",
            "skip_fail": False,
            "flow": "test-flow",
        },
        "scoreConfig": {
            "cheater_level": 80,
            "extra_user": 1.0,
            "user_replaced": 1.0,
            "absent_user": 1.0,
            "look_away": 1.0,
            "active_window_changed": 1.0,
            "forbidden_device": 1.0,
            "voice": 1.0,
            "phone": 1.0,
        },
        "visibleWarnings": {"warning_extra_user_in_frame": False, "warning_timeout": False},
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}
