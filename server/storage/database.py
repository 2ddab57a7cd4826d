"""Storage behind one small interface, on SQLAlchemy Core: SQLite (default) or PostgreSQL.

Writes to a session's chain happen inside :meth:`Store.locked_session`, which serialises them:
``BEGIN IMMEDIATE`` on SQLite (one writer at a time, WAL keeps readers going) and
``SELECT ... FOR UPDATE`` on PostgreSQL (several server processes, one database). Either the whole
batch is stored with the new chain state, or nothing is.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from openproctor.core import Event, Policy, parse_policy

from ..errors import Conflict, NotFound, Unavailable
from . import schema
from .audit import record as audit_record

log = logging.getLogger("openproctor.server.store")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
INTEGRATION_TTL = 10.0


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` URLs and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _private_file(database: str | None) -> None:
    """The SQLite file holds names, emails, password hashes and accommodations: it is created
    readable by its owner only (0600), and an existing one is tightened to that. SQLite gives
    its -wal and -shm files the database file's permissions."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if name.exists() and name.stat().st_mode & 0o077:
            log.warning("%s was readable by others; now owner-only (0600)", name)
            name.chmod(0o600)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        "busy_timeout=15000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# The ingest hot path runs its statements on the driver's cursor (docs/PERFORMANCE.md). Their
# identifiers come from the schema only; every value is a bound parameter.
_DATA_ENCODER = json.JSONEncoder(separators=(",", ":"))
_MARK = {"qmark": "?", "format": "%s", "pyformat": "%s"}  # the drivers' placeholders
_SESSION_COLUMNS = tuple(schema.sessions.c.keys())
_EVENT_COLUMNS = "session_id, seq, t, type, data, prev, mac, received_at"


@contextmanager
def _driver_cursor(conn: Connection) -> Iterator[Any]:
    """A cursor of the driver on this connection (inside its current transaction)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    finally:
        cursor.close()


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


@dataclass(frozen=True)
class ExamRecord:
    exam_id: str
    #: The LMS course the exam was created in (None: an institution-wide exam).
    context_id: str | None


@dataclass(frozen=True)
class Integration:
    id: int
    name: str
    institution_id: str
    secret_enc: bytes
    allowed_origins: tuple[str, ...]
    created_at: float
    #: The secret before the last rotation, still accepted until ``previous_secret_until``.
    previous_secret_enc: bytes | None = None
    previous_secret_until: float | None = None

    def secrets_enc(self, now: float) -> tuple[bytes, ...]:
        """The encrypted secrets that sign valid tokens now: the current one, and the previous
        one during its grace period."""
        if self.previous_secret_enc is not None and (self.previous_secret_until or 0) > now:
            return (self.secret_enc, self.previous_secret_enc)
        return (self.secret_enc,)

    def __repr__(self) -> str:  # the encrypted secret stays out of logs too
        return f"Integration(name={self.name!r}, institution={self.institution_id!r})"


class SessionTx:
    """One session's row inside a locked transaction: read state, append events, update."""

    def __init__(self, conn: Connection, row: Mapping[str, Any]) -> None:
        self.conn = conn
        self.row = dict(row)
        self._paramstyle = conn.dialect.paramstyle

    def known_macs(self, low: int, high: int) -> dict[int, str]:
        e = schema.events
        rows = self.conn.execute(
            sa.select(e.c.seq, e.c.mac).where(
                e.c.session_id == self.row["id"], e.c.seq >= low, e.c.seq <= high
            )
        )
        return {int(seq): mac for seq, mac in rows}

    def insert_events(self, events: Sequence[Event], received_at: float) -> None:
        """Append verified events. This is the ingest hot path: one driver-level executemany
        with positional rows, which costs a fraction of building a dict per row for the ORM
        layer (docs/PERFORMANCE.md)."""
        if not events:
            return
        session_id, encode = self.row["id"], _DATA_ENCODER.encode
        with _driver_cursor(self.conn) as cursor:
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
        return _load_events(self.conn, self.row["id"])

    def update(self, **fields: Any) -> None:
        fields["updated_at"] = time.time()
        names = tuple(sorted(fields))
        with _driver_cursor(self.conn) as cursor:
            cursor.execute(
                _update_session_sql(names, self._paramstyle),
                (*(fields[name] for name in names), self.row["id"]),
            )
        self.row.update(fields)


class Store:
    """The storage interface the server uses. Thread-safe; one per process."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.dialect = sa.engine.make_url(self.url).get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {self.dialect!r}: use sqlite or postgresql")
        if self.dialect == "sqlite":
            _private_file(sa.engine.make_url(self.url).database)
        options: dict[str, Any] = {"future": True}
        if self.dialect == "postgresql":
            options.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: Engine = sa.create_engine(self.url, **options)
        self._integrations: dict[int, tuple[float, Integration]] = {}
        self._writer: threading.Lock | contextlib.nullcontext[None] = (
            threading.Lock() if self.dialect == "sqlite" else contextlib.nullcontext()
        )
        # Reading the session row is the first statement of the ingest hot path.
        mark = "?" if self.dialect == "sqlite" else "%s"
        lock = "" if self.dialect == "sqlite" else " FOR UPDATE"  # SQLite: one writer anyway
        columns = ", ".join(_SESSION_COLUMNS)
        self._lock_sql = f"SELECT {columns} FROM sessions WHERE id = {mark}{lock}"  # noqa: S608
        if self.dialect == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            sa.event.listen(self.engine, "begin", _sqlite_begin)

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def migrate(self) -> None:
        """Bring the schema up to the newest migration (idempotent)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- institutions and integrations -----------------------------------------------------

    def add_integration(
        self,
        name: str,
        institution_id: str,
        secret_enc: bytes,
        origins: Sequence[str],
        institution_name: str | None = None,
    ) -> Integration:
        now = time.time()
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(schema.institutions.c.id).where(
                    schema.institutions.c.id == institution_id
                )
            ).first()
            if exists is None:
                conn.execute(
                    schema.institutions.insert().values(
                        id=institution_id, name=institution_name or institution_id, created_at=now
                    )
                )
            try:
                conn.execute(
                    schema.integrations.insert().values(
                        name=name,
                        institution_id=institution_id,
                        secret_enc=secret_enc,
                        allowed_origins=json.dumps(list(origins)),
                        created_at=now,
                    )
                )
            except IntegrityError:
                raise Conflict(
                    "integration_exists", f"an integration named {name!r} already exists"
                ) from None
        found = self.get_integration(name)
        assert found is not None
        return found

    def get_integration(self, name: str) -> Integration | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(schema.integrations).where(schema.integrations.c.name == name)
                )
                .mappings()
                .first()
            )
        return _integration(row) if row else None

    def get_integration_by_id(self, integration_id: int) -> Integration | None:
        """By id, cached for a few seconds: every batch checks its integration's origins."""
        cached = self._integrations.get(integration_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        found = self._integration_by_id(integration_id)
        if found is not None:
            self._integrations[integration_id] = (time.monotonic() + INTEGRATION_TTL, found)
        return found

    def _integration_by_id(self, integration_id: int) -> Integration | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(schema.integrations).where(schema.integrations.c.id == integration_id)
                )
                .mappings()
                .first()
            )
        return _integration(row) if row else None

    def list_integrations(self) -> list[Integration]:
        with self.engine.connect() as conn:
            rows = (
                conn.execute(sa.select(schema.integrations).order_by(schema.integrations.c.name))
                .mappings()
                .all()
            )
        return [_integration(r) for r in rows]

    def remove_integration(self, name: str) -> None:
        """Remove an integration that has no sessions (stored logs are never dropped with it)."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(schema.integrations.c.id).where(schema.integrations.c.name == name)
            ).first()
            if row is None:
                raise NotFound("unknown_integration", f"no integration named {name!r}")
            used = conn.execute(
                sa.select(sa.func.count())
                .select_from(schema.sessions)
                .where(schema.sessions.c.integration_id == row.id)
            ).scalar_one()
            if used:
                raise Conflict(
                    "integration_in_use",
                    f"integration {name!r} has {used} session(s); purge them first",
                )
            conn.execute(schema.integrations.delete().where(schema.integrations.c.id == row.id))
        self._integrations.pop(int(row.id), None)

    def rotate_integration_secret(
        self, name: str, secret_enc: bytes, grace_seconds: float, actor: str
    ) -> Integration:
        """Make ``secret_enc`` the integration's secret; the old one stays valid for
        ``grace_seconds`` (the LMS backend switches over meanwhile). Audited."""
        i = schema.integrations
        now = time.time()
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(i.c.id, i.c.secret_enc, i.c.institution_id).where(i.c.name == name)
            ).first()
            if row is None:
                raise NotFound("unknown_integration", f"no integration named {name!r}")
            conn.execute(
                i.update()
                .where(i.c.id == row.id)
                .values(
                    secret_enc=secret_enc,
                    previous_secret_enc=row.secret_enc,
                    previous_secret_until=now + grace_seconds,
                )
            )
            audit_record(
                conn,
                row.institution_id,
                actor,
                "integration.secret_rotated",
                f"integration:{name}",
                {"previous_valid_until": now + grace_seconds},
            )
        self._integrations.pop(int(row.id), None)
        found = self.get_integration(name)
        assert found is not None
        return found

    def reencrypt(self, rotate: Callable[[bytes], bytes], actor: str) -> dict[str, int]:
        """Re-encrypt every stored secret with ``rotate`` (decrypt with any master key, encrypt
        with the newest), in one transaction; returns how many of each kind. Audited."""
        columns = (
            (schema.integrations, ("secret_enc", "previous_secret_enc")),
            (schema.webhooks, ("secret_enc",)),
            (schema.lti_tool_keys, ("private_enc",)),
        )
        counts: dict[str, int] = {}
        with self.engine.begin() as conn:
            for table, names in columns:
                key = next(iter(table.primary_key.columns))
                done = 0
                for row in conn.execute(sa.select(key, *(table.c[n] for n in names))).all():
                    values = {
                        n: rotate(bytes(row._mapping[n]))
                        for n in names
                        if row._mapping[n] is not None
                    }
                    conn.execute(
                        table.update().where(key == row._mapping[key.name]).values(**values)
                    )
                    done += len(values)
                counts[table.name] = done
            audit_record(conn, None, actor, "secrets.reencrypted", "master-key", counts)
        self._integrations.clear()
        return counts

    def registered_origins(self) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(schema.integrations.c.allowed_origins)).scalars()
            return {origin for text in rows for origin in json.loads(text)}

    # -- policies --------------------------------------------------------------------------

    def save_policy(
        self,
        institution_id: str,
        policy: Policy,
        created_by: str,
        *,
        context_id: str | None = None,
        audit: tuple[str, str] | None = None,
    ) -> tuple[int, int]:
        """Store a new version of the exam's policy; return (policy id, version). The first
        version of an exam records the course (``context_id``) it was created in; ``audit``
        (actor, action) appends an entry with the versions before and after, in the same
        transaction."""
        p = schema.policies
        for _ in range(5):  # two writers may race for the same version number
            with self.engine.begin() as conn:
                current = conn.execute(
                    sa.select(sa.func.max(p.c.version)).where(
                        p.c.institution_id == institution_id, p.c.exam_id == policy.exam_id
                    )
                ).scalar_one()
                version = (current or 0) + 1
                try:
                    with conn.begin_nested():
                        result = conn.execute(
                            p.insert().values(
                                institution_id=institution_id,
                                exam_id=policy.exam_id,
                                version=version,
                                environment=policy.environment,
                                body=json.dumps(policy.to_dict()),
                                created_at=time.time(),
                                created_by=created_by,
                            )
                        )
                except IntegrityError:
                    continue
                _ensure_exam(conn, institution_id, policy.exam_id, context_id, created_by)
                if audit is not None:
                    audit_record(
                        conn,
                        institution_id,
                        audit[0],
                        audit[1],
                        f"exam:{policy.exam_id}",
                        {
                            "version": version,
                            "environment": policy.environment,
                            "previous_version": current,
                            "policy": policy.to_dict(),
                        },
                    )
                return int(result.inserted_primary_key[0]), version
        raise Unavailable("busy", "could not store the policy; try again")

    def exam_record(self, institution_id: str, exam_id: str) -> ExamRecord | None:
        """The exam and the course it belongs to, or None when it does not exist."""
        x = schema.exams
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(x).where(x.c.institution_id == institution_id, x.c.exam_id == exam_id)
            ).first()
        return ExamRecord(row.exam_id, row.context_id) if row else None

    def exam_contexts(self, institution_id: str) -> dict[str, str | None]:
        """Every exam of the institution with its course (None: the institution's own)."""
        x = schema.exams
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(x.c.exam_id, x.c.context_id).where(x.c.institution_id == institution_id)
            ).all()
        return {row.exam_id: row.context_id for row in rows}

    def current_policy(
        self, institution_id: str, exam_id: str, environment: str = "production"
    ) -> tuple[int, int, Policy] | None:
        """The newest version of the exam's policy in ``environment``."""
        p = schema.policies
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(p.c.id, p.c.version, p.c.body)
                .where(
                    p.c.institution_id == institution_id,
                    p.c.exam_id == exam_id,
                    p.c.environment == environment,
                )
                .order_by(p.c.version.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        return int(row.id), int(row.version), parse_policy(json.loads(row.body))

    def exams(self, institution_id: str) -> list[dict[str, Any]]:
        """The institution's exams: id, newest production version and its policy, sessions."""
        p, s = schema.policies, schema.sessions
        newest = (
            sa.select(p.c.exam_id, sa.func.max(p.c.version).label("version"))
            .where(p.c.institution_id == institution_id, p.c.environment == "production")
            .group_by(p.c.exam_id)
            .subquery()
        )
        counts = (
            sa.select(s.c.exam_id, sa.func.count().label("sessions"))
            .where(s.c.institution_id == institution_id)
            .group_by(s.c.exam_id)
            .subquery()
        )
        query = (
            sa.select(p.c.exam_id, p.c.version, p.c.body, counts.c.sessions)
            .join(
                newest,
                sa.and_(newest.c.exam_id == p.c.exam_id, newest.c.version == p.c.version),
            )
            .outerjoin(counts, counts.c.exam_id == p.c.exam_id)
            .where(p.c.institution_id == institution_id)
            .order_by(p.c.exam_id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "exam_id": row.exam_id,
                "version": int(row.version),
                "policy": json.loads(row.body),
                "sessions": int(row.sessions or 0),
            }
            for row in rows
        ]

    # -- sessions --------------------------------------------------------------------------

    def insert_session(self, values: Mapping[str, Any]) -> bool:
        """Insert a new session; False when (integration, external id) already exists."""
        try:
            with self.engine.begin() as conn:
                conn.execute(schema.sessions.insert().values(**values))
        except IntegrityError:
            return False
        return True

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(schema.sessions).where(schema.sessions.c.id == session_id))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def find_session(self, integration_id: int, external_id: str) -> dict[str, Any] | None:
        s = schema.sessions
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(s).where(
                        s.c.integration_id == integration_id, s.c.external_id == external_id
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def review_sessions(
        self,
        institution_id: str,
        context_id: str | None = None,
        exam_id: str | None = None,
        flagged_only: bool = False,
        status: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
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
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def report_rows(
        self, institution_id: str, context_id: str | None = None, exam_id: str | None = None
    ) -> list[dict[str, Any]]:
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
        ).where(s.c.institution_id == institution_id)
        if context_id is not None:
            query = query.where(s.c.context_id == context_id)
        if exam_id:
            query = query.where(s.c.exam_id == exam_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query.order_by(s.c.started_at)).mappings()]

    @contextmanager
    def locked_session(
        self, session_id: str, group: Connection | None = None
    ) -> Iterator[SessionTx]:
        """A transaction holding the session's write lock; commits if the block succeeds.

        SQLite has one writer at a time anyway: writers of this process queue on a lock instead
        of contending in SQLite's busy handler, whose sleeps made the tail latency. Inside a
        ``group`` transaction (see :meth:`write_group`) the block runs in a savepoint of it.
        """
        if group is not None:
            with _driver_cursor(group) as cursor:
                cursor.execute("SAVEPOINT batch")
                try:
                    yield self._session_tx(group, session_id)
                except BaseException:
                    cursor.execute("ROLLBACK TO SAVEPOINT batch")
                    raise
                finally:
                    cursor.execute("RELEASE SAVEPOINT batch")
            return
        with self._writer, self._write_transaction() as conn:
            yield self._session_tx(conn, session_id)

    @contextmanager
    def write_group(self) -> Iterator[Connection]:
        """One write transaction for many batches (the SQLite writer's group commit): each
        batch runs in a savepoint, and all are durable, or none, at the one commit."""
        with self._writer, self._write_transaction() as conn:
            yield conn

    @contextmanager
    def _write_transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(sqlite_immediate=True)
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            raise Unavailable(
                "database_unavailable", "the database is unavailable; retry later"
            ) from exc

    def _session_tx(self, conn: Connection, session_id: str) -> SessionTx:
        with _driver_cursor(conn) as cursor:
            cursor.execute(self._lock_sql, (session_id,))
            values = cursor.fetchone()
        if values is None:
            raise NotFound("unknown_session", f"no session {session_id!r}")
        return SessionTx(conn, dict(zip(_SESSION_COLUMNS, values, strict=True)))

    def update_session(
        self, session_id: str, group: Connection | None = None, **fields: Any
    ) -> None:
        fields["updated_at"] = time.time()
        statement = (
            schema.sessions.update().where(schema.sessions.c.id == session_id).values(**fields)
        )
        if group is not None:
            group.execute(statement)
            return
        with self.engine.begin() as conn:
            conn.execute(statement)

    def events(self, session_id: str) -> list[dict[str, Any]]:
        """The stored log of a session, as wire dicts in seq order."""
        with self.engine.connect() as conn:
            return _load_events(conn, session_id)

    # -- retention -------------------------------------------------------------------------

    def purge(self, now: float | None = None) -> dict[str, int]:
        """Delete the event logs of sessions older than their policy's ``log_retention_days``.

        The session row (status, score, breakdown) is kept as the summary; its events go.
        Returns how many sessions were purged and how many events were deleted.
        """
        now = time.time() if now is None else now
        s, e = schema.sessions, schema.events
        purged_sessions = deleted_events = 0
        with self.engine.connect() as conn:
            candidates = conn.execute(
                sa.select(s.c.id, s.c.started_at, s.c.policy_json).where(s.c.purged_at.is_(None))
            ).all()
        for row in candidates:
            days = json.loads(row.policy_json)["log_retention_days"]
            if row.started_at + days * 86400 > now:
                continue
            with self.engine.begin() as conn:
                deleted = conn.execute(e.delete().where(e.c.session_id == row.id)).rowcount
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


def _ensure_exam(
    conn: Connection, institution_id: str, exam_id: str, context_id: str | None, created_by: str
) -> None:
    x = schema.exams
    found = conn.execute(
        sa.select(x.c.exam_id).where(x.c.institution_id == institution_id, x.c.exam_id == exam_id)
    ).first()
    if found is None:
        conn.execute(
            x.insert().values(
                institution_id=institution_id,
                exam_id=exam_id,
                context_id=context_id,
                created_at=time.time(),
                created_by=created_by,
            )
        )


def require_institution(conn: Connection, institution_id: str) -> None:
    """Refuse (404) to attach anything to an institution that does not exist."""
    known = conn.execute(
        sa.select(schema.institutions.c.id).where(schema.institutions.c.id == institution_id)
    ).first()
    if known is None:
        raise NotFound("unknown_institution", f"no institution {institution_id!r}")


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


def _integration(row: Mapping[str, Any]) -> Integration:
    return Integration(
        id=int(row["id"]),
        name=row["name"],
        institution_id=row["institution_id"],
        secret_enc=bytes(row["secret_enc"]),
        allowed_origins=tuple(json.loads(row["allowed_origins"])),
        created_at=float(row["created_at"]),
        previous_secret_enc=bytes(row["previous_secret_enc"])
        if row["previous_secret_enc"] is not None
        else None,
        previous_secret_until=row["previous_secret_until"],
    )
