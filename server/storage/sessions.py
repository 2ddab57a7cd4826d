"""Sessions and their signed events: the ingest hot path (a locked session row, a batch of
events, the new chain state, in one transaction) and the queries the dashboard and reports run.

Writes to a session's chain happen inside :meth:`Sessions.locked`, which serialises them:
``BEGIN IMMEDIATE`` on SQLite (one writer at a time, WAL keeps readers going) and
``SELECT ... FOR UPDATE`` on PostgreSQL (several server processes, one database). Either the
whole batch is stored with the new chain state, or nothing is.
"""

from __future__ import annotations

import functools
import itertools
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from openproctor.core import Event

from ..errors import NotFound
from . import schema
from .audit import record as audit_record
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


# PostgreSQL: a batch's events in one COPY (its rows are encoded by the driver's C code).
_COPY_EVENTS = f"COPY events ({_EVENT_COLUMNS}) FROM STDIN"


@functools.lru_cache(maxsize=4)
def _insert_events_sql(paramstyle: str) -> str:
    marks = ", ".join([_MARK[paramstyle]] * 8)
    return f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ({marks})"  # noqa: S608


class GroupAborted(Exception):
    """A batch failed after it wrote in a group transaction: the group must roll back whole
    (the writer then applies its batches one by one), since its writes cannot be undone alone."""


class WriteGroup:
    """The writer's transaction over many batches (writer.py): their sessions' rows read, and on
    PostgreSQL locked, in one statement in session-id order, and their writes held here and sent
    together — the events in one COPY (SQLite: one executemany), the session rows in one
    executemany per set of columns — at the commit or before any other statement on the
    connection (a read of the log, a watcher's insert), so every statement sees them."""

    def __init__(self, conn: Connection, rows: Mapping[str, SessionRow]) -> None:
        self.conn = conn
        self.rows = dict(rows)
        self._events: list[tuple[Any, ...]] = []
        self._updates: dict[str, dict[str, Any]] = {}
        sa.event.listen(conn, "before_cursor_execute", self._before_statement)

    def tx(self, session_id: str) -> SessionTx:
        row = self.rows.get(session_id)
        if row is None:
            raise NotFound("unknown_session", f"no session {session_id!r}")
        return SessionTx(self.conn, row, self)

    def add_events(self, rows: list[tuple[Any, ...]]) -> None:
        self._events += rows

    def add_update(self, session_id: str, fields: Mapping[str, Any]) -> None:
        self._updates.setdefault(session_id, {}).update(fields)

    def flush(self) -> None:
        """Send the held writes (the events first: a session row never runs ahead of its log)."""
        events, self._events = self._events, []
        updates, self._updates = self._updates, {}
        if events:
            _write_events(self.conn, events)
        by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for session_id, fields in updates.items():
            names = tuple(sorted(fields))
            by_columns.setdefault(names, []).append((*(fields[n] for n in names), session_id))
        paramstyle = self.conn.dialect.paramstyle
        with driver_cursor(self.conn) as cursor:
            for names, values in by_columns.items():
                cursor.executemany(_update_session_sql(names, paramstyle), values)

    def close(self) -> None:
        sa.event.remove(self.conn, "before_cursor_execute", self._before_statement)

    def _before_statement(self, *_: Any) -> None:
        if self._events or self._updates:
            self.flush()


def _write_events(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """The ingest hot path, on the driver's cursor with positional rows (a dict per row for the
    ORM layer costs more than the rest of the batch): on PostgreSQL one COPY, whose rows the
    driver encodes in C; on SQLite one executemany (docs/PERFORMANCE.md)."""
    with driver_cursor(conn) as cursor:
        if conn.dialect.paramstyle == "qmark":
            cursor.executemany(_insert_events_sql("qmark"), rows)
            return
        with cursor.copy(_COPY_EVENTS) as copy:
            for row in rows:
                copy.write_row(row)


class SessionTx:
    """One session's row inside a locked transaction: read state, append events, update. In a
    :class:`WriteGroup` the writes are held by the group; alone, they are sent at once."""

    def __init__(self, conn: Connection, row: SessionRow, group: WriteGroup | None = None) -> None:
        self.conn = conn
        self.row = row
        self.group = group

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Where the transaction's writes happen. Every refusal must come before it: inside, a
        failure of a grouped batch aborts its group (alone, the transaction rolls back)."""
        try:
            yield
        except Exception as exc:
            if self.group is not None:
                raise GroupAborted(f"a batch of session {self.row.id} failed writing") from exc
            raise

    def known_macs(self, low: int, high: int) -> dict[int, str]:
        e = schema.events
        rows = self.conn.execute(
            sa.select(e.c.seq, e.c.mac).where(
                e.c.session_id == self.row.id, e.c.seq >= low, e.c.seq <= high
            )
        )
        return {int(seq): mac for seq, mac in rows}

    def insert_events(self, events: Sequence[Event], received_at: float) -> None:
        """Append verified events."""
        if not events:
            return
        session_id, encode = self.row.id, _DATA_ENCODER.encode
        # Most events are heartbeats, whose data is empty.
        rows = [
            (session_id, e.seq, e.t, e.type, encode(e.data) if e.data else "{}", e.prev, e.mac, at)
            for e, at in zip(events, itertools.repeat(received_at))
        ]
        if self.group is not None:
            self.group.add_events(rows)
        else:
            _write_events(self.conn, rows)

    def events(self) -> list[dict[str, Any]]:
        """The session's stored log, including what this transaction inserted."""
        return _load_events(self.conn, self.row.id)

    def update(self, **fields: Any) -> None:
        fields["updated_at"] = time.time()
        if self.group is not None:
            self.group.add_update(self.row.id, fields)
        else:
            names = tuple(sorted(fields))
            with driver_cursor(self.conn) as cursor:
                cursor.execute(
                    _update_session_sql(names, self.conn.dialect.paramstyle),
                    (*(fields[name] for name in names), self.row.id),
                )
        self.row.set(**fields)


class Sessions:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Reading the session row is the first statement of the ingest hot path.
        mark = self._mark = "?" if db.dialect == "sqlite" else "%s"
        # SQLite: one writer anyway.
        lock = self._lock = "" if db.dialect == "sqlite" else " FOR UPDATE"
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
        claimed: str | None = None,
        explained: bool = False,
    ) -> list[SessionRow]:
        """One institution's sessions for review, worst score first (unscored last).
        ``claimed``: "" unassigned only, a name: that reviewer's; ``explained``: only those
        the student explained an episode of."""
        s = schema.sessions
        query = sa.select(s).where(s.c.institution_id == institution_id)
        if claimed == "":
            query = query.where(s.c.claimed_by.is_(None))
        elif claimed is not None:
            query = query.where(s.c.claimed_by == claimed)
        if explained:
            x = schema.explanations
            query = query.where(sa.exists().where(x.c.session_id == s.c.id))
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

    def finished_of_exam(
        self, institution_id: str, exam_id: str, context_id: str | None, limit: int
    ) -> list[SessionRow]:
        """An exam's finished, scored sessions whose log is kept, newest first."""
        s = schema.sessions
        query = sa.select(s).where(
            s.c.institution_id == institution_id,
            s.c.exam_id == exam_id,
            s.c.status == "finished",
            s.c.purged_at.is_(None),
            s.c.score.is_not(None),
        )
        if context_id is not None:
            query = query.where(s.c.context_id == context_id)
        with self.db.engine.connect() as conn:
            rows = conn.execute(query.order_by(s.c.started_at.desc()).limit(limit)).mappings()
            return [SessionRow.from_row(row) for row in rows]

    def current_decisions(self, session_ids: list[str]) -> dict[str, str | None]:
        """Each session's newest review outcome (None: not decided)."""
        d = schema.decisions
        found: dict[str, str | None] = dict.fromkeys(session_ids)
        if not session_ids:
            return found
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(d.c.session_id, d.c.outcome)
                .where(d.c.session_id.in_(session_ids))
                .order_by(d.c.id)
            )
            for session_id, outcome in rows:
                found[session_id] = outcome
        return found

    def adopt_scores(
        self,
        institution_id: str,
        changes: list[tuple[str, str, float, int, bool, str]],
        policy_version: int,
        actor: str,
        now: float,
        then: Callable[[Any, str], None] | None = None,
    ) -> None:
        """New scores of record (session id, effective policy JSON, score, score_milli,
        flagged, breakdown JSON) in one transaction; each session's first version is the
        score it had; ``then(conn, session_id)`` tells the LMS."""
        s, v = schema.sessions, schema.score_versions
        with self.db.engine.begin() as conn:
            for session_id, policy_json, score, milli, flagged, breakdown in changes:
                old = conn.execute(
                    sa.select(s.c.policy_version, s.c.score, s.c.flagged, s.c.breakdown_json).where(
                        s.c.id == session_id
                    )
                ).first()
                assert old is not None
                if not conn.execute(
                    sa.select(sa.func.count()).select_from(v).where(v.c.session_id == session_id)
                ).scalar():
                    conn.execute(
                        v.insert().values(
                            session_id=session_id,
                            policy_version=old.policy_version,
                            environment="production",
                            score=old.score,
                            flagged=old.flagged,
                            breakdown_json=old.breakdown_json,
                            created_by="(the score it had)",
                            created_at=now,
                        )
                    )
                conn.execute(
                    v.insert().values(
                        session_id=session_id,
                        policy_version=policy_version,
                        environment="staging",
                        score=score,
                        flagged=flagged,
                        breakdown_json=breakdown,
                        created_by=actor,
                        created_at=now,
                    )
                )
                conn.execute(
                    s.update()
                    .where(s.c.id == session_id)
                    .values(
                        policy_json=policy_json,
                        policy_version=policy_version,
                        score=score,
                        score_milli=milli,
                        flagged=flagged,
                        breakdown_json=breakdown,
                        updated_at=now,
                    )
                )
                if then is not None:
                    then(conn, session_id)
            audit_record(
                conn,
                institution_id,
                actor,
                "scores.adopted",
                f"policy-version:{policy_version}",
                {"sessions": [c[0] for c in changes]},
            )

    def score_versions(self, session_id: str) -> list[dict[str, Any]]:
        v = schema.score_versions
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(v).where(v.c.session_id == session_id).order_by(v.c.id)
            ).mappings()
            return [dict(r) for r in rows]

    def for_fairness(
        self, institution_id: str, context_id: str | None = None, exam_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The scored sessions the fairness audit covers, each with its ``session_start``
        event's data (None once the log was purged): one query."""
        s, e = schema.sessions, schema.events
        opening = sa.and_(e.c.session_id == s.c.id, e.c.seq == 0, e.c.type == "session_start")
        query = (
            sa.select(
                s.c.id,
                s.c.exam_id,
                s.c.score,
                s.c.flagged,
                s.c.policy_json,
                s.c.tally_json,
                e.c.data.label("start_data"),
            )
            .select_from(s.outerjoin(e, opening))
            .where(s.c.institution_id == institution_id, s.c.score.is_not(None))
        )
        if context_id is not None:
            query = query.where(s.c.context_id == context_id)
        if exam_id:
            query = query.where(s.c.exam_id == exam_id)
        with self.db.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query.order_by(s.c.started_at)).mappings()]

    @contextmanager
    def locked(self, session_id: str, group: WriteGroup | None = None) -> Iterator[SessionTx]:
        """A transaction holding the session's write lock; commits if the block succeeds.

        SQLite has one writer at a time anyway: writers of this process queue on a lock instead
        of contending in SQLite's busy handler, whose sleeps made the tail latency. In a
        ``group`` (see :meth:`write_group`) the block runs in the group's transaction, without a
        savepoint of its own (on PostgreSQL, a fifth of a batch's cost): a refusal raised before
        the block's :meth:`SessionTx.writing` fails this batch alone; a failure once it writes
        aborts the whole group (:class:`GroupAborted`).
        """
        if group is not None:
            yield group.tx(session_id)
            return
        with self.db.write() as conn:
            yield self._session_tx(conn, session_id)

    @contextmanager
    def write_group(self, session_ids: Sequence[str]) -> Iterator[WriteGroup]:
        """One write transaction for many batches (the writer's group commit), with these
        sessions' rows locked in id order: all are durable, or none, at the one commit."""
        ids = sorted(set(session_ids))
        with self.db.write() as conn:
            rows: dict[str, SessionRow] = {}
            if ids:
                with driver_cursor(conn) as cursor:
                    cursor.execute(self._lock_many_sql(len(ids)), ids)
                    rows = {values[0]: SessionRow(*values) for values in cursor.fetchall()}
            group = WriteGroup(conn, rows)
            try:
                yield group
                group.flush()
            finally:
                group.close()

    def _lock_many_sql(self, count: int) -> str:
        marks = ", ".join([self._mark] * count)
        return (
            f"SELECT {', '.join(_SESSION_COLUMNS)} FROM sessions "  # noqa: S608 (schema names)
            f"WHERE id IN ({marks}) ORDER BY id{self._lock}"
        )

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
