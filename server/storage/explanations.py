"""Students' explanations of flagged episodes (the ``explanations`` table): appended, the newest
per episode shown, at most a bounded number per session."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from . import schema
from .database import Database


class Explanations:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, session_id: str, seq: int, text: str, now: float, most: int) -> bool:
        """Append an explanation; False (nothing stored) when the session has ``most``."""
        x = schema.explanations
        with self.db.engine.begin() as conn:
            held = conn.execute(
                sa.select(sa.func.count()).select_from(x).where(x.c.session_id == session_id)
            ).scalar_one()
            if held >= most:
                return False
            conn.execute(
                x.insert().values(session_id=session_id, seq=seq, text=text, created_at=now)
            )
        return True

    def of_session(self, session_id: str) -> dict[int, dict[str, Any]]:
        """The newest explanation of each episode: seq -> {seq, text, created_at}."""
        x = schema.explanations
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(x.c.seq, x.c.text, x.c.created_at)
                .where(x.c.session_id == session_id)
                .order_by(x.c.id)
            ).mappings()
            return {int(r["seq"]): dict(r) for r in rows}
