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
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .errors import Invalid, NotFound
from .security import validation
from .security.keys import Keyring, same_text
from .security.outbound import OutboundError, OutboundGuard
from .storage import Storage, schema
from .storage.database import require_institution

log = logging.getLogger("openproctor.server.webhooks")

FLAGGED = "session.flagged"
SIGNATURE_HEADER = "openproctor-signature"
MAX_ATTEMPTS = 8
LEASE_SECONDS = 120.0
TIMEOUT_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 3600.0
URL = re.compile(r"https?://[^\s/@#?]+(/[^\s#]*)?")


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
    if validation.problem(url, 2000) is not None or not URL.fullmatch(url):
        raise Invalid(
            "invalid_url",
            "the webhook URL must be an http(s) address without credentials or #fragment",
            field="url",
        )
    return url


@dataclass(frozen=True)
class Webhook:
    id: int
    institution_id: str
    exam_id: str | None
    url: str
    created_at: float
    created_by: str

    def __repr__(self) -> str:  # the secret is never part of it
        return f"Webhook({self.id}, {self.url!r}, exam={self.exam_id!r})"


def _webhook(row: Any) -> Webhook:
    return Webhook(
        int(row.id), row.institution_id, row.exam_id, row.url, row.created_at, row.created_by
    )


class WebhookStore:
    """Configured webhooks (secrets encrypted at rest) and the delivery log."""

    def __init__(self, store: Storage, keyring: Keyring) -> None:
        self.engine = store.engine
        self.keyring = keyring

    def add(
        self, institution_id: str, url: str, exam_id: str | None, created_by: str
    ) -> tuple[Webhook, str]:
        """Register a webhook; returns it and its signing secret (shown once)."""
        url = check_url(url)
        secret = "whsec_" + secrets.token_urlsafe(32)
        w = schema.webhooks
        with self.engine.begin() as conn:
            require_institution(conn, institution_id)
            result = conn.execute(
                w.insert().values(
                    institution_id=institution_id,
                    exam_id=exam_id or None,
                    url=url,
                    secret_enc=self.keyring.encrypt(secret),
                    created_at=time.time(),
                    created_by=created_by,
                )
            )
            row = conn.execute(sa.select(w).where(w.c.id == result.inserted_primary_key[0])).one()
        return _webhook(row), secret

    def active(self, institution_id: str | None = None) -> list[Webhook]:
        w = schema.webhooks
        query = sa.select(w).where(w.c.removed_at.is_(None)).order_by(w.c.id)
        if institution_id is not None:
            query = query.where(w.c.institution_id == institution_id)
        with self.engine.connect() as conn:
            return [_webhook(r) for r in conn.execute(query)]

    def remove(self, institution_id: str | None, webhook_id: int) -> None:
        """Stop a webhook (its log stays); pending deliveries are cancelled."""
        w, d = schema.webhooks, schema.webhook_deliveries
        now = time.time()
        with self.engine.begin() as conn:
            query = w.update().where(w.c.id == webhook_id, w.c.removed_at.is_(None))
            if institution_id is not None:
                query = query.where(w.c.institution_id == institution_id)
            if not conn.execute(query.values(removed_at=now)).rowcount:
                raise NotFound("unknown_webhook", f"no webhook {webhook_id}")
            conn.execute(
                d.update()
                .where(d.c.webhook_id == webhook_id, d.c.status == "pending")
                .values(status="cancelled", last_error="the webhook was removed")
            )

    def deliveries(self, institution_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The newest deliveries of the institution's webhooks, newest first."""
        w, d = schema.webhooks, schema.webhook_deliveries
        query = (
            sa.select(d, w.c.url)
            .join(w, w.c.id == d.c.webhook_id)
            .where(w.c.institution_id == institution_id)
            .order_by(d.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def enqueue_flagged(
        self, conn: Connection, session: Mapping[str, Any], dashboard_url: str
    ) -> int:
        """Queue a ``session.flagged`` alert for each webhook of the session's exam or
        institution, inside the caller's transaction (at most once per webhook and session)."""
        w, d = schema.webhooks, schema.webhook_deliveries
        hooks = conn.execute(
            sa.select(w.c.id).where(
                w.c.institution_id == session["institution_id"],
                w.c.removed_at.is_(None),
                sa.or_(w.c.exam_id.is_(None), w.c.exam_id == session["exam_id"]),
            )
        ).scalars()
        already = set(
            conn.execute(
                sa.select(d.c.webhook_id).where(
                    d.c.session_id == session["id"], d.c.event == FLAGGED
                )
            ).scalars()
        )
        now = time.time()
        body = json.dumps(_payload(session, dashboard_url, now), separators=(",", ":"))
        rows = [
            {
                "webhook_id": hook,
                "session_id": session["id"],
                "event": FLAGGED,
                "payload": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for hook in hooks
            if hook not in already
        ]
        if rows:
            conn.execute(d.insert(), rows)
        return len(rows)

    # -- sending ----------------------------------------------------------------------------

    def claim_due(self, now: float, limit: int = 20) -> list[dict[str, Any]]:
        """Deliveries due now, each claimed for LEASE_SECONDS by a conditional UPDATE (so
        several server processes never send the same one twice at once)."""
        w, d = schema.webhooks, schema.webhook_deliveries
        with self.engine.connect() as conn:
            due = list(
                conn.execute(
                    sa.select(d.c.id)
                    .where(d.c.status == "pending", d.c.next_attempt_at <= now)
                    .order_by(d.c.next_attempt_at)
                    .limit(limit)
                ).scalars()
            )
        claimed = []
        for delivery_id in due:
            with self.engine.begin() as conn:
                won = conn.execute(
                    d.update()
                    .where(
                        d.c.id == delivery_id,
                        d.c.status == "pending",
                        d.c.next_attempt_at <= now,
                    )
                    .values(next_attempt_at=now + LEASE_SECONDS)
                ).rowcount
                if won:
                    row = (
                        conn.execute(
                            sa.select(d, w.c.url, w.c.secret_enc)
                            .join(w, w.c.id == d.c.webhook_id)
                            .where(d.c.id == delivery_id)
                        )
                        .mappings()
                        .one()
                    )
                    claimed.append(dict(row))
        return claimed

    def record(
        self,
        delivery: Mapping[str, Any],
        ok: bool,
        status: int | None,
        error: str | None,
        backoff_base: float,
        now: float,
    ) -> str:
        """Storage an attempt's outcome; returns the delivery's new status."""
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
        d = schema.webhook_deliveries
        with self.engine.begin() as conn:
            conn.execute(d.update().where(d.c.id == delivery["id"]).values(**values))
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
