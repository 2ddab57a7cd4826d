"""The LTI services' rows: each launched attempt (what the platform offered), the tool's own
line items, and the durable queue of calls back to the platform (ACS, AGS), claimed by one
server process at a time like webhook deliveries."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import schema
from .database import Database, claim_due
from .rows import Attempt


class LmsRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- attempts ---------------------------------------------------------------------------

    def save_attempt(self, attempt: Attempt) -> None:
        """Store (or, for a resumed session, refresh) what the launch said."""
        a = schema.lti_attempts
        values = {
            "registration_id": attempt.registration_id,
            "subject": attempt.subject,
            "resource_link": json.dumps(attempt.resource_link),
            "attempt_number": attempt.attempt_number,
            "acs_url": attempt.acs_url,
            "acs_actions": json.dumps(list(attempt.acs_actions)),
            "ags_lineitems": attempt.ags_lineitems,
            "ags_scopes": json.dumps(list(attempt.ags_scopes)),
            "gradebook": attempt.gradebook,
        }
        with self.db.engine.begin() as conn:
            updated = conn.execute(
                a.update().where(a.c.session_id == attempt.session_id).values(**values)
            ).rowcount
            if not updated:
                conn.execute(
                    a.insert().values(
                        session_id=attempt.session_id, created_at=time.time(), **values
                    )
                )

    def attempt(self, session_id: str, conn: Connection | None = None) -> Attempt | None:
        a = schema.lti_attempts
        query = sa.select(a).where(a.c.session_id == session_id)
        if conn is not None:
            row = conn.execute(query).first()
        else:
            with self.db.engine.connect() as own:
                row = own.execute(query).first()
        return Attempt.from_row(row) if row else None

    def attempts(self, session_ids: list[str]) -> dict[str, Attempt]:
        """The attempts of many sessions at once (the dashboard's rows)."""
        a = schema.lti_attempts
        if not session_ids:
            return {}
        with self.db.engine.connect() as conn:
            rows = conn.execute(sa.select(a).where(a.c.session_id.in_(session_ids))).all()
        return {row.session_id: Attempt.from_row(row) for row in rows}

    # -- the tool's line items ------------------------------------------------------------

    def line_item(self, registration_id: int, resource_link_id: str) -> str | None:
        i = schema.lti_line_items
        with self.db.engine.connect() as conn:
            found = conn.execute(
                sa.select(i.c.lineitem_url).where(
                    i.c.registration_id == registration_id,
                    i.c.resource_link_id == resource_link_id,
                )
            ).scalar()
        return str(found) if found else None

    def save_line_item(
        self, registration_id: int, resource_link_id: str, lineitems_url: str, lineitem_url: str
    ) -> str:
        """Keep the line item the platform created; if another process stored one for the
        same link meanwhile, that one wins (and is returned)."""
        i = schema.lti_line_items
        try:
            with self.db.engine.begin() as conn:
                conn.execute(
                    i.insert().values(
                        registration_id=registration_id,
                        resource_link_id=resource_link_id,
                        lineitems_url=lineitems_url,
                        lineitem_url=lineitem_url,
                        created_at=time.time(),
                    )
                )
        except sa.exc.IntegrityError:
            pass
        found = self.line_item(registration_id, resource_link_id)
        assert found is not None
        return found

    # -- the queue of calls ---------------------------------------------------------------

    def queue(
        self,
        conn: Connection,
        session_id: str,
        service: str,
        action: str,
        due: float,
        supersede: bool = False,
    ) -> None:
        """A pending call, inside the caller's transaction. ``supersede``: pending calls of the
        same kind for the session are replaced (the newest says everything they would)."""
        c, s = schema.lms_calls, schema.sessions
        now = time.time()
        if supersede:
            self.supersede(conn, session_id, service, action)
        conn.execute(
            c.insert().values(
                institution_id=sa.select(s.c.institution_id)
                .where(s.c.id == session_id)
                .scalar_subquery(),
                session_id=session_id,
                service=service,
                action=action,
                status="pending",
                attempts=0,
                next_attempt_at=due,
                created_at=now,
            )
        )

    def supersede(self, conn: Connection, session_id: str, service: str, action: str) -> None:
        """Pending calls of this kind for the session are replaced by a newer one."""
        c = schema.lms_calls
        conn.execute(
            c.update()
            .where(
                c.c.session_id == session_id,
                c.c.service == service,
                c.c.action == action,
                c.c.status == "pending",
            )
            .values(status="superseded", last_error="a newer call replaced it")
        )

    def queued(self, conn: Connection, session_id: str, service: str, action: str) -> bool:
        """Whether a call of this kind was ever queued for the session."""
        c = schema.lms_calls
        return bool(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(c)
                .where(c.c.session_id == session_id, c.c.service == service, c.c.action == action)
            ).scalar()
        )

    def claim_due(self, now: float, lease: float, limit: int = 20) -> list[dict[str, Any]]:
        """Calls due now, each claimed for ``lease`` seconds (database.claim_due)."""
        c = schema.lms_calls

        def read(conn: Connection, call_id: int) -> dict[str, Any]:
            return dict(conn.execute(sa.select(c).where(c.c.id == call_id)).mappings().one())

        return claim_due(self.db, c, now, lease, limit, read)

    def update_call(self, call_id: int, values: Mapping[str, Any]) -> None:
        c = schema.lms_calls
        with self.db.engine.begin() as conn:
            conn.execute(c.update().where(c.c.id == call_id).values(**values))

    def calls(
        self, institution_id: str | None, session_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The newest calls (of an institution, or of one session), newest first."""
        c = schema.lms_calls
        query = sa.select(c).order_by(c.c.id.desc()).limit(limit)
        if institution_id is not None:
            query = query.where(c.c.institution_id == institution_id)
        if session_id is not None:
            query = query.where(c.c.session_id == session_id)
        with self.db.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]


def forget_registration(conn: Connection, registration_id: int) -> None:
    """A registration is removed: its pending calls are cancelled, its attempts and line
    items dropped (the sessions and the call log stay)."""
    a, c, i = schema.lti_attempts, schema.lms_calls, schema.lti_line_items
    sessions = sa.select(a.c.session_id).where(a.c.registration_id == registration_id)
    conn.execute(
        c.update()
        .where(c.c.session_id.in_(sessions), c.c.status == "pending")
        .values(status="cancelled", last_error="the platform's registration was removed")
    )
    conn.execute(a.delete().where(a.c.registration_id == registration_id))
    conn.execute(i.delete().where(i.c.registration_id == registration_id))
