"""The dashboard's access rules: local accounts, throttled sign-in, CSRF on every form,
institution isolation (tested by guessing ids), and decisions kept as history."""

from __future__ import annotations

import io

import pytest

from openproctor.server.cli import main
from openproctor.server.reviewers import PAIR_LIMIT, check_password

from .conftest import PASSWORD, StudentClient, csrf_of, sign_in, start_jwt


@pytest.fixture
def flagged_session(client, integration) -> str:
    response = client.post(
        "/api/v1/sessions", json={"integrationName": "lms1", "jwt": start_jwt("dash-1")}
    )
    student = StudentClient(client, response.json())
    events = [student.opening()]
    events += [student.sign("tab_switch", {"duration_ms": 60_000, "count": 1}) for _ in range(6)]
    assert student.post(events).status_code == 200
    return student.session_id


def test_passwords_are_hashed_with_scrypt(store, accounts):
    with store.engine.connect() as conn:
        stored = conn.exec_driver_sql(
            "SELECT password_hash FROM reviewers WHERE username = 'alice'"
        ).scalar_one()
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    assert check_password(PASSWORD, stored) and not check_password("wrong", stored)


def test_signed_out_visitors_are_sent_to_the_login(web):
    response = web.get("/dashboard", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/login"


def test_sign_in_sets_a_secure_cookie_and_shows_the_queue(web, accounts, flagged_session):
    response = sign_in(web, "alice")
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie
    queue = web.get("/dashboard")
    assert queue.status_code == 200 and flagged_session in queue.text
    assert "flagged" in web.get("/dashboard?flagged=1").text


def test_wrong_passwords_are_throttled(web, accounts):
    for _ in range(PAIR_LIMIT):
        assert sign_in(web, "alice", "not the password").status_code == 401
    locked = sign_in(web, "alice")  # even the right password, while locked
    assert locked.status_code == 429 and "retry-after" in locked.headers
    assert "too many failed sign-ins" in locked.text


def test_login_needs_its_csrf_token(web, accounts):
    web.get("/dashboard/login")
    response = web.post(
        "/dashboard/login",
        data={"csrf": "forged", "username": "alice", "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_another_institution_sees_nothing_by_any_url(web, accounts, flagged_session):
    assert sign_in(web, "bob").status_code == 303
    assert flagged_session not in web.get("/dashboard").text
    assert flagged_session not in web.get("/dashboard?exam=CS101-final").text
    page = web.get(f"/dashboard/sessions/{flagged_session}")
    assert page.status_code == 404 and "tab_switch" not in page.text
    csrf = csrf_of(web.get("/dashboard").text)
    decision = web.post(
        f"/dashboard/sessions/{flagged_session}/decisions",
        data={"csrf": csrf, "outcome": "cleared", "comment": "x"},
    )
    assert decision.status_code == 404
    assert accounts.decisions(flagged_session) == []
    for guess in ("ops_", "ops_aaaaaaaaaaaaaaaaaaaaaaaa", "%2e%2e", flagged_session.upper()):
        assert web.get(f"/dashboard/sessions/{guess}").status_code == 404


def test_decisions_are_kept_as_history(web, accounts, flagged_session):
    sign_in(web, "alice")
    page = web.get(f"/dashboard/sessions/{flagged_session}")
    assert page.status_code == 200 and "No decision yet" in page.text
    csrf = csrf_of(page.text)
    url = f"/dashboard/sessions/{flagged_session}/decisions"
    forged = web.post(url, data={"csrf": "x", "outcome": "cleared"})
    assert forged.status_code == 403
    bad = web.post(url, data={"csrf": csrf, "outcome": "guilty"})
    assert bad.status_code == 400 and "choose cleared" in bad.text
    web.post(url, data={"csrf": csrf, "outcome": "needs_discussion", "comment": "ask"})
    web.post(url, data={"csrf": csrf, "outcome": "violation_confirmed", "comment": "6 tabs"})
    history = accounts.decisions(flagged_session)
    assert [d["outcome"] for d in history] == ["violation_confirmed", "needs_discussion"]
    assert history[0]["reviewer"] == "alice (reviewer)"
    page = web.get(f"/dashboard/sessions/{flagged_session}")
    assert "Current: <strong>violation confirmed</strong>" in page.text
    assert "“ask”" in page.text  # the earlier decision stays visible


def test_sign_out_needs_csrf_and_ends_the_session(web, accounts):
    sign_in(web, "alice")
    assert web.post("/dashboard/logout", data={"csrf": "x"}).status_code == 403
    csrf = csrf_of(web.get("/dashboard").text)
    web.post("/dashboard/logout", data={"csrf": csrf})
    assert web.get("/dashboard", follow_redirects=False).status_code == 303


def test_reviewer_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENPROCTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'r.sqlite3'}")
    monkeypatch.setenv("OPENPROCTOR_SECRET_FILE", str(tmp_path / "secret.key"))
    monkeypatch.delenv("OPENPROCTOR_SECRET_KEYS", raising=False)
    assert main(["integration", "add", "lms", "--institution", "uni-a"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["reviewer", "add", "carol", "--institution", "uni-a", "--password-stdin"]) == 1
    assert "at least 12 characters" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["reviewer", "add", "carol", "--institution", "uni-x", "--password-stdin"]) == 1
    assert "no institution" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert (
        main(
            [
                "reviewer",
                "add",
                "carol",
                "--institution",
                "uni-a",
                "--role",
                "admin",
                "--password-stdin",
            ]
        )
        == 0
    )
    assert main(["reviewer", "list"]) == 0
    listing = capsys.readouterr().out
    assert "carol\tinstitution=uni-a\trole=admin" in listing and "scrypt" not in listing
    assert main(["reviewer", "remove", "carol"]) == 0
    assert main(["reviewer", "remove", "carol"]) == 1


def test_a_session_without_signed_events_says_why(web, accounts, student):
    quiet = student("dash-quiet")  # granted, but the browser's core never sent session_start
    sign_in(web, "alice")
    page = web.get(f"/dashboard/sessions/{quiet.session_id}")
    assert page.status_code == 200
    assert "No signed event has arrived from the student's browser" in page.text
    assert "on a slow link that takes a while" in page.text
    assert quiet.post([quiet.opening()]).status_code == 200
    assert (
        "No signed event has arrived" not in web.get(f"/dashboard/sessions/{quiet.session_id}").text
    )
