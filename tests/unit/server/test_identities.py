"""Blind review by default: the dashboard names the LMS's attempt and course, never the
student, until a reviewer whose role may reveals one session with a reason (recorded, audited,
shown on the page); the institution's setting (always, reveal, never) decides who may; nothing
of it reaches the student's record or the event log."""

from __future__ import annotations

import csv
import io

import pytest

from ...lti_platform import LaunchSpec
from .conftest import StudentClient, csrf_of, launch, learner, sign_in, start_jwt

TA = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
NAME = ("Ada", "Quill")


@pytest.fixture
def taken(client, integration, accounts) -> StudentClient:
    """A finished session of a student named Ada Quill, attempt "lms-attempt-77"."""
    grant = client.post(
        "/api/v1/sessions",
        json={
            "integrationName": "lms1",
            "jwt": start_jwt("lms-attempt-77", "student-77", first_name=NAME[0], last_name=NAME[1]),
        },
    ).json()
    s = StudentClient(client, grant)
    assert s.post([s.opening(), *s.heartbeats(1), s.end()]).status_code == 200
    return s


def reveal(web, session_id: str, reason: str):
    page = web.get(f"/dashboard/sessions/{session_id}")
    return web.post(
        f"/dashboard/sessions/{session_id}/reveal",
        data={"csrf": csrf_of(page.text), "reason": reason},
        follow_redirects=False,
    )


def set_visibility(web, value: str):
    page = web.get("/dashboard/settings")
    return web.post(
        "/dashboard/settings",
        data={"csrf": csrf_of(page.text), "visibility": value},
        follow_redirects=False,
    )


def test_review_is_blind_by_default_and_names_the_lms_record(web, taken):
    sign_in(web, "alice")
    queue = web.get("/dashboard").text
    page = web.get(f"/dashboard/sessions/{taken.session_id}").text
    for html in (queue, page):
        assert "lms-attempt-77" in html
        assert "Quill" not in html and "student-77" not in html
    assert 'id="reveal"' in page  # a reviewer may reveal


def test_a_reveal_needs_a_reason_is_recorded_and_shows_the_identity(web, taken, store):
    sign_in(web, "alice")
    empty = reveal(web, taken.session_id, "  ")
    assert empty.status_code == 400 and 'id="reveal-error"' in empty.text
    done = reveal(web, taken.session_id, "confirmed violation: the LMS needs the student")
    assert done.status_code == 303
    page = web.get(f"/dashboard/sessions/{taken.session_id}").text
    assert 'id="student-name">Ada Quill<' in page and 'id="student-user-id">student-77<' in page
    assert "alice (reviewer)" in page and "the LMS needs the student" in page
    (entry,) = [
        e for e in store.audit.entries("uni-a") if e["action"] == "session.identity_revealed"
    ]
    assert entry["target"] == taken.session_id and "the LMS needs" in str(entry["detail"])
    # Another reviewer sees that it was revealed, and why, but not who until they reveal too.
    web.cookies.clear()
    sign_in(web, "ada")
    other = web.get(f"/dashboard/sessions/{taken.session_id}").text
    assert "Quill" not in other and "the LMS needs the student" in other


def test_an_assistant_may_not_reveal(tool, platform, store, taken):
    # The session must be in the assistant's course to be visible at all: an LTI session.
    student = launch(tool, platform, learner())
    assert student.status_code == 303
    (row,) = [r for r in store.sessions.for_review("uni-a") if r.context_id == "course-42"]
    launch(tool, platform, LaunchSpec(user="ta-1", roles=[TA]))
    page = tool.get(f"/dashboard/sessions/{row.id}")
    assert page.status_code == 200 and 'id="identity-hidden"' in page.text
    assert "Algorithms 101" in page.text and "quiz-7" in page.text
    refused = tool.post(
        f"/dashboard/sessions/{row.id}/reveal",
        data={"csrf": csrf_of(page.text), "reason": "curious"},
    )
    assert refused.status_code == 403 and "learner-1" not in refused.text


def test_an_lti_session_names_its_link_and_course(tool, platform, store, accounts):
    assert launch(tool, platform, learner()).status_code == 303
    launch(
        tool,
        platform,
        LaunchSpec(
            user="teacher", roles=["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]
        ),
    )
    queue = tool.get("/dashboard").text
    assert "quiz-7" in queue and "Algorithms 101" in queue
    assert "learner-1" not in queue and "User learner-1" not in queue


def test_never_leaves_revealing_to_administrators(web, taken):
    sign_in(web, "ada")
    assert set_visibility(web, "never").status_code == 303
    web.cookies.clear()
    sign_in(web, "alice")
    page = web.get(f"/dashboard/sessions/{taken.session_id}").text
    assert 'id="reveal"' not in page and "only the institution's administrators" in page
    assert reveal(web, taken.session_id, "please").status_code == 403
    web.cookies.clear()
    sign_in(web, "ada")
    assert reveal(web, taken.session_id, "appeal filed by the student").status_code == 303
    assert "Ada Quill" in web.get(f"/dashboard/sessions/{taken.session_id}").text


def test_always_shows_every_reviewer_the_student_and_exports_it(web, taken, store):
    sign_in(web, "ada")
    assert set_visibility(web, "always").status_code == 303
    web.cookies.clear()
    sign_in(web, "alice")
    assert "Ada Quill" in web.get("/dashboard").text
    assert "Ada Quill" in web.get(f"/dashboard/sessions/{taken.session_id}").text
    lines = list(csv.reader(io.StringIO(web.get("/dashboard/reports.csv").text)))
    row = dict(zip(lines[0], lines[1], strict=True))
    assert (row["student_user_id"], row["student_name"]) == ("student-77", "Ada Quill")
    assert row["lms_attempt"] == "lms-attempt-77"


def test_only_administrators_change_the_setting(web, taken, store):
    sign_in(web, "alice")
    assert web.get("/dashboard/settings").status_code == 403
    web.cookies.clear()
    sign_in(web, "ada")
    bad = set_visibility(web, "sometimes")
    assert bad.status_code == 400 and "choose always, reveal or never" in bad.text
    assert set_visibility(web, "always").status_code == 303
    actions = [e["action"] for e in store.audit.entries("uni-a")]
    assert "institution.identity_visibility" in actions


def test_nothing_of_a_reveal_reaches_the_students_record_or_the_log(web, taken, client, store):
    sign_in(web, "alice")
    reveal(web, taken.session_id, "secret-reason-for-the-reveal")
    record = client.get(taken.grant["record_url"]).text
    assert "secret-reason-for-the-reveal" not in record and "alice" not in record
    assert "secret-reason" not in str(store.sessions.events(taken.session_id))
