"""The database: one SQLAlchemy engine (SQLite, the default, or PostgreSQL), its migrations, and
the write transactions every table family's writes go through.

SQLite has one writer at a time: writers of this process queue on a lock (``BEGIN IMMEDIATE``)
instead of contending in SQLite's busy handler. PostgreSQL takes row locks
(``SELECT ... FOR UPDATE``) and lets several server processes share one database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from ..errors import NotFound, Unavailable
from . import schema

log = logging.getLogger("openproctor.server.storage")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


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


@contextmanager
def driver_cursor(conn: Connection) -> Iterator[Any]:
    """A cursor of the driver on this connection (inside its current transaction)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    finally:
        cursor.close()


class Database:
    """The engine and its transactions. Thread-safe; one per process."""

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
        self.writer_lock: threading.Lock | contextlib.nullcontext[None] = (
            threading.Lock() if self.dialect == "sqlite" else contextlib.nullcontext()
        )
        if self.dialect == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            sa.event.listen(self.engine, "begin", _sqlite_begin)

    def __repr__(self) -> str:
        return f"Database({self.engine.url.render_as_string(hide_password=True)!r})"

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

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: serialised on SQLite (this process's writer lock and
        ``BEGIN IMMEDIATE``), a plain transaction on PostgreSQL; a lost database is 503."""
        try:
            with self.writer_lock, self.engine.connect() as conn:
                conn = conn.execution_options(sqlite_immediate=True)
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            raise Unavailable(
                "database_unavailable", "the database is unavailable; retry later"
            ) from exc


def require_institution(conn: Connection, institution_id: str) -> None:
    """Refuse (404) to attach anything to an institution that does not exist."""
    known = conn.execute(
        sa.select(schema.institutions.c.id).where(schema.institutions.c.id == institution_id)
    ).first()
    if known is None:
        raise NotFound("unknown_institution", f"no institution {institution_id!r}")


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The primary key of the one row an INSERT just wrote."""
    key = result.inserted_primary_key
    if key is None:  # not an INSERT of one row: a programming error, not bad input
        raise TypeError("the statement inserted no single row")
    return int(key[0])


def claim_due(
    db: Database,
    table: sa.Table,
    now: float,
    lease: float,
    limit: int,
    read: Callable[[Connection, int], dict[str, Any]],
) -> list[dict[str, Any]]:
    """The queue rows of ``table`` due now (``status`` pending, ``next_attempt_at`` passed),
    each claimed for ``lease`` seconds by a conditional UPDATE, so several server processes
    never send the same one twice at once; ``read`` loads a claimed row (its joins)."""
    with db.engine.connect() as conn:
        due = list(
            conn.execute(
                sa.select(table.c.id)
                .where(table.c.status == "pending", table.c.next_attempt_at <= now)
                .order_by(table.c.next_attempt_at, table.c.id)
                .limit(limit)
            ).scalars()
        )
    claimed = []
    for row_id in due:
        with db.engine.begin() as conn:
            won = conn.execute(
                table.update()
                .where(
                    table.c.id == row_id,
                    table.c.status == "pending",
                    table.c.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + lease)
            ).rowcount
            if won:
                claimed.append(read(conn, row_id))
    return claimed
