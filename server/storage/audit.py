"""The audit log: who changed what, when, with the values before and after (append-only).

Entries are written in the transaction of the change they record where there is one, so a
change is never stored without its entry.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from . import schema


def record(
    conn: Connection,
    institution_id: str | None,
    actor: str,
    action: str,
    target: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append one entry inside the caller's transaction."""
    conn.execute(
        schema.audit_log.insert().values(
            institution_id=institution_id,
            at=time.time(),
            actor=actor[:255],
            action=action,
            target=target[:255],
            detail=json.dumps(dict(detail or {}), sort_keys=True, default=str),
        )
    )


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self,
        institution_id: str | None,
        actor: str,
        action: str,
        target: str,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            record(conn, institution_id, actor, action, target, detail)

    def entries(self, institution_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """The newest entries first (of one institution, or all)."""
        a = schema.audit_log
        query = sa.select(a).order_by(a.c.id.desc()).limit(limit)
        if institution_id is not None:
            query = query.where(a.c.institution_id == institution_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [{**row, "detail": json.loads(row["detail"])} for row in rows]
