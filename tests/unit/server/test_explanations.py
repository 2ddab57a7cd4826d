"""The student's own explanations of flagged episodes (issue 17 §4): written on the record page
within the policy's window, length-limited, escaped, rate-limited, shown to the reviewer beside
the episode, in the evidence bundle under the attestation, deleted with the log."""

from __future__ import annotations

import json
import re
import time

import pytest

from openproctor.core import parse_policy
from openproctor.server.evidence import verify_bundle
from openproctor.server.explanations import MAX_PER_SESSION
from openproctor.server.storage import maintenance

from .conftest import sign_in


def with_flags(student, session_id: str = "x-1"):
    """A finished session with a tab switch (seq 1) and a copy (seq 2)."""
    s = student(session_id)
    events = [s.opening(), s.sign("tab_switch", {"duration_ms": 9000, "count": 1})]
    events += [s.sign("copy_paste", {"action": "copy", "count": 1}), *s.heartbeats(1)]
    events.append(s.end())
    assert s.post(events).status_code == 200
    return s


def post(client, s, seq, text):
    url = s.grant["record_url"].replace("?", "/explanations?", 1)
    return client.post(url, data={"seq": str(seq), "text": text})


def test_an_explanation_is_shown_to_the_student_and_the_reviewer(
    student, client, web, accounts, store
):
    s = with_flags(student)
    answer = post(client, s, 1, "Fire alarm <script>alert(1)</script>\nwe left the room")
    assert answer.status_code == 200 and "Your explanation of event 1 is saved" in answer.text
    assert "&lt;script&gt;" in answer.text and "<script>alert" not in answer.text  # escaped
    record = client.get(s.grant["record_url"])
    assert "Fire alarm" in record.text and "Change your explanation" in record.text
    sign_in(web, "alice")
    page = web.get(f"/dashboard/sessions/{s.session_id}")
    assert "The student explained 1 flagged episode" in page.text
    assert re.search(r'id="event-1".*Fire alarm &lt;script&gt;', page.text)
    # a newer one replaces what is shown; the old one is kept
    post(client, s, 1, "Fire alarm: the whole building left")
    assert (
        store.explanations.of_session(s.session_id)[1]["text"]
        == "Fire alarm: the whole building left"
    )


@pytest.mark.parametrize(
    ("seq", "text", "status", "says"),
    [
        (0, "the opening", 404, "not a flagged event"),
        (99, "no such event", 404, "not a flagged event"),
        ("one", "not a number", 400, "not a flagged event"),
        (1, "   ", 400, "is empty"),
        (1, "x" * 501, 400, "501 characters long; at most 500"),
        (1, "bell\x07", 400, "control character"),
    ],
)
def test_bad_explanations_are_refused_with_the_reason_and_nothing_is_stored(
    student, client, store, seq, text, status, says
):
    s = with_flags(student)
    answer = post(client, s, seq, text)
    assert answer.status_code == status and says in answer.text
    assert store.explanations.of_session(s.session_id) == {}


def test_a_wrong_key_finds_nothing(student, client, store):
    s = with_flags(student)
    url = s.grant["record_url"].replace("?", "/explanations?", 1)
    answer = client.post(url[: url.index("key=") + 4] + "wrong", data={"seq": "1", "text": "hi"})
    assert answer.status_code == 404 and store.explanations.of_session(s.session_id) == {}


def test_the_window_closes_after_the_policys_days(student, client, store):
    store.policies.save(
        "uni-a", parse_policy({"exam_id": "CS101-final", "explanation_days": 0}), "t"
    )
    s = with_flags(student, "x-closed")
    record = client.get(s.grant["record_url"])
    assert "Explain this" not in record.text
    answer = post(client, s, 1, "too late")
    assert answer.status_code == 403 and "can no longer be added" in answer.text
    assert "for 0 days after the exam" in answer.text


def test_explanations_are_rate_limited_and_bounded(student, client, app, store):
    s = with_flags(student, "x-flood")
    statuses = [post(client, s, 1, f"take {n}").status_code for n in range(12)]
    assert statuses[:10] == [200] * 10 and statuses[10:] == [429, 429]
    row = store.sessions.get(s.session_id)
    service = app.state.openproctor.explanations
    service.limiter = type(service.limiter)(10_000, what="explanations")
    for n in range(MAX_PER_SESSION - 10):
        service.explain(row, 2, f"again {n}")
    answer = post(client, s, 2, "one too many")
    assert answer.status_code == 429 and "already holds the most explanations" in answer.text


def test_the_bundle_carries_them_under_the_attestation(student, client, app):
    s = with_flags(student, "x-bundle")
    post(client, s, 2, "I copied my own answer to check its length")
    url = s.grant["record_url"].replace("?", "/evidence.json?", 1)
    bundle = client.get(url).json()
    assert [x["text"] for x in bundle["explanations"]] == [
        "I copied my own answer to check its length"
    ]
    jwks = app.state.openproctor.lti_keys.jwks()
    report = verify_bundle(bundle, jwks)
    assert report.ok, report.lines()
    assert any("explanations: 1, each beside a flagged event" in line for line in report.lines())
    edited = json.loads(json.dumps(bundle))
    edited["explanations"][0]["text"] = "something else"
    assert not verify_bundle(edited, jwks).ok  # covered by the attestation


def test_they_go_with_the_log_under_the_retention_policy(student, client, store):
    s = with_flags(student, "x-purge")
    post(client, s, 1, "my cat")
    maintenance.purge(store.db, now=time.time() + 400 * 86400)
    assert store.explanations.of_session(s.session_id) == {}
    assert post(client, s, 1, "again").status_code == 410
