"""A person's data on request (issue 18 §7): one LMS user of one institution exported as JSON
and erased (personal fields and event logs deleted, anonymous aggregates kept, the erasure
audited), through the integration API, the CLI and the admin page. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from openproctor.server.cli import main
from openproctor.server.people import person_digest

from .conftest import SECRET, csrf_of, sign_in


def credential(name: str = "lms1", secret: str = SECRET) -> dict[str, str]:
    now = int(time.time())
    token = jwt.encode({"iss": name, "iat": now, "exp": now + 60}, secret, "HS256")
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def people(student, web, accounts, client):
    """student-1 took two exams (one flagged, decided and explained); student-2 one."""
    first = student("p-1", "student-1")
    events = [first.opening(), first.sign("tab_switch", {"duration_ms": 90_000, "count": 1})]
    assert first.post([*events, *first.heartbeats(1), first.end()]).status_code == 200
    url = first.grant["record_url"].replace("?", "/explanations?", 1)
    assert client.post(url, data={"seq": "1", "text": "my cat"}).status_code == 200
    second = student("p-2", "student-1")
    assert second.post([second.opening(), *second.heartbeats(1)]).status_code == 200
    other = student("p-3", "student-2")
    assert other.post([other.opening(), other.end()]).status_code == 200
    sign_in(web, "ada")
    page = web.get(f"/dashboard/sessions/{first.session_id}")
    web.post(
        f"/dashboard/sessions/{first.session_id}/decisions",
        data={"csrf": csrf_of(page.text), "outcome": "cleared", "comment": "student-1 was fine"},
    )
    return first, second, other


def test_the_integration_api_exports_everything_about_one_person(people, client, store):
    first, second, other = people
    answer = client.get("/api/v1/users/student-1", headers=credential())
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    found = answer.json()
    assert [s["id"] for s in found["sessions"]] == [first.session_id, second.session_id]
    one = found["sessions"][0]
    assert one["user"]["userId"] == "student-1" and len(one["events"]) == 4
    assert one["events"][1]["data"] == {"duration_ms": 90_000, "count": 1}
    assert one["decisions"][0]["comment"] == "student-1 was fine"
    assert one["explanations"][0]["text"] == "my cat"
    assert any(e["action"] == "review.decided" for e in found["audit_entries"])
    assert other.session_id not in json.dumps(found)
    exported = store.audit.entries("uni-a")[0]
    assert exported["action"] == "person.exported" and "student-1" not in json.dumps(exported)


def test_erasure_keeps_the_anonymous_summary_and_the_audit_chain(people, client, store, app):
    first, _, other = people
    before = store.sessions.get(first.session_id)
    answer = client.delete("/api/v1/users/student-1", headers=credential())
    assert answer.status_code == 200
    assert answer.json()["erased"] == {"sessions": 2, "events": 6, "explanations": 1}
    row = store.sessions.get(first.session_id)
    assert row.user_id.startswith("erased:") and row.user == {} and row.purged_at is not None
    assert (row.score, row.flagged, row.exam_id) == (before.score, before.flagged, before.exam_id)
    assert store.sessions.events(first.session_id) == []
    assert store.explanations.of_session(first.session_id) == {}
    (decision,) = store.reviewers.decisions(first.session_id)
    assert (decision["outcome"], decision["comment"]) == ("cleared", "")
    assert store.sessions.events(other.session_id) != []  # another person's data is untouched
    again = client.get("/api/v1/users/student-1", headers=credential()).json()
    assert again["sessions"] == []
    erased = next(e for e in store.audit.entries("uni-a") if e["action"] == "person.erased")
    assert erased["target"] == f"person:{person_digest('uni-a', 'student-1')}"
    assert "student-1" not in json.dumps(erased)
    assert store.audit.verify(app.state.openproctor.keyring.audit_keys()).ok
    assert len(store.sessions.for_report("uni-a")) == 3  # the reports still count them


def test_another_institution_finds_and_erases_nothing(people, client, store):
    answer = client.get("/api/v1/users/student-1", headers=credential("lms-b"))
    assert answer.status_code == 200 and answer.json()["sessions"] == []
    gone = client.delete("/api/v1/users/student-1", headers=credential("lms-b"))
    assert gone.json()["erased"]["sessions"] == 0
    assert store.sessions.get(people[0].session_id).user_id == "student-1"


def test_bad_credentials_and_user_ids_are_refused(people, client):
    assert client.get("/api/v1/users/student-1").status_code == 401
    wrong = credential(secret="not-the-secret-" + "x" * 32)
    assert client.get("/api/v1/users/student-1", headers=wrong).status_code == 401
    control = client.get("/api/v1/users/%01bell", headers=credential())
    assert control.status_code == 400 and "control character" in control.text
    long = client.get("/api/v1/users/" + "x" * 300, headers=credential())
    assert long.status_code == 400 and "userId" in long.text


def test_the_admin_page_finds_exports_and_erases_with_a_confirmation(people, web, store):
    first = people[0]
    page = web.get("/dashboard/people?user=student-1")
    assert page.status_code == 200 and first.session_id in page.text
    download = web.get("/dashboard/people/export?user=student-1")
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.json()["sessions"][0]["id"] == first.session_id
    wrong = web.post(
        "/dashboard/people/erase",
        data={"csrf": csrf_of(page.text), "user": "student-1", "confirm": "student-2"},
    )
    assert wrong.status_code == 400 and "Type the LMS user id again" in wrong.text
    assert store.sessions.get(first.session_id).user_id == "student-1"
    done = web.post(
        "/dashboard/people/erase",
        data={"csrf": csrf_of(page.text), "user": "student-1", "confirm": "student-1"},
    )
    assert done.status_code == 200 and "Erased: 2 session(s)" in done.text
    web.cookies.clear()
    sign_in(web, "alice")  # a reviewer, not an administrator
    assert web.get("/dashboard/people?user=student-2").status_code == 403


def test_the_cli_exports_and_erases(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENPROCTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("OPENPROCTOR_SECRET_FILE", str(tmp_path / "secret.key"))
    monkeypatch.delenv("OPENPROCTOR_SECRET_KEYS", raising=False)
    assert main(["person", "export", "--institution", "uni-c", "--user", "u1"]) == 0
    assert json.loads(capsys.readouterr().out)["sessions"] == []
    assert main(["person", "erase", "--institution", "uni-c", "--user", "u1"]) == 2
    assert "--yes" in capsys.readouterr().out
    assert main(["person", "erase", "--institution", "uni-c", "--user", "u1", "--yes"]) == 0
    assert "erased 0 session(s)" in capsys.readouterr().out
