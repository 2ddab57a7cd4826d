"""Configured webhooks (their secrets encrypted) and the delivery log: queued in the
transaction that flags a session, claimed by one server process at a time."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import NotFound
from . import schema
from .database import Database, claim_due, inserted_id, require_institution
from .rows import Webhook


class Webhooks:
    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(
        self,
        institution_id: str,
        url: str,
        exam_id: str | None,
        secret_enc: bytes,
        created_by: str,
    ) -> Webhook:
        w = schema.webhooks
        with self.db.engine.begin() as conn:
            require_institution(conn, institution_id)
            result = conn.execute(
                w.insert().values(
                    institution_id=institution_id,
                    exam_id=exam_id or None,
                    url=url,
                    secret_enc=secret_enc,
                    created_at=time.time(),
                    created_by=created_by,
                )
            )
            row = conn.execute(sa.select(w).where(w.c.id == inserted_id(result))).one()
        return Webhook.from_row(row)

    def active(self, institution_id: str | None = None) -> list[Webhook]:
        w = schema.webhooks
        query = sa.select(w).where(w.c.removed_at.is_(None)).order_by(w.c.id)
        if institution_id is not None:
            query = query.where(w.c.institution_id == institution_id)
        with self.db.engine.connect() as conn:
            return [Webhook.from_row(r) for r in conn.execute(query)]

    def remove(self, institution_id: str | None, webhook_id: int) -> None:
        """Stop a webhook (its log stays); pending deliveries are cancelled."""
        w, d = schema.webhooks, schema.webhook_deliveries
        now = time.time()
        with self.db.engine.begin() as conn:
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
        with self.db.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def queue(
        self, conn: Connection, session: Mapping[str, Any], event: str, payload: str, now: float
    ) -> int:
        """A pending delivery of ``event`` for each webhook of the session's exam or
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
                sa.select(d.c.webhook_id).where(d.c.session_id == session["id"], d.c.event == event)
            ).scalars()
        )
        rows = [
            {
                "webhook_id": hook,
                "session_id": session["id"],
                "event": event,
                "payload": payload,
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

    def claim_due(self, now: float, lease: float, limit: int = 20) -> list[dict[str, Any]]:
        """Deliveries due now, each claimed for ``lease`` seconds (database.claim_due)."""
        w, d = schema.webhooks, schema.webhook_deliveries

        def read(conn: Connection, delivery_id: int) -> dict[str, Any]:
            query = (
                sa.select(d, w.c.url, w.c.secret_enc)
                .join(w, w.c.id == d.c.webhook_id)
                .where(d.c.id == delivery_id)
            )
            return dict(conn.execute(query).mappings().one())

        return claim_due(self.db, d, now, lease, limit, read)

    def update_delivery(self, delivery_id: int, values: Mapping[str, Any]) -> None:
        d = schema.webhook_deliveries
        with self.db.engine.begin() as conn:
            conn.execute(d.update().where(d.c.id == delivery_id).values(**values))
