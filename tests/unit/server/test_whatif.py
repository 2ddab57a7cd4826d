"""What-if rescoring (issue 18 §3): an exam's finished sessions under its staging policy, the
sessions that would change band or flag and the decisions it would contradict, against hand
counts; adopting it writes a new score of record (the old one kept), audited, and the evidence
bundle still verifies. Both databases."""

from __future__ import annotations

import re

import pytest

from openproctor.core import parse_policy
from openproctor.server.evidence import verify_bundle

from .conftest import csrf_of, sign_in

MINUTE = 60_000


def take(student, name: str, away_minutes: int):
    """A 20-minute exam with ``away_minutes`` of tab switching in four episodes."""
    s = student(name)
    events = [s.opening()]
    for _ in range(4 if away_minutes else 0):
        events.append(s.sign("tab_switch", {"duration_ms": away_minutes * MINUTE // 4, "count": 1}))
    events += s.heartbeats(80)  # 20 minutes of heartbeats
    events.append(s.end())
    assert s.post(events).status_code == 200
    return s


@pytest.fixture
def exam(student, store, web, accounts):
    heavy = take(student, "w-heavy", 4)  # ~0.55: flagged at 0.7
    decided = take(student, "w-decided", 4)
    mild = take(student, "w-mild", 1)  # ~0.77: yellow, not flagged
    clean = take(student, "w-clean", 0)
    sign_in(web, "ada")
    page = web.get(f"/dashboard/sessions/{decided.session_id}")
    web.post(
        f"/dashboard/sessions/{decided.session_id}/decisions",
        data={"csrf": csrf_of(page.text), "outcome": "violation_confirmed", "comment": "yes"},
    )
    staging = parse_policy(
        {"exam_id": "CS101-final", "trust_threshold": 0.4, "environment": "staging"}
    )
    store.policies.save("uni-a", staging, "ada")
    return heavy, decided, mild, clean


def test_the_comparison_against_hand_counts(exam, web, store):
    heavy, decided, mild, _ = exam
    # by hand: 4 switches and 4 min away in a 1,204 s exam cost 0.05*4 + 2.0*240/1204
    assert store.sessions.get(heavy.session_id).score == pytest.approx(
        2.718281828459045 ** -(0.2 + 2.0 * 240 / 1204), abs=1e-9
    )
    assert store.sessions.get(heavy.session_id).flagged  # 0.55 < 0.7, but not < 0.4
    assert not store.sessions.get(mild.session_id).flagged  # 0.74: yellow under both
    page = web.get("/dashboard/whatif?exam=CS101-final")
    assert page.status_code == 200
    assert re.search(r'id="count-compared">4 finished', page.text)
    assert 'id="count-changed">2<' in page.text and 'id="count-contradicted">1<' in page.text
    rows = set(re.findall(r'data-session="([^"]+)"', page.text))
    assert rows == {heavy.session_id, decided.session_id}
    assert "confirmed as a violation, but no longer flagged" in page.text


def test_adopting_writes_a_new_score_of_record_and_keeps_the_old(exam, web, store, client, app):
    heavy, decided, mild, _ = exam
    before = store.sessions.get(heavy.session_id)
    page = web.get("/dashboard/whatif?exam=CS101-final")
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    stale = web.post(
        "/dashboard/whatif/adopt",
        data={"csrf": csrf_of(page.text), "exam": "CS101-final", "version": "999"},
    )
    assert stale.status_code == 409 and not store.sessions.score_versions(heavy.session_id)
    done = web.post(
        "/dashboard/whatif/adopt",
        data={"csrf": csrf_of(page.text), "exam": "CS101-final", "version": version},
    )
    assert done.status_code == 200 and "Adopted: 2 session(s)" in done.text
    after = store.sessions.get(heavy.session_id)
    assert not after.flagged and after.policy_version == int(version)
    assert after.score == pytest.approx(before.score)  # same log, same penalties: a new threshold
    history = store.sessions.score_versions(heavy.session_id)
    assert [(h["flagged"], h["policy_version"]) for h in history] == [
        (True, before.policy_version),
        (False, int(version)),
    ]
    assert store.sessions.get(mild.session_id).policy_version == before.policy_version  # unchanged
    assert "Score history" in web.get(f"/dashboard/sessions/{heavy.session_id}").text
    adopted = next(e for e in store.audit.entries("uni-a") if e["action"] == "scores.adopted")
    assert set(adopted["detail"]["sessions"]) == {heavy.session_id, decided.session_id}
    bundle = client.get(heavy.grant["record_url"].replace("?", "/evidence.json?", 1)).json()
    assert verify_bundle(bundle, app.state.openproctor.lti_keys.jwks()).ok
    again = web.get("/dashboard/whatif?exam=CS101-final")
    assert 'id="count-changed">0<' in again.text


def test_a_reviewer_compares_but_cannot_adopt(exam, web, accounts, store):
    web.cookies.clear()
    sign_in(web, "alice")
    page = web.get("/dashboard/whatif?exam=CS101-final")
    assert page.status_code == 200 and 'id="adopt"' not in page.text
    refused = web.post(
        "/dashboard/whatif/adopt",
        data={"csrf": csrf_of(page.text), "exam": "CS101-final", "version": "2"},
    )
    assert refused.status_code == 403
    assert not store.sessions.score_versions(exam[0].session_id)
