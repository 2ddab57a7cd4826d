"""Sessions and their signed events: the ingest hot path (a locked session row, a batch of
events, the new chain state, in one transaction) and the queries the dashboard and reports run.

Writes to a session's chain happen inside :meth:`Sessions.locked`, which serialises them:
``BEGIN IMMEDIATE`` on SQLite (one writer at a time, WAL keeps readers going) and
``SELECT ... FOR UPDATE`` on PostgreSQL (several server processes, one database). Either the
whole batch is stored with the new chain state, or nothing is.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from openproctor.core import Event

from ..errors import NotFound
from . import schema
from .database import Database, driver_cursor
from .rows import ReportRow, SessionRow

# The ingest hot path runs its statements on the driver's cursor (docs/PERFORMANCE.md). Their
# identifiers come from the schema only; every value is a bound parameter.
_DATA_ENCODER = json.JSONEncoder(separators=(",", ":"))
_MARK = {"qmark": "?", "format": "%s", "pyformat": "%s"}  # the drivers' placeholders
_SESSION_COLUMNS = tuple(schema.sessions.c.keys())
_EVENT_COLUMNS = "session_id, seq, t, type, data, prev, mac, received_at"


@functools.lru_cache(maxsize=256)
def _update_session_sql(names: tuple[str, ...], paramstyle: str) -> str:
    """UPDATE of these session columns (checked against the schema), cached per column set."""
    unknown = set(names) - set(_SESSION_COLUMNS)
    if unknown:
        raise ValueError(f"not session columns: {sorted(unknown)}")
    mark = _MARK[paramstyle]
    assignments = ", ".join(f"{name} = {mark}" for name in names)
    return f"UPDATE sessions SET {assignments} WHERE id = {mark}"  # noqa: S608 (checked names)


@functools.lru_cache(maxsize=4)
def _insert_events_sql(paramstyle: str) -> str:
    marks = ", ".join([_MARK[paramstyle]] * 8)
    return f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ({marks})"  # noqa: S608


class SessionTx:
    """One session's row inside a locked transaction: read state, append events, update."""

    def __init__(self, conn: Connection, row: SessionRow) -> None:
        self.conn = conn
        self.row = row
        self._paramstyle = conn.dialect.paramstyle

    def known_macs(self, low: int, high: int) -> dict[int, str]:
        e = schema.events
        rows = self.conn.execute(
            sa.select(e.c.seq, e.c.mac).where(
                e.c.session_id == self.row.id, e.c.seq >= low, e.c.seq <= high
            )
        )
        return {int(seq): mac for seq, mac in rows}

    def insert_events(self, events: Sequence[Event], received_at: float) -> None:
        """Append verified events. This is the ingest hot path: one driver-level executemany
        with positional rows, which costs a fraction of building a dict per row for the ORM
        layer (docs/PERFORMANCE.md)."""
        if not events:
            return
        session_id, encode = self.row.id, _DATA_ENCODER.encode
        with driver_cursor(self.conn) as cursor:
            cursor.executemany(
                _insert_events_sql(self._paramstyle),
                [
                    # Most events are heartbeats, whose data is empty.
                    (
                        session_id,
                        e.seq,
                        e.t,
                        e.type,
                        encode(e.data) if e.data else "{}",
                        e.prev,
                        e.mac,
                        received_at,
                    )
                    for e in events
                ],
            )

    def events(self) -> list[dict[str, Any]]:
        """The session's stored log, including what this transaction inserted."""
        return _load_events(self.conn, self.row.id)

    def update(self, **fields: Any) -> None:
        fields["updated_at"] = time.time()
        names = tuple(sorted(fields))
        with driver_cursor(self.conn) as cursor:
            cursor.execute(
                _update_session_sql(names, self._paramstyle),
                (*(fields[name] for name in names), self.row.id),
            )
        self.row.set(**fields)


class Sessions:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Reading the session row is the first statement of the ingest hot path.
        mark = "?" if db.dialect == "sqlite" else "%s"
        lock = "" if db.dialect == "sqlite" else " FOR UPDATE"  # SQLite: one writer anyway
        columns = ", ".join(_SESSION_COLUMNS)
        self._lock_sql = f"SELECT {columns} FROM sessions WHERE id = {mark}{lock}"  # noqa: S608

    def insert(self, values: Mapping[str, Any]) -> bool:
        """Insert a new session; False when (integration, external id) already exists."""
        try:
            with self.db.engine.begin() as conn:
                conn.execute(schema.sessions.insert().values(**values))
        except IntegrityError:
            return False
        return True

    def get(self, session_id: str) -> SessionRow | None:
        with self.db.engine.connect() as conn:
            row = (
                conn.execute(sa.select(schema.sessions).where(schema.sessions.c.id == session_id))
                .mappings()
                .first()
            )
        return SessionRow.from_row(row) if row else None

    def find(self, integration_id: int, external_id: str) -> SessionRow | None:
        s = schema.sessions
        with self.db.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(s).where(
                        s.c.integration_id == integration_id, s.c.external_id == external_id
                    )
                )
                .mappings()
                .first()
            )
        return SessionRow.from_row(row) if row else None

    def for_review(
        self,
        institution_id: str,
        context_id: str | None = None,
        exam_id: str | None = None,
        flagged_only: bool = False,
        status: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 500,
    ) -> list[SessionRow]:
        """One institution's sessions for review, worst score first (unscored last)."""
        s = schema.sessions
        query = sa.select(s).where(s.c.institution_id == institution_id)
        if context_id is not None:
            query = query.where(s.c.context_id == context_id)
        if exam_id:
            query = query.where(s.c.exam_id == exam_id)
        if flagged_only:
            query = query.where(s.c.flagged.is_(True))
        if status:
            query = query.where(s.c.status == status)
        if since is not None:
            query = query.where(s.c.started_at >= since)
        if until is not None:
            query = query.where(s.c.started_at < until)
        query = query.order_by(s.c.score.is_(None), s.c.score.asc(), s.c.started_at.desc()).limit(
            limit
        )
        with self.db.engine.connect() as conn:
            return [SessionRow.from_row(row) for row in conn.execute(query).mappings()]

    def for_report(
        self, institution_id: str, context_id: str | None = None, exam_id: str | None = None
    ) -> list[ReportRow]:
        """The sessions a report covers, each with its current (newest) review decision."""
        s, d = schema.sessions, schema.decisions
        decision = (
            sa.select(d.c.outcome)
            .where(d.c.session_id == s.c.id)
            .order_by(d.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        query = sa.select(
            s.c.id,
            s.c.exam_id,
            s.c.exam_name,
            s.c.status,
            s.c.started_at,
            s.c.score,
            s.c.flagged,
            s.c.breakdown_json,
            s.c.policy_json,
            s.c.integrity_reason,
            s.c.score_mismatch,
            s.c.complete,
            decision.label("decision"),
            s.c.external_id,
            s.c.user_id,
            s.c.user_json,
            s.c.context_id,
        ).where(s.c.institution_id == institution_id)
        if context_id is not None:
            query = query.where(s.c.context_id == context_id)
        if exam_id:
            query = query.where(s.c.exam_id == exam_id)
        with self.db.engine.connect() as conn:
            rows = conn.execute(query.order_by(s.c.started_at)).mappings()
            return [ReportRow.from_row(r) for r in rows]

    @contextmanager
    def locked(self, session_id: str, group: Connection | None = None) -> Iterator[SessionTx]:
        """A transaction holding the session's write lock; commits if the block succeeds.

        SQLite has one writer at a time anyway: writers of this process queue on a lock instead
        of contending in SQLite's busy handler, whose sleeps made the tail latency. Inside a
        ``group`` transaction (see :meth:`write_group`) the block runs in a savepoint of it.
        """
        if group is not None:
            with driver_cursor(group) as cursor:
                cursor.execute("SAVEPOINT batch")
                try:
                    yield self._session_tx(group, session_id)
                except BaseException:
                    cursor.execute("ROLLBACK TO SAVEPOINT batch")
                    raise
                finally:
                    cursor.execute("RELEASE SAVEPOINT batch")
            return
        with self.db.write() as conn:
            yield self._session_tx(conn, session_id)

    @contextmanager
    def write_group(self) -> Iterator[Connection]:
        """One write transaction for many batches (the SQLite writer's group commit): each
        batch runs in a savepoint, and all are durable, or none, at the one commit."""
        with self.db.write() as conn:
            yield conn

    def _session_tx(self, conn: Connection, session_id: str) -> SessionTx:
        with driver_cursor(conn) as cursor:
            cursor.execute(self._lock_sql, (session_id,))
            values = cursor.fetchone()
        if values is None:
            raise NotFound("unknown_session", f"no session {session_id!r}")
        return SessionTx(conn, SessionRow(*values))

    def update(self, session_id: str, group: Connection | None = None, **fields: Any) -> None:
        fields["updated_at"] = time.time()
        statement = (
            schema.sessions.update().where(schema.sessions.c.id == session_id).values(**fields)
        )
        if group is not None:
            group.execute(statement)
            return
        with self.db.engine.begin() as conn:
            conn.execute(statement)

    def events(self, session_id: str) -> list[dict[str, Any]]:
        """The stored log of a session, as wire dicts in seq order."""
        with self.db.engine.connect() as conn:
            return _load_events(conn, session_id)


def _load_events(conn: Connection, session_id: str) -> list[dict[str, Any]]:
    e = schema.events
    rows = conn.execute(
        sa.select(e.c.seq, e.c.t, e.c.type, e.c.data, e.c.prev, e.c.mac)
        .where(e.c.session_id == session_id)
        .order_by(e.c.seq)
    ).mappings()
    return [
        {
            "seq": int(r["seq"]),
            "t": int(r["t"]),
            "type": r["type"],
            "data": json.loads(r["data"]),
            "prev": r["prev"],
            "mac": r["mac"],
        }
        for r in rows
    ]
