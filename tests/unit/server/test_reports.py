"""Reports and threshold calibration: numbers checked against hand counts, the pages, the CSV
export, institution isolation, and the session timeline chart."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import numpy as np
import pytest

from openproctor.core import FLAG_TYPES, Signer, parse_policy
from openproctor.server.reports import build_report, calibrate, timeline_series
from openproctor.server.storage.rows import ReportRow

from .conftest import StudentClient, csrf_of, sign_in, start_jwt


def test_calibration_recommends_the_lowest_threshold_that_separates_the_decisions():
    scores = np.array([0.2, 0.4, 0.6, 0.8, 0.9])
    decisions = ["violation_confirmed", "violation_confirmed", "cleared", "cleared", None]
    c = calibrate(scores, decisions, current=0.7)
    # 0.41 is the first threshold with both violations below it and no cleared session.
    assert c.recommended == 0.41
    assert c.at(0.41) == {"flagged": 2, "caught": 2, "missed": 0, "false_flags": 0}
    assert c.at(0.7) == {"flagged": 3, "caught": 2, "missed": 0, "false_flags": 1}
    assert c.at(0.3) == {"flagged": 1, "caught": 1, "missed": 1, "false_flags": 0}
    assert c.at(1.0) == {"flagged": 5, "caught": 2, "missed": 0, "false_flags": 2}
    assert (c.confirmed, c.cleared, c.scored) == (2, 2, 5)


def test_calibration_explains_what_is_missing():
    scores = np.array([0.3, 0.9])
    none = calibrate(scores, [None, "needs_discussion"], current=0.7)
    assert none.recommended is None and "No reviewer decisions yet" in none.message
    one_kind = calibrate(scores, ["violation_confirmed", None], current=0.7)
    assert one_kind.recommended is None
    assert "“cleared” too" in one_kind.message and "1 confirmed, 0 cleared" in one_kind.message
    inverted = calibrate(scores, ["cleared", "violation_confirmed"], current=0.7)
    assert inverted.recommended is None and "No threshold separates them" in inverted.message
    empty = calibrate(np.array([]), [], current=None)
    assert empty.recommended is None and empty.flagged.sum() == 0


def row(score, flagged, decision=None, **counts):
    breakdown = [
        {"flag": flag, "count": n, "counted": True, "penalty": 0.1} for flag, n in counts.items()
    ]
    return ReportRow.from_row(
        {
            "id": f"ops_{score}",
            "exam_id": "E",
            "exam_name": "Exam E",
            "status": "finished",
            "started_at": 1_800_000_000.0,
            "score": score,
            "flagged": flagged,
            "breakdown_json": json.dumps(breakdown),
            "policy_json": json.dumps({"trust_threshold": 0.7}),
            "decision": decision,
            "integrity_reason": None,
            "score_mismatch": False,
            "complete": True,
            "external_id": f"lms-attempt-{score}",
            "user_id": "student-1",
            "user_json": json.dumps({"userId": "student-1", "courseName": "Algorithms"}),
            "context_id": None,
        }
    )


def test_report_counts_by_hand():
    rows = [
        row(0.95, False, "cleared"),
        row(0.55, True, "violation_confirmed", tab_switch=3, copy_paste=1),
        row(0.65, True, "needs_discussion", tab_switch=1),
        row(0.15, True, None, tab_switch=8, focus_loss=2),
        replace(row(None, False), score=None, breakdown_json=None),  # not scored yet
    ]
    report = build_report(rows, current_threshold=0.7)
    assert (report.sessions, report.scored, report.flagged) == (5, 4, 3)
    assert report.flagged_share == 0.75
    assert report.median == pytest.approx(0.6)
    assert report.histogram == [0, 1, 0, 0, 0, 1, 1, 0, 0, 1]
    rates = {r.flag: (r.sessions, r.share, r.mean_count) for r in report.flag_rates}
    assert rates == {
        "tab_switch": (3, 0.75, 3.0),
        "focus_loss": (1, 0.25, 0.5),
        "copy_paste": (1, 0.25, 0.25),
    }
    assert report.outcomes == {
        "cleared": 1,
        "violation_confirmed": 1,
        "needs_discussion": 1,
        "undecided": 2,
    }


def test_timeline_series_follows_the_score_and_shows_episodes_and_gaps():
    signer = Signer(b"k" * 32, "ops_t")
    policy = parse_policy({"exam_id": "E"})
    events = [
        signer.sign(
            0,
            "session_start",
            {
                "sdk_version": "0.1.0",
                "browser": "Chromium",
                "browser_version": "1",
                "engine": "Blink",
                "platform": "Linux",
                "mobile": False,
                "screens": 1,
                "heartbeat_ms": 15000,
            },
        ),
        signer.sign(15_000, "heartbeat", {}),
        signer.sign(40_000, "tab_switch", {"duration_ms": 20_000, "count": 1}),
        signer.sign(100_000, "heartbeat", {}),  # 85 s after the last: a gap
    ]
    points, episodes, exam_ms = timeline_series(events, policy, "ops_t")
    assert exam_ms == 100_000
    assert [p[0] for p in points] == [0, 15_000, 40_000, 100_000]
    assert points[0][1] == points[1][1] == 1.0 and points[2][1] < 1.0
    assert points[3][1] < points[2][1]  # the gap costs too
    lanes = {(e.lane, e.start_ms, e.end_ms) for e in episodes}
    assert ("tab_switch", 20_000, 40_000) in lanes
    assert ("sdk_gap", 30_000, 100_000) in lanes


@pytest.fixture
def decided(client, integration, accounts) -> list[str]:
    """Four finished sessions of one exam with different flags and decisions."""
    plans = [
        (0, "cleared"),
        (2, "cleared"),
        (8, "violation_confirmed"),
        (12, "violation_confirmed"),
    ]
    ids = []
    for n, (switches, outcome) in enumerate(plans):
        grant = client.post(
            "/api/v1/sessions", json={"integrationName": "lms1", "jwt": start_jwt(f"r-{n}")}
        ).json()
        s = StudentClient(client, grant)
        events = [s.opening(), *s.heartbeats(2)]
        events += [
            s.sign("tab_switch", {"duration_ms": 30_000, "count": 1}) for _ in range(switches)
        ]
        events.append(s.end())
        assert s.post(events).status_code == 200
        accounts.decide(s.session_id, outcome, "", "alice (reviewer)")
        ids.append(s.session_id)
    return ids


def test_report_page_csv_and_calibration(web, decided, store):
    sign_in(web, "alice")
    page = web.get("/dashboard/reports?exam=CS101-final")
    assert page.status_code == 200
    assert 'id="count-sessions">4<' in page.text
    assert '<tr data-outcome="cleared"><td>cleared</td><td>2</td>' in page.text
    assert '<tr data-flag="tab_switch">' in page.text
    assert 'id="recommendation"' in page.text
    assert page.text.count("<svg") == 2 and "<title" in page.text  # histogram and curve
    assert 'id="apply-threshold"' not in page.text  # reviewers do not change policies
    exported = web.get("/dashboard/reports.csv?exam=CS101-final")
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(exported.text)))
    # The LMS's attempt and course (blind review: no student columns by default).
    assert lines[0][:5] == ["session_id", "lms_attempt", "course", "exam_id", "started_at"]
    assert len(lines[0]) == 11 + len(FLAG_TYPES) and "student_name" not in lines[0]
    assert sorted(line[0] for line in lines[1:]) == sorted(decided)
    by_id = {line[0]: dict(zip(lines[0], line, strict=True)) for line in lines[1:]}
    assert by_id[decided[3]]["count_tab_switch"] == "12"
    assert by_id[decided[3]]["lms_attempt"] == "r-3"  # the LMS's own sessionId
    assert by_id[decided[3]]["decision"] == "violation_confirmed"
    assert by_id[decided[0]]["signed_log"] == "verified"


def test_an_admin_puts_the_recommended_threshold_into_staging(web, decided, store):
    sign_in(web, "ada")
    page = web.get("/dashboard/reports?exam=CS101-final")
    recommended = float(page.text.split("Recommended threshold: <strong>")[1].split("<")[0])
    response = web.post(
        "/dashboard/reports/apply-threshold",
        data={"csrf": csrf_of(page.text), "exam": "CS101-final"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    newest = store.policies.versions("uni-a", "CS101-final")[0]
    assert (newest.environment, newest.policy.trust_threshold) == ("staging", recommended)


def test_no_decisions_yet_says_so(web, client, integration, accounts):
    sign_in(web, "alice")
    page = web.get("/dashboard/reports")
    assert page.status_code == 200 and "No scored sessions yet" in page.text
    assert "No reviewer decisions yet" in page.text


def test_another_institution_reports_nothing_of_ours(web, decided):
    sign_in(web, "bob")
    page = web.get("/dashboard/reports?exam=CS101-final")
    assert 'id="count-sessions">0<' in page.text
    lines = list(csv.reader(io.StringIO(web.get("/dashboard/reports.csv?exam=CS101-final").text)))
    assert len(lines) == 1  # the header only
    csrf = csrf_of(page.text)
    response = web.post(
        "/dashboard/reports/apply-threshold", data={"csrf": csrf, "exam": "CS101-final"}
    )
    assert "no recommended threshold" in response.text.lower()


def test_the_session_page_draws_the_timeline(web, decided):
    sign_in(web, "alice")
    page = web.get(f"/dashboard/sessions/{decided[3]}")
    figure = page.text.split('<figure id="timeline">')[1].split("</figure>")[0]
    assert "<svg" in figure and "<title" in figure and "tab switch: 12" in figure
    assert "style=" not in figure  # the CSP forbids inline styles
