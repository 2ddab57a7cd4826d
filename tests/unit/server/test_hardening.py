"""The findings of the server review, one test (or a few) each, named after the finding.

Each of these failed before its fix; docs/threat-model.md points here for every class of attack.
"""

from __future__ import annotations

import re

from openproctor.server import charts
from openproctor.server.charts import Episode

from .conftest import sign_in

# -- 1. a student's own key cannot take the dashboard down -------------------------------------


def test_an_event_stamped_after_the_deadline_is_refused(student, store):
    s = student()
    assert s.post([s.opening()]).status_code == 200
    forged = s.signer.sign(9007199254740991, "heartbeat", {})
    response = s.post([forged])
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "event_after_deadline" and error["seq"] == 1
    row = store.get_session(s.session_id)
    assert row["next_seq"] == 1 and row["status"] == "active"  # refused, not stored
    limit = error["limit_ms"]  # the deadline (60 min exam) plus the 30 min grace
    assert 89 * 60_000 < limit <= 90 * 60_000 + 1000


def test_the_limit_is_the_deadline_plus_the_grace_period(student, store):
    for over, status in ((0, 200), (1, 422)):
        s = student(f"limit-{over}")
        row = store.get_session(s.session_id)
        limit = int((row["deadline"] - row["started_at"] + 30 * 60) * 1000)
        opening = s.opening()
        late = s.signer.sign(limit + over, "heartbeat", {})
        assert s.post([opening, late]).status_code == status


def test_a_session_cannot_store_more_events_than_its_cap(app, student, store):
    app.state.openproctor.ingest.max_events = 5
    s = student()
    assert s.post([s.opening(), *s.heartbeats(3)]).status_code == 200
    refused = s.post(s.heartbeats(2))
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "session_event_limit"
    assert refused.json()["error"]["limit"] == 5
    assert store.get_session(s.session_id)["next_seq"] == 4


def test_the_timeline_has_bounded_ticks_and_bars_whatever_the_data():
    huge = 9007199254740991
    episodes = [Episode("tab_switch", t, t + 10) for t in range(0, 50_000 * 1000, 1000)]
    svg = str(charts.timeline([(0, 1.0), (huge, 0.5)], episodes, huge, 0.7))
    assert len(re.findall(r" min</text>", svg)) <= 12
    assert svg.count("<rect") <= 400
    assert len(svg) < 100_000


def test_the_event_table_is_paged(app, student, web, accounts):
    s = student()
    opening = s.opening()
    beats = [s.sign("heartbeat", {}, dt=1000) for _ in range(699)]
    assert s.post([opening, *beats[:499]]).status_code == 200
    assert s.post(beats[499:]).status_code == 200
    sign_in(web, "alice")
    first = web.get(f"/dashboard/sessions/{s.session_id}")
    assert first.status_code == 200
    assert first.text.count("<td>heartbeat</td>") == 499
    assert "Events 0 to 499 of 700" in first.text
    second = web.get(f"/dashboard/sessions/{s.session_id}?from=500")
    assert second.text.count("<td>heartbeat</td>") == 200
    assert "Events 500 to 699 of 700" in second.text
    assert web.get(f"/dashboard/sessions/{s.session_id}?from=99999999999").status_code == 200
