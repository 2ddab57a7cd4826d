"""The notice before the exam (server/notice.py): built from the candidate's effective policy,
sent with the grant, bound to the signed consent event; what the student did through the panel
shown on their record page and to the reviewer (issue 17)."""

from __future__ import annotations

from openproctor.core import parse_policy
from openproctor.server.notice import build_notice, consent_matches, student_actions

from .conftest import sign_in

MINUTE = 60_000


def store_policy(store, **fields) -> None:
    store.policies.save("uni-a", parse_policy({"exam_id": "CS101-final", **fields}), "test")


def texts(notice) -> str:
    return " ".join(item for section in notice["sections"] for item in section["items"])


def test_the_grant_carries_a_notice_of_what_counts_for_this_candidate(student, store):
    store_policy(
        store,
        flags_enabled=["tab_switch", "copy_paste"],
        prevent=["copy", "print"],
        breaks={"count": 2, "max_minutes": 10},
        log_retention_days=45,
    )
    s = student("n-1")
    notice = s.grant["notice"]
    words = texts(notice)
    assert "when you leave this exam's tab" in words and "copied, cut or pasted" in words
    assert "developer tools" not in words  # not enabled: not claimed
    assert "what you type" in words  # never recorded
    assert (
        "Turned off in this exam (each attempt is still recorded): copying and cutting, printing"
        in words
    )
    assert "2 breaks of up to 10 minutes" in words and "kept for 45 days" in words
    row = store.sessions.get(s.session_id)
    assert notice == build_notice(row) and len(notice["hash"]) == 64


def test_the_notice_hash_changes_with_what_it_says(student, store):
    first = student("n-2").grant["notice"]["hash"]
    store_policy(store, log_retention_days=90)
    second = student("n-3").grant["notice"]["hash"]
    assert first != second


def test_the_consent_event_and_breaks_in_words_on_the_record_and_the_dashboard(
    student, store, client, web, accounts
):
    store_policy(store, breaks={"count": 1, "max_minutes": 5})
    s = student("n-4")
    notice = s.grant["notice"]["hash"]
    events = [s.opening(), s.sign("consent", {"notice": notice, "mode": "required"})]
    events += [s.sign("break_start", {}, dt=MINUTE)]
    events += [s.sign("tab_switch", {"duration_ms": 4 * MINUTE, "count": 1}, dt=4 * MINUTE)]
    events += [s.sign("break_end", {"duration_ms": 7 * MINUTE}, dt=3 * MINUTE)]
    events += [s.sign("break_start", {}, dt=MINUTE), s.sign("break_end", {"duration_ms": 1000})]
    events += [s.sign("consent", {"notice": "0" * 64, "mode": "required"})]
    assert s.post(events).status_code == 200
    row = store.sessions.get(s.session_id)
    stored = store.sessions.events(s.session_id)
    assert consent_matches(row, stored[1]) and not consent_matches(row, stored[-1])
    lines = student_actions(row, stored)
    assert lines[0] == "At 0:01 the student agreed to the notice this session was given."
    assert lines[1] == "Break 1 ended at 8:01 after 7 min: 2 min over the allowance, counted."
    assert "more breaks than the 1 allowed" in lines[2]
    assert "agreed to a notice other than this session's" in lines[3]
    record = client.get(s.grant["record_url"])
    assert "Your notice and breaks" in record.text and "2 min over the allowance" in record.text
    sign_in(web, "alice")
    page = web.get(f"/dashboard/sessions/{s.session_id}")
    assert page.status_code == 200
    assert "What the student did" in page.text and "the notice this session was given" in page.text
    # 4 min away inside a 7 min break allowed 5: within the allowance, so not counted
    tab = next(line for line in row.breakdown if line["flag"] == "tab_switch")
    assert tab["count"] == 0 and tab["excused_count"] == 1


def test_a_malformed_consent_event_is_refused_naming_the_field(student):
    s = student("n-5")
    opening = s.opening()
    bad = s.sign("consent", {"notice": "0" * 64, "mode": "required"}).to_dict()
    bad["data"]["notice"] = "not a digest"
    response = s.post([opening, bad])
    assert response.status_code == 400
    assert "data.notice" in response.text and "SHA-256" in response.text
