"""Alert webhooks: when a session becomes flagged, a signed POST to every URL configured for its
exam or its institution, retried with exponential backoff; every attempt is kept in a delivery
log the dashboard shows.

A delivery is queued in the same transaction that flags the session, so an alert is never lost
to a crash between the two; any server process may then send it (deliveries are claimed with a
conditional UPDATE, so two processes never send the same one at once). The body is signed like
``t=<unix time>,id=<delivery id>,v1=<hex HMAC-SHA256(secret, "<t>.<id>." + body)>`` in the
``openproctor-signature`` header, so the delivery id a receiver deduplicates by is covered too;
:func:`verify_signature` is what a receiver runs. Requests go out through the address guard
(outbound.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from .errors import Invalid
from .security import validation
from .security.keys import Keyring, same_text
from .security.outbound import OutboundError, OutboundGuard
from .storage import Storage
from .storage.rows import Webhook

log = logging.getLogger("openproctor.server.webhooks")

FLAGGED = "session.flagged"
SIGNATURE_HEADER = "openproctor-signature"
MAX_ATTEMPTS = 8
LEASE_SECONDS = 120.0
TIMEOUT_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 3600.0


def sign(secret: str, body: bytes, timestamp: int, delivery_id: int | str) -> str:
    """The signature header of delivery ``delivery_id`` carrying ``body``, sent at ``timestamp``."""
    signed = f"{timestamp}.{delivery_id}.".encode() + body
    mac = hmac.new(secret.encode(), signed, hashlib.sha256)
    return f"t={timestamp},id={delivery_id},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, header: str, body: bytes, tolerance: float = 300.0, now: float | None = None
) -> bool:
    """What a receiver checks: the MAC over the timestamp, the delivery id and the raw body
    (constant-time), and a timestamp within ``tolerance`` seconds, so a captured delivery can
    be neither replayed later nor passed off under another id. The id is the header's ``id``."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp, delivery, mac = parts.get("t", ""), parts.get("id", ""), parts.get("v1", "")
    if not stamp.isdigit() or not delivery.isdigit():
        return False
    now = time.time() if now is None else now
    if abs(now - int(stamp)) > tolerance:
        return False
    expected = sign(secret, body, int(stamp), delivery)
    return same_text(expected, f"t={stamp},id={delivery},v1={mac}")


def backoff(attempts: int, base: float) -> float:
    """Seconds before the next attempt after ``attempts`` failures: base, 2 base, 4 base, …"""
    return float(min(base * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS))


def check_url(url: str) -> str:
    url = url.strip()
    if validation.url_problem(url) is not None:
        raise Invalid(
            "invalid_url",
            "the URL must be an http(s) address without credentials or #fragment",
            field="url",
        )
    return url


class WebhookStore:
    """Configured webhooks (secrets encrypted at rest with the master keys) and the delivery
    log; the rows are in storage/webhooks.py."""

    def __init__(self, store: Storage, keyring: Keyring) -> None:
        self.records = store.webhooks
        self.keyring = keyring

    def add(
        self, institution_id: str, url: str, exam_id: str | None, created_by: str
    ) -> tuple[Webhook, str]:
        """Register a webhook; returns it and its signing secret (shown once)."""
        url = check_url(url)
        secret = "whsec_" + secrets.token_urlsafe(32)
        webhook = self.records.insert(
            institution_id, url, exam_id, self.keyring.encrypt(secret), created_by
        )
        return webhook, secret

    def active(self, institution_id: str | None = None) -> list[Webhook]:
        return self.records.active(institution_id)

    def remove(self, institution_id: str | None, webhook_id: int) -> None:
        """Stop a webhook (its log stays); pending deliveries are cancelled."""
        self.records.remove(institution_id, webhook_id)

    def deliveries(self, institution_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The newest deliveries of the institution's webhooks, newest first."""
        return self.records.deliveries(institution_id, limit)

    def enqueue_flagged(
        self, conn: Connection, session: Mapping[str, Any], dashboard_url: str
    ) -> int:
        """Queue a ``session.flagged`` alert for each webhook of the session's exam or
        institution, inside the caller's transaction (at most once per webhook and session)."""
        now = time.time()
        body = json.dumps(_payload(session, dashboard_url, now), separators=(",", ":"))
        return self.records.queue(conn, session, FLAGGED, body, now)

    def claim_due(self, now: float, limit: int = 20) -> list[dict[str, Any]]:
        """Deliveries due now, each claimed for LEASE_SECONDS (so several server processes
        never send the same one twice at once)."""
        return self.records.claim_due(now, LEASE_SECONDS, limit)

    def record(
        self,
        delivery: Mapping[str, Any],
        ok: bool,
        status: int | None,
        error: str | None,
        backoff_base: float,
        now: float,
    ) -> str:
        """Store an attempt's outcome; returns the delivery's new status."""
        attempts = int(delivery["attempts"]) + 1
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_attempt_at": now,
            "last_status": status,
            "last_error": error,
        }
        if ok:
            values.update(status="delivered", delivered_at=now)
        elif attempts >= MAX_ATTEMPTS:
            values["status"] = "failed"
        else:
            values["next_attempt_at"] = now + backoff(attempts, backoff_base)
        self.records.update_delivery(int(delivery["id"]), values)
        return str(values.get("status", "pending"))


def _payload(session: Mapping[str, Any], dashboard_url: str, now: float) -> dict[str, Any]:
    """What the receiver learns: the pseudonymous session, its score and why; no personal data
    beyond the integrator's own session id."""
    breakdown = json.loads(session.get("breakdown_json") or "[]")
    policy = json.loads(session["policy_json"])
    return {
        "event": FLAGGED,
        "session_id": session["id"],
        "external_session_id": session["external_id"],
        "institution_id": session["institution_id"],
        "exam_id": session["exam_id"],
        "score": session["score"],
        "trust_threshold": policy["trust_threshold"],
        "flags": [
            {k: line[k] for k in ("flag", "count", "duration_ms", "penalty", "explanation")}
            for line in breakdown
            if line["counted"]
        ],
        "dashboard_url": dashboard_url,
        "flagged_at": int(now),
    }


@dataclass
class WebhookSender:
    """Sends due deliveries; ``deliver_due`` is what the server's background task runs."""

    webhooks: WebhookStore
    guard: OutboundGuard
    backoff_base: float = 10.0
    clock: Callable[[], float] = time.time

    def deliver_due(self) -> dict[str, int]:
        outcome = {"delivered": 0, "retrying": 0, "failed": 0}
        for delivery in self.webhooks.claim_due(self.clock()):
            ok, status, error = self._send(delivery)
            new = self.webhooks.record(delivery, ok, status, error, self.backoff_base, self.clock())
            outcome[{"delivered": "delivered", "failed": "failed"}.get(new, "retrying")] += 1
            if not ok:
                log.warning(
                    "webhook delivery %s failed (attempt %s): %s",
                    delivery["id"],
                    int(delivery["attempts"]) + 1,
                    error,
                )
        return outcome

    def _send(self, delivery: Mapping[str, Any]) -> tuple[bool, int | None, str | None]:
        body = delivery["payload"].encode()
        secret = self.webhooks.keyring.decrypt(delivery["secret_enc"])
        headers = {
            "content-type": "application/json",
            "user-agent": "openproctor-webhooks/1",
            SIGNATURE_HEADER: sign(secret, body, int(self.clock()), delivery["id"]),
            "openproctor-event": delivery["event"],
            "openproctor-delivery": str(delivery["id"]),
        }
        try:
            response = self.guard.request("POST", delivery["url"], content=body, headers=headers)
        except OutboundError as exc:
            return False, None, f"refused or failed: {exc.reason}"[:300]
        if 200 <= response.status_code < 300:
            return True, response.status_code, None
        # The body is not kept: a receiver's error page is none of the log's business.
        return False, response.status_code, f"answered HTTP {response.status_code}"
