"""The gate for LMS quizzes without proctoring messages: an exam's access code, set on the
dashboard by who may change the exam's policy, kept encrypted, and released to a session's
browser only while its proctoring runs (started, active, before the deadline)."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from openproctor.core import parse_policy
from openproctor.server.storage import schema

from .conftest import csrf_of, sign_in

CODE = "tulip-42-orchard"


@pytest.fixture
def gated(store, app, integration):
    """CS101-final (the exam of the test sessions) has a policy and an access code."""
    store.policies.save("uni-a", parse_policy({"exam_id": "CS101-final"}), "test")
    app.state.openproctor.access_codes.set("uni-a", "CS101-final", CODE, "test")


def release(s):
    return s.client.post(f"/api/v1/sessions/{s.session_id}/access-code", headers=s.auth)


def test_the_code_is_released_only_while_the_session_runs(gated, student):
    s = student("gate-1")
    assert s.grant["gate"] is True
    before = release(s)
    assert before.status_code == 409 and before.json()["error"]["code"] == "session_not_started"
    assert s.post([s.opening()]).status_code == 200
    running = release(s)
    assert running.status_code == 200 and running.json() == {"access_code": CODE}
    assert running.headers["cache-control"] == "no-store"
    assert s.post([*s.heartbeats(1), s.end()]).status_code == 200
    after = release(s)
    assert after.status_code == 409 and after.json()["error"]["code"] == "session_not_active"


def test_not_after_the_deadline_nor_for_another_session(gated, student, store):
    s, other = student("gate-2"), student("gate-3", "student-2")
    assert s.post([s.opening()]).status_code == 200
    foreign = s.client.post(f"/api/v1/sessions/{other.session_id}/access-code", headers=s.auth)
    assert foreign.status_code == 403
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(schema.sessions)
            .where(schema.sessions.c.id == s.session_id)
            .values(deadline=time.time() - 1)
        )
    late = release(s)
    assert late.status_code == 409 and "time is over" in late.json()["error"]["message"]


def test_an_exam_without_a_code_has_no_gate(student):
    s = student("gate-4")
    assert s.grant["gate"] is False
    assert s.post([s.opening()]).status_code == 200
    none = release(s)
    assert none.status_code == 404 and none.json()["error"]["code"] == "no_access_code"


def test_the_code_is_encrypted_at_rest_and_never_in_the_log(gated, student, store):
    s = student("gate-5")
    assert s.post([s.opening()]).status_code == 200
    assert release(s).status_code == 200
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(schema.exams.c.access_code_enc)).scalar()
        audit = [dict(r) for r in conn.execute(sa.select(schema.audit_log)).mappings()]
    assert stored and CODE.encode() not in stored
    assert CODE not in str(store.sessions.events(s.session_id)) and CODE not in str(audit)


def test_the_dashboard_sets_and_removes_it_for_who_may_change_the_policy(web, accounts, store, app):
    store.policies.save("uni-a", parse_policy({"exam_id": "ALG-final"}), "test")
    sign_in(web, "alice")  # a reviewer: reads the policy, may not change it
    page = web.get("/dashboard/policies/ALG-final")
    assert page.status_code == 200 and 'id="access-code"' not in page.text
    refused = web.post(
        "/dashboard/policies/ALG-final/access-code",
        data={"csrf": csrf_of(page.text), "access_code": "x"},
    )
    assert refused.status_code == 403
    web.cookies.clear()
    sign_in(web, "ada")
    page = web.get("/dashboard/policies/ALG-final")
    assert "No access code is set." in page.text
    bad = web.post(
        "/dashboard/policies/ALG-final/access-code",
        data={"csrf": csrf_of(page.text), "access_code": "a" * 101},
    )
    assert bad.status_code == 400 and 'id="access-code-error"' in bad.text
    saved = web.post(
        "/dashboard/policies/ALG-final/access-code",
        data={"csrf": csrf_of(page.text), "access_code": CODE},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = web.get(saved.headers["location"])
    assert "An access code is set." in page.text and CODE not in page.text
    assert app.state.openproctor.access_codes.gated("uni-a", "ALG-final")
    cleared = web.post(
        "/dashboard/policies/ALG-final/access-code",
        data={"csrf": csrf_of(page.text), "access_code": ""},
        follow_redirects=False,
    )
    assert cleared.status_code == 303
    assert not app.state.openproctor.access_codes.gated("uni-a", "ALG-final")
    actions = [e["action"] for e in store.audit.entries("uni-a")]
    assert "exam.access_code_set" in actions and "exam.access_code_cleared" in actions
