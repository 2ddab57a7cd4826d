"""How verified batches reach the database.

PostgreSQL (several server processes, a network database): each batch runs in the thread pool
in its own transaction, holding its session's row lock. SQLite (one process, one writer at a
time): a single writer thread takes every batch waiting in its queue and applies them in one
transaction, a savepoint each, then wakes the event loop once for the whole group. Nothing is
acknowledged before the group's commit. This group commit saves the per-batch thread hand-off
and commit, which cost more than verifying the batch itself (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from typing import Any, Protocol, TypeVar

import anyio.to_thread
from sqlalchemy.engine import Connection

from .errors import OpenproctorError, Unavailable
from .storage import Storage

log = logging.getLogger("openproctor.server.writer")

#: The most batches one group transaction applies.
MAX_GROUP = 64

T = TypeVar("T", covariant=True)


class Work(Protocol[T]):
    """A unit of writing: ``apply`` does all of it on ``group`` (the SQLite writer's open
    transaction, in which it takes a savepoint) or, given None, in a transaction of its own."""

    def apply(self, group: Connection | None) -> T: ...


class ThreadRunner:
    """One batch, one pooled thread, one transaction (PostgreSQL)."""

    async def run(self, work: Work[Any]) -> Any:
        return await anyio.to_thread.run_sync(work.apply, None)

    def close(self) -> None:
        pass


class GroupWriter:
    """One writer thread applying queued batches in group transactions (SQLite).

    Each :class:`Work` is applied on the group's connection (``work.apply(connection)``). An
    error raised by one batch's work fails that batch only; a failed commit fails the whole
    group with 503, nothing stored.
    """

    def __init__(self, store: Storage) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    async def run(self, work: Work[Any]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._ensure_started()
        self._queue.put((work, loop, future))
        return await future

    def close(self) -> None:
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="openproctor-sqlite-writer", daemon=True
                )
                self._thread.start()

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                group.append(item)
            try:
                self._deliver(self._apply(group))
            except Exception:  # never let the writer die: its queue would wait for ever
                log.exception("the writer failed a group of %d batches", len(group))
                error = Unavailable("writer_failed", "the server could not store the batch")
                self._deliver([(loop, future, error) for _, loop, future in group])

    def _apply(self, group: list[Any]) -> list[tuple[Any, Any, BaseException | None]]:
        outcomes: list[tuple[Any, Any, BaseException | None]] = []
        try:
            with self.store.sessions.write_group() as conn:
                for work, loop, future in group:
                    try:
                        outcomes.append((loop, future, work.apply(conn)))
                    except Exception as exc:  # this batch's answer; the others go on
                        outcomes.append((loop, future, exc))
        except Exception as exc:
            if not isinstance(exc, OpenproctorError):
                log.exception("a group of %d batches failed to commit", len(group))
                exc = Unavailable(
                    "database_unavailable", "the database is unavailable; retry later"
                )
            return [(loop, future, exc) for _, loop, future in group]
        return outcomes

    @staticmethod
    def _deliver(outcomes: list[tuple[Any, Any, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, Any]]] = {}
        for loop, future, result in outcomes:
            by_loop.setdefault(loop, []).append((future, result))
        for loop, settled in by_loop.items():
            # A loop that has closed took its requests with it.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, result in settled:
        if future.done():  # the client went away; the batch is stored all the same
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
