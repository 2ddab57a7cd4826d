"""The audit log (issue 18 §5): reviewer and admin actions appended with who, when, what and
before/after, hash-chained so that an edited, inserted or deleted entry is found; admins browse
and export it; `openproctor audit verify` checks the chain. SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from openproctor.server.cli import main
from openproctor.server.storage import schema
from openproctor.server.storage.audit import verify_entries

from .conftest import csrf_of, sign_in


def keys(app):
    return app.state.openproctor.keyring.audit_keys()


def verify(store, app):
    return store.audit.verify(keys(app))


def test_actions_are_recorded_and_the_chain_verifies(web, accounts, store, app, student):
    s = student("audit-1")
    assert s.post([s.opening(), *s.heartbeats(1), s.end()]).status_code == 200
    sign_in(web, "ada")
    page = web.get(f"/dashboard/sessions/{s.session_id}")
    web.post(
        f"/dashboard/sessions/{s.session_id}/decisions",
        data={"csrf": csrf_of(page.text), "outcome": "cleared", "comment": "fine"},
    )
    web.get("/dashboard/reports.csv")
    web.get("/dashboard/fairness.csv")
    hooks = web.get("/dashboard/webhooks")
    web.post(
        "/dashboard/webhooks",
        data={"csrf": csrf_of(hooks.text), "url": "https://hooks.uni-a.edu/x", "exam": ""},
    )
    web.post("/dashboard/logout", data={"csrf": csrf_of(hooks.text)})
    actions = [e["action"] for e in reversed(store.audit.entries("uni-a"))]
    for expected in (
        "reviewer.signed_in",
        "review.decided",
        "report.exported",
        "fairness.exported",
        "webhook.added",
        "reviewer.signed_out",
    ):
        assert expected in actions, (expected, actions)
    decided = next(e for e in store.audit.entries("uni-a") if e["action"] == "review.decided")
    assert decided["detail"] == {"outcome": "cleared", "previous_outcome": None}
    assert decided["actor"] == "ada (admin)" and decided["target"] == f"session:{s.session_id}"
    report = verify(store, app)
    assert report.ok and report.checked == len(store.audit.entries(limit=1000))


def _entries(store):
    a = schema.audit_log
    return a, [e["id"] for e in reversed(store.audit.entries(limit=1000))]


def _some_entries(store, n: int = 4) -> None:
    for i in range(n):
        store.audit.record("uni-a", "tester", "test.action", f"thing:{i}", {"n": i})


def test_an_edited_entry_is_found(store, app):
    _some_entries(store)
    a, ids = _entries(store)
    with store.engine.begin() as conn:
        conn.execute(a.update().where(a.c.id == ids[1]).values(detail='{"n": 99}'))
    report = verify(store, app)
    assert not report.ok and f"entry {ids[1]} was changed" in report.problem
    assert report.checked == 1


def test_a_deleted_entry_is_found(store, app):
    _some_entries(store)
    a, ids = _entries(store)
    with store.engine.begin() as conn:
        conn.execute(a.delete().where(a.c.id == ids[1]))
    report = verify(store, app)
    assert not report.ok and f"entry {ids[2]} does not follow" in report.problem


def test_an_entry_inserted_without_the_key_is_found(store, app):
    _some_entries(store, 2)
    a, _ = _entries(store)
    row = {"institution_id": "uni-a", "at": 1.0, "actor": "x", "action": "y", "target": "z"}
    with store.engine.begin() as conn:
        conn.execute(a.insert().values(**row, detail="{}", prev=None, mac=None))
    assert "carries no MAC" in verify(store, app).problem
    with store.engine.begin() as conn:
        conn.execute(a.delete().where(a.c.mac.is_(None)))
        last = conn.execute(sa.select(a.c.mac).order_by(a.c.id.desc()).limit(1)).scalar()
        conn.execute(a.insert().values(**row, detail="{}", prev=last, mac="0" * 64))
    assert "was changed" in verify(store, app).problem


def test_entries_from_before_the_chain_are_a_prefix(store, app):
    a = schema.audit_log
    row = {"institution_id": "uni-a", "at": 1.0, "actor": "old", "action": "old", "target": "t"}
    with store.engine.begin() as conn:
        conn.execute(sa.delete(a))
        conn.execute(a.insert().values(**row, detail="{}"))
    _some_entries(store, 2)
    report = verify(store, app)
    assert report.ok and (report.unchained, report.checked) == (1, 2)


def test_concurrent_appends_never_fork_the_chain(store, app):
    def append(worker: int) -> None:
        for i in range(20):
            store.audit.record("uni-a", f"worker-{worker}", "test.concurrent", f"n:{i}")

    threads = [threading.Thread(target=append, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = verify(store, app)
    assert report.ok, report.problem
    assert report.checked >= 60


def test_a_new_master_key_keeps_the_old_entries_verifiable(store, app):
    _some_entries(store, 2)
    old = keys(app)
    a = schema.audit_log
    with store.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(a).order_by(a.c.id)).mappings()]
    assert verify_entries(iter(rows), [b"\x00" * 32, *old]).ok  # newest key first, old still read
    assert not verify_entries(iter(rows), [b"\x00" * 32]).ok


def test_admins_browse_and_export_it_and_reviewers_do_not(web, accounts, store):
    _some_entries(store, 3)
    sign_in(web, "alice")
    assert web.get("/dashboard/audit").status_code == 403
    web.cookies.clear()
    sign_in(web, "ada")
    page = web.get("/dashboard/audit?action=test.action")
    assert page.status_code == 200 and page.text.count('data-action="test.action"') == 3
    exported = web.get("/dashboard/audit.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.count("test.action") == 3 and "mac" in exported.text.splitlines()[0]
    assert store.audit.entries("uni-a")[0]["action"] == "audit.exported"
    sign_in(web, "bob")  # another institution sees none of it
    assert "test.action" not in web.get("/dashboard/audit").text


def test_the_cli_verifies_and_exports(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENPROCTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("OPENPROCTOR_SECRET_FILE", str(tmp_path / "secret.key"))
    monkeypatch.delenv("OPENPROCTOR_SECRET_KEYS", raising=False)
    assert main(["integration", "add", "lms", "--institution", "uni-c"]) == 0
    assert main(["integration", "rotate-secret", "lms"]) == 0
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "VERIFIED: " in out and "head: entry " in out
    assert main(["audit", "export", "--institution", "uni-c"]) == 0
    assert "integration.secret_rotated" in capsys.readouterr().out
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(sa.update(schema.audit_log).values(actor="someone else"))
    engine.dispose()
    assert main(["audit", "verify"]) == 1
    assert "BROKEN after 0 verified entries" in capsys.readouterr().out
