"""How verified batches reach the database: a group commit, on SQLite and PostgreSQL alike.

One writer thread per server process takes every batch waiting in its queue and applies them in
one transaction, then wakes the event loop once for the whole group. Nothing is acknowledged
before the group's commit. This saves the per-batch thread hand-off and commit,
which cost more than verifying the batch itself (docs/PERFORMANCE.md).

On PostgreSQL several processes write at once, each group holding its sessions' row locks until
it commits: a group takes them all in its first statement, in session-id order, so two groups
never wait on each other in a cycle. Its writes are sent together at the commit (WriteGroup).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from typing import Any, Protocol, TypeVar

from .errors import OpenproctorError, Unavailable
from .storage import Storage
from .storage.sessions import WriteGroup

log = logging.getLogger("openproctor.server.writer")

#: The most batches one group transaction applies.
MAX_GROUP = 64

T = TypeVar("T", covariant=True)


class Work(Protocol[T]):
    """A unit of writing: ``apply`` does all of it in ``group`` (the writer's open transaction)
    or, given None, in a transaction of its own. ``session_id`` is the session whose row it
    locks (the group locks them all at once, in id order)."""

    @property
    def session_id(self) -> str: ...

    def apply(self, group: WriteGroup | None) -> T: ...


class GroupWriter:
    """One writer thread applying queued batches in group transactions.

    Each :class:`Work` is applied in the group (``work.apply(group)``). A
    batch's refusal fails that batch only. A group that fails (its commit, or a batch failing
    once it wrote) is applied again batch by batch; a batch that fails alone too is answered
    503, nothing of it stored.
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
        """The group in one transaction; if that fails (a commit, a database error, a batch
        failing once it wrote), each batch again in a transaction of its own, so that one bad
        batch fails alone and every other is stored."""
        try:
            return self._transaction(group)
        except Exception:
            log.warning("a group of %d batches failed; applying them one by one", len(group))
        outcomes: list[tuple[Any, Any, BaseException | None]] = []
        for item in group:
            try:
                outcomes += self._transaction([item])
            except Exception as exc:
                if not isinstance(exc, OpenproctorError):
                    log.exception("a batch failed to store")
                    exc = Unavailable(
                        "database_unavailable", "the database is unavailable; retry later"
                    )
                outcomes.append((item[1], item[2], exc))
        return outcomes

    def _transaction(self, items: list[Any]) -> list[tuple[Any, Any, BaseException | None]]:
        """One transaction for ``items``, committed whole or not at all. A batch refused
        before it wrote (an :class:`OpenproctorError`) is that batch's answer; any other
        failure leaves the transaction in doubt and aborts it."""
        outcomes: list[tuple[Any, Any, BaseException | None]] = []
        with self.store.sessions.write_group([work.session_id for work, _, _ in items]) as group:
            for work, loop, future in items:
                try:
                    outcomes.append((loop, future, work.apply(group)))
                except OpenproctorError as exc:
                    outcomes.append((loop, future, exc))
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
