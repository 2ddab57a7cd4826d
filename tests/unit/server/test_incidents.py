"""Incident-level review (issue 18 §2): a verdict on each flagged episode, the session's outcome
following from them (or set explicitly), every change kept; claiming and releasing sessions;
the queue's filters (unassigned, mine, band, has a student explanation). Both databases."""

from __future__ import annotations

import re

import pytest

from .conftest import csrf_of, sign_in


@pytest.fixture
def flagged(student):
    """Two tab switches (seq 1, 2) and a copy (seq 3), long enough to flag the session."""
    s = student("inc-1")
    events = [s.opening()]
    events += [s.sign("tab_switch", {"duration_ms": 120_000, "count": 1}) for _ in range(2)]
    events += [s.sign("copy_paste", {"action": "copy", "count": 1}), *s.heartbeats(1), s.end()]
    assert s.post(events).status_code == 200
    return s


def judge(web, session_id: str, seq: int, verdict: str, note: str = ""):
    page = web.get(f"/dashboard/sessions/{session_id}")
    return web.post(
        f"/dashboard/sessions/{session_id}/incidents",
        data={"csrf": csrf_of(page.text), "seq": str(seq), "verdict": verdict, "note": note},
        follow_redirects=False,
    )


def test_the_outcome_follows_the_verdicts_and_history_is_kept(flagged, web, accounts, store):
    sign_in(web, "alice")
    sid = flagged.session_id
    assert judge(web, sid, 1, "dismissed", "fire alarm").status_code == 303
    assert judge(web, sid, 2, "confirmed").status_code == 303
    assert store.reviewers.decisions(sid) == []  # one episode still open
    assert judge(web, sid, 3, "dismissed").status_code == 303
    (decision,) = store.reviewers.decisions(sid)
    assert decision["outcome"] == "violation_confirmed"
    assert decision["comment"] == "from the incident verdicts: 1 confirmed, 2 dismissed"
    judge(web, sid, 2, "dismissed", "on second look: the student's own notes")
    latest = store.reviewers.decisions(sid)
    assert latest[0]["outcome"] == "cleared" and len(latest) == 2  # the history stays
    assert len(store.reviewers.verdicts(sid)) == 4
    page = web.get(f"/dashboard/sessions/{sid}").text
    assert re.search(r'id="event-2".*data-verdict="dismissed".*on second look', page, re.S)
    judged = [e for e in store.audit.entries("uni-a") if e["action"] == "incident.judged"]
    assert len(judged) == 4 and judged[0]["actor"] == "alice (reviewer)"


def test_an_explicit_decision_still_wins(flagged, web, accounts, store):
    sign_in(web, "alice")
    sid = flagged.session_id
    for seq in (1, 2, 3):
        judge(web, sid, seq, "dismissed")
    page = web.get(f"/dashboard/sessions/{sid}")
    web.post(
        f"/dashboard/sessions/{sid}/decisions",
        data={"csrf": csrf_of(page.text), "outcome": "needs_discussion", "comment": "ask them"},
    )
    assert store.reviewers.decisions(sid)[0]["outcome"] == "needs_discussion"


@pytest.mark.parametrize(
    ("seq", "verdict", "says"),
    [
        (1, "maybe", "choose confirmed or dismissed"),
        (0, "confirmed", "not a flagged episode"),
        (99, "dismissed", "not a flagged episode"),
    ],
)
def test_a_bad_verdict_is_refused_and_nothing_is_stored(
    flagged, web, accounts, store, seq, verdict, says
):
    sign_in(web, "alice")
    answer = judge(web, flagged.session_id, seq, verdict)
    assert answer.status_code == 400 and says in answer.text
    assert store.reviewers.verdicts(flagged.session_id) == []


def test_claims_and_the_queue_filters(flagged, student, web, accounts, store, client):
    calm = student("inc-2")
    assert calm.post([calm.opening(), *calm.heartbeats(1), calm.end()]).status_code == 200
    url = flagged.grant["record_url"].replace("?", "/explanations?", 1)
    assert client.post(url, data={"seq": "1", "text": "fire alarm"}).status_code == 200
    sign_in(web, "alice")
    page = web.get(f"/dashboard/sessions/{flagged.session_id}")
    web.post(f"/dashboard/sessions/{flagged.session_id}/claim", data={"csrf": csrf_of(page.text)})
    assert store.sessions.get(flagged.session_id).claimed_by == "alice (reviewer)"

    def listed(query: str) -> set[str]:
        return set(re.findall(r'data-session="([^"]+)"', web.get(f"/dashboard?{query}").text))

    assert listed("assigned=mine") == {flagged.session_id}
    assert listed("assigned=unassigned") == {calm.session_id}
    assert listed("explained=1") == {flagged.session_id}
    assert listed("band=red") == {flagged.session_id} and listed("band=green") == {calm.session_id}
    web.cookies.clear()
    sign_in(web, "ada")  # an admin may release another's claim
    page = web.get(f"/dashboard/sessions/{flagged.session_id}")
    web.post(
        f"/dashboard/sessions/{flagged.session_id}/claim",
        data={"csrf": csrf_of(page.text), "release": "1"},
    )
    assert store.sessions.get(flagged.session_id).claimed_by is None
    actions = [e["action"] for e in store.audit.entries("uni-a")]
    assert "review.claimed" in actions and "review.released" in actions
