"""Work across tables: retention (deleting old event logs) and re-encrypting every stored
secret under the newest master key."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import sqlalchemy as sa

from . import schema
from .audit import record as audit_record
from .database import Database


def purge(db: Database, now: float | None = None) -> dict[str, int]:
    """Delete the event logs of sessions older than their policy's ``log_retention_days``.

    The session row (status, score, breakdown) is kept as the summary; its events go.
    Returns how many sessions were purged and how many events were deleted.
    """
    now = time.time() if now is None else now
    s, e = schema.sessions, schema.events
    purged_sessions = deleted_events = 0
    with db.engine.connect() as conn:
        candidates = conn.execute(
            sa.select(s.c.id, s.c.started_at, s.c.policy_json).where(s.c.purged_at.is_(None))
        ).all()
    for row in candidates:
        days = json.loads(row.policy_json)["log_retention_days"]
        if row.started_at + days * 86400 > now:
            continue
        with db.engine.begin() as conn:
            deleted = conn.execute(e.delete().where(e.c.session_id == row.id)).rowcount
            x = schema.explanations  # the student's own words go with the log
            conn.execute(x.delete().where(x.c.session_id == row.id))
            conn.execute(
                s.update()
                .where(s.c.id == row.id)
                .values(
                    purged_at=now,
                    updated_at=now,
                    status=sa.case((s.c.status == "active", "finished"), else_=s.c.status),
                )
            )
        purged_sessions += 1
        deleted_events += max(deleted, 0)
    return {"sessions": purged_sessions, "events": deleted_events}


def reencrypt(db: Database, rotate: Callable[[bytes], bytes], actor: str) -> dict[str, int]:
    """Re-encrypt every stored secret with ``rotate`` (decrypt with any master key, encrypt
    with the newest), in one transaction; returns how many of each kind. Audited."""
    columns = (
        (schema.integrations, ("secret_enc", "previous_secret_enc")),
        (schema.webhooks, ("secret_enc",)),
        (schema.lti_tool_keys, ("private_enc",)),
    )
    counts: dict[str, int] = {}
    with db.engine.begin() as conn:
        for table, names in columns:
            key = next(iter(table.primary_key.columns))
            done = 0
            for row in conn.execute(sa.select(key, *(table.c[n] for n in names))).all():
                values = {
                    n: rotate(bytes(row._mapping[n])) for n in names if row._mapping[n] is not None
                }
                conn.execute(table.update().where(key == row._mapping[key.name]).values(**values))
                done += len(values)
            counts[table.name] = done
        audit_record(conn, None, actor, "secrets.reencrypted", "master-key", counts)

    return counts
