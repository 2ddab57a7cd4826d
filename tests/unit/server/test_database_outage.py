"""The database goes away mid-exam: every request answers 503 with a clear error, nothing half
stored, and once it is back the client's resend is stored; nothing acknowledged is lost."""

from __future__ import annotations

import sqlalchemy as sa

from openproctor.core import verify_log

from .conftest import credential


def test_outage_answers_503_and_recovery_loses_nothing(student, store, monkeypatch):
    s = student()
    first = s.post([s.opening(), *s.heartbeats(3)])
    assert first.status_code == 200
    acknowledged = first.json()["acknowledged_seq"]

    working = store.engine
    unreachable = sa.create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1}
    )
    monkeypatch.setattr(store.db, "engine", unreachable)
    pending = s.heartbeats(2)
    during = s.post(pending)
    assert during.status_code == 503
    assert during.json()["error"]["code"] == "database_unavailable"
    assert s.client.get("/healthz").status_code == 503
    status = s.client.get(
        f"/api/v1/sessions/{s.session_id}", headers={"authorization": f"Bearer {credential()}"}
    )
    assert status.status_code == 503
    monkeypatch.setattr(store.db, "engine", working)
    unreachable.dispose()

    assert s.client.get("/healthz").status_code == 200
    after = s.post(pending)  # the client kept its queue and resends it
    assert after.status_code == 200 and after.json()["acknowledged_seq"] == acknowledged + 2
    log = store.sessions.events(s.session_id)
    assert [e["seq"] for e in log] == list(range(acknowledged + 3))
    verify_log(s.session_id, log, [bytes.fromhex(s.grant["signing_key"])], complete=False)
