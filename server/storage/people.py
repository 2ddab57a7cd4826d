"""A person's data on request (GDPR access and erasure): everything stored about one LMS user
of one institution, read in one transaction, and erased in one.

Erased: the event logs, the student's explanations, their names and ids on the session rows
(``user_id``, ``user_json``, the LMS's ``external_id``, the start token's claims), the LTI
subject, what the webhook, LMS and callback payloads carried, reviewers' comments, reveal
reasons and incident notes (they may name the student). Kept, anonymous: each session's row as
a summary (exam, policy version, status, score, flagged, the breakdown in words, times) and each
decision's outcome, so an institution's reports still add up. The audit log is kept whole (it
is hash-chained; its entries name the pseudonymous session id, not the person) and the erasure
itself is appended to it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import schema
from .audit import record as audit_record
from .database import Database

ERASED = "erased"


def _session_ids(conn: Connection, institution_id: str, user_id: str) -> list[str]:
    s = schema.sessions
    query = sa.select(s.c.id).where(s.c.institution_id == institution_id, s.c.user_id == user_id)
    return [str(r) for r in conn.execute(query.order_by(s.c.started_at)).scalars()]


def _rows(conn: Connection, table: sa.Table, ids: list[str], order: Any) -> list[dict[str, Any]]:
    query = sa.select(table).where(table.c.session_id.in_(ids)).order_by(order)
    return [dict(r) for r in conn.execute(query).mappings()]


class People:
    def __init__(self, db: Database) -> None:
        self.db = db

    def export(self, institution_id: str, user_id: str) -> dict[str, Any]:
        """Everything stored about ``user_id`` of ``institution_id``, as JSON-ready data."""
        s, e, a = schema.sessions, schema.events, schema.audit_log
        with self.db.engine.connect() as conn:
            ids = _session_ids(conn, institution_id, user_id)
            sessions = [
                dict(r)
                for r in conn.execute(
                    sa.select(s).where(s.c.id.in_(ids)).order_by(s.c.started_at)
                ).mappings()
            ]
            events = _rows(conn, e, ids, e.c.seq)
            targets = [f"session:{i}" for i in ids]
            audit = [
                {**dict(r), "detail": json.loads(r["detail"])}
                for r in conn.execute(
                    sa.select(a)
                    .where(a.c.institution_id == institution_id, a.c.target.in_(targets))
                    .order_by(a.c.id)
                ).mappings()
            ]
            by_session: dict[str, dict[str, Any]] = {}
            for row in sessions:
                entry = {
                    k: v
                    for k, v in row.items()
                    if k not in ("tally_json", "last_mac", "rate_tat", "integration_id")
                }
                for column in ("policy_json", "user_json", "breakdown_json", "claims_json"):
                    value = entry.pop(column)
                    entry[column.removesuffix("_json")] = json.loads(value) if value else None
                entry["warnings"] = json.loads(entry.pop("warnings_json") or "[]")
                entry.update(
                    events=[],
                    decisions=[],
                    explanations=[],
                    reveals=[],
                    verdicts=[],
                    score_versions=[],
                    lti=None,
                )
                by_session[row["id"]] = entry
            for event in events:
                by_session[event["session_id"]]["events"].append(
                    {k: v for k, v in event.items() if k != "session_id"}
                    | {"data": json.loads(event["data"])}
                )
            for table, key, order in (
                (schema.decisions, "decisions", schema.decisions.c.id),
                (schema.explanations, "explanations", schema.explanations.c.id),
                (schema.identity_reveals, "reveals", schema.identity_reveals.c.id),
                (schema.incident_verdicts, "verdicts", schema.incident_verdicts.c.id),
                (schema.score_versions, "score_versions", schema.score_versions.c.id),
            ):
                for row in _rows(conn, table, ids, order):
                    by_session[row["session_id"]][key].append(row)
            for row in _rows(conn, schema.lti_attempts, ids, schema.lti_attempts.c.created_at):
                by_session[row["session_id"]]["lti"] = row
        return {
            "institution_id": institution_id,
            "user_id": user_id,
            "sessions": list(by_session.values()),
            "audit_entries": audit,
        }

    def erase(self, institution_id: str, user_id: str, actor: str, who: str) -> dict[str, int]:
        """Erase ``user_id``'s personal data (module docstring); ``who`` names the person in
        the audit entry without their id (a digest). Returns what was erased, by kind."""
        s, e, x = schema.sessions, schema.events, schema.explanations
        now = time.time()
        with self.db.engine.begin() as conn:
            ids = _session_ids(conn, institution_id, user_id)
            counts = {"sessions": len(ids), "events": 0, "explanations": 0}
            if ids:
                counts["events"] = max(
                    0, conn.execute(e.delete().where(e.c.session_id.in_(ids))).rowcount
                )
                counts["explanations"] = max(
                    0, conn.execute(x.delete().where(x.c.session_id.in_(ids))).rowcount
                )
                for session_id in ids:
                    conn.execute(
                        s.update()
                        .where(s.c.id == session_id)
                        .values(
                            user_id=f"{ERASED}:{session_id}",
                            external_id=f"{ERASED}:{session_id}",
                            user_json="{}",
                            claims_json=None,
                            purged_at=sa.func.coalesce(s.c.purged_at, now),
                            status=sa.case((s.c.status == "active", "finished"), else_=s.c.status),
                            updated_at=now,
                        )
                    )
                d, r = schema.decisions, schema.identity_reveals
                conn.execute(d.update().where(d.c.session_id.in_(ids)).values(comment=""))
                conn.execute(r.update().where(r.c.session_id.in_(ids)).values(reason=""))
                v = schema.incident_verdicts
                conn.execute(v.update().where(v.c.session_id.in_(ids)).values(note=""))
                t = schema.lti_attempts
                conn.execute(t.update().where(t.c.session_id.in_(ids)).values(subject=ERASED))
                c, w = schema.lms_calls, schema.webhook_deliveries
                conn.execute(
                    c.update()
                    .where(c.c.session_id.in_(ids))
                    .values(
                        payload=None,
                        status=sa.case((c.c.status == "pending", "cancelled"), else_=c.c.status),
                    )
                )
                conn.execute(
                    w.update()
                    .where(w.c.session_id.in_(ids))
                    .values(
                        payload="{}",
                        status=sa.case((w.c.status == "pending", "failed"), else_=w.c.status),
                    )
                )
            audit_record(conn, institution_id, actor, "person.erased", f"person:{who}", counts)
        return counts
