"""The group writer (SQLite and PostgreSQL): many batches in one transaction, each answered only
after the commit. A refused batch fails alone; a group that fails is applied again batch by
batch; a commit that keeps failing stores nothing."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest
from sqlalchemy.exc import OperationalError

from openproctor.server import create_app
from openproctor.server.errors import OpenproctorError
from openproctor.server.storage import Storage
from openproctor.server.web.http import status_of
from openproctor.server.writer import GroupWriter


def held_group(writer: GroupWriter):
    """Occupy the writer inside a group until released, so what is queued meanwhile forms the
    next group, deterministically."""
    entered, release = threading.Event(), threading.Event()

    class Block:
        session_id = ""

        def apply(self, group=None):
            entered.set()
            release.wait(10)
            return "held"

    return Block(), entered, release


def run_group(writer, app, batches):
    """Queue ``batches`` (callables) while the writer is held, then let them run as one group."""
    block, entered, release = held_group(writer)
    ingest = app.state.openproctor.ingest

    async def main():
        first = asyncio.ensure_future(writer.run(block))
        await asyncio.get_running_loop().run_in_executor(None, entered.wait, 10)
        rest = [
            asyncio.ensure_future(writer.run(ingest.batch(sid, events))) for sid, events in batches
        ]
        await asyncio.sleep(0.05)  # all queued behind the held group
        release.set()
        results = await asyncio.gather(first, *rest, return_exceptions=True)
        return results[1:]

    return asyncio.run(main())


def test_one_forged_batch_fails_alone_in_its_group(app, student, store):
    writer = GroupWriter(store)
    try:
        good = [student(f"g-{n}", user_id=f"u{n}") for n in range(5)]
        bad = student("forger", user_id="u-bad")
        forged = bad.opening().to_dict()
        forged["data"]["screens"] = 3  # altered after signing
        batches = [(s.session_id, [s.opening().to_dict()]) for s in good]
        batches.insert(2, (bad.session_id, [forged]))
        results = run_group(writer, app, batches)
    finally:
        writer.close()
    assert isinstance(results[2], OpenproctorError) and results[2].code == "bad_mac"
    assert all(r["acknowledged_seq"] == 0 for i, r in enumerate(results) if i != 2)
    for s in good:
        assert len(store.sessions.events(s.session_id)) == 1
    assert store.sessions.events(bad.session_id) == []
    row = store.sessions.get(bad.session_id)
    assert row.status == "integrity_failed" and row.integrity_reason.startswith("bad_mac")


def test_a_failed_commit_fails_the_whole_group_and_stores_nothing(app, student, store, monkeypatch):
    writer = GroupWriter(store)
    real = store.sessions.write_group

    @contextlib.contextmanager
    def failing_commit(session_ids):
        with contextlib.suppress(_Abort), real(session_ids) as group:
            yield group
            raise _Abort  # roll the transaction back, as a failed commit leaves it
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    try:
        students = [student(f"c-{n}", user_id=f"u{n}") for n in range(3)]
        monkeypatch.setattr(store.sessions, "write_group", failing_commit)
        results = run_group(
            writer, app, [(s.session_id, [s.opening().to_dict()]) for s in students]
        )
    finally:
        writer.close()
    assert all(isinstance(r, OpenproctorError) and status_of(r) == 503 for r in results)
    assert all(store.sessions.events(s.session_id) == [] for s in students)


class _Abort(Exception):
    pass


def test_a_batch_failing_once_it_wrote_is_undone_and_fails_alone(app, student, store):
    """No savepoint per batch: the group is rolled back and applied again batch by batch, so
    the others are stored, and of the failing one nothing (its events, its chain state)."""
    writer = GroupWriter(store)
    ingest = app.state.openproctor.ingest
    students = [student(f"w-{n}", user_id=f"u{n}") for n in range(4)]
    doomed = students[2].session_id

    class Failing:
        def session_changed(self, conn, row, fields):
            if row.id == doomed:
                raise RuntimeError("a watcher failed after the events were inserted")

    ingest.watchers = (*ingest.watchers, Failing())
    try:
        results = run_group(
            writer, app, [(s.session_id, [s.opening().to_dict()]) for s in students]
        )
    finally:
        writer.close()
    assert isinstance(results[2], OpenproctorError) and status_of(results[2]) == 503
    assert [r["acknowledged_seq"] for i, r in enumerate(results) if i != 2] == [0, 0, 0]
    assert [len(store.sessions.events(s.session_id)) for s in students] == [1, 1, 0, 1]
    assert store.sessions.get(doomed).next_seq == 0


def test_groups_of_two_processes_lock_sessions_in_one_order(
    app, settings, student, store, database_url, caplog
):
    """Two writers on one database (two server processes), each given the same sessions in
    opposite orders, at once, round after round: no group waits on the other in a cycle
    (PostgreSQL would abort one as a deadlock, and its batches would be applied again one by
    one), and every batch is stored once."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writing process (the server runs one on SQLite)")
    other_store = Storage(database_url)
    other = create_app(settings, store=other_store, migrate=False, purge_every=None)
    writers = GroupWriter(store), GroupWriter(other_store)
    students = [student(f"d-{n}", user_id=f"u{n}") for n in range(8)]
    services = app.state.openproctor.ingest, other.state.openproctor.ingest

    async def round_of(batches):
        blocks = [held_group(writer) for writer in writers]
        held = [
            asyncio.ensure_future(writer.run(block))
            for writer, (block, _, _) in zip(writers, blocks, strict=True)
        ]
        for _, entered, _ in blocks:
            await asyncio.get_running_loop().run_in_executor(None, entered.wait, 10)
        queued = [
            asyncio.ensure_future(writers[0].run(services[0].batch(sid, events)))
            for sid, events in batches[0::2]
        ] + [
            asyncio.ensure_future(writers[1].run(services[1].batch(sid, events)))
            for sid, events in reversed(batches[1::2])
        ]
        await asyncio.sleep(0.05)
        for _, _, release in blocks:
            release.set()
        await asyncio.gather(*held)
        return await asyncio.gather(*queued, return_exceptions=True)

    try:
        for _ in range(5):
            # Each session twice: its next batch and a resend of it, one for each writer.
            batches = []
            for s in students:
                batch = [s.opening().to_dict()] if s.signer.state.next_seq == 0 else []
                batch += [e.to_dict() for e in s.heartbeats(3)]
                batches += [(s.session_id, batch), (s.session_id, batch)]
            results = asyncio.run(round_of(batches))
            assert not [r for r in results if isinstance(r, BaseException)], results
    finally:
        for writer in writers:
            writer.close()
        other_store.close()
    assert all(len(store.sessions.events(s.session_id)) == 16 for s in students)
    assert not [r for r in caplog.records if "one by one" in r.getMessage()]


def test_the_server_answers_each_batch_after_the_group_commits(client, student, store):
    """Through HTTP: many sessions at once, every acknowledged event stored exactly once."""
    import concurrent.futures

    students = [student(f"h-{n}", user_id=f"u{n}") for n in range(12)]

    def upload(s):
        batch = [s.opening(), *s.heartbeats(20)]
        first = s.post(batch)
        again = s.post(batch)  # a resend in another group: acknowledged, not duplicated
        return first.json()["acknowledged_seq"], again.json()["resent"]

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(upload, students))
    assert answers == [(20, 21)] * 12
    assert all(len(store.sessions.events(s.session_id)) == 21 for s in students)


def test_the_writer_survives_a_failure_outside_any_batch(app, student, store, monkeypatch):
    """Something unexpected around the group (not in a batch) fails that group with 503; the
    writer thread lives on and the next batch is stored."""
    writer = GroupWriter(store)
    ingest = app.state.openproctor.ingest
    s = student("survivor", user_id="u-s")
    real_apply = writer._apply
    calls = []

    def flaky(group):
        calls.append(len(group))
        if len(calls) == 1:
            raise RuntimeError("unexpected")
        return real_apply(group)

    monkeypatch.setattr(writer, "_apply", flaky)

    opening = [s.opening().to_dict()]

    async def main():
        first = await asyncio.gather(
            writer.run(ingest.batch(s.session_id, opening)), return_exceptions=True
        )
        second = await writer.run(ingest.batch(s.session_id, opening))
        return first[0], second

    try:
        failed, stored = asyncio.run(main())
    finally:
        writer.close()
    assert isinstance(failed, OpenproctorError) and status_of(failed) == 503
    assert stored["acknowledged_seq"] == 0 and len(store.sessions.events(s.session_id)) == 1
