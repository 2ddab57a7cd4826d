"""The fairness audit (issue 18 §4): figures against a hand-made fixture with a known disparity,
the statistics against hand computation, the page and the CSV, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import math

import pytest

from openproctor.server.fairness import build_fairness, rows_of, two_proportion, wilson

from .conftest import ENVIRONMENT, sign_in


def test_wilson_and_the_two_proportion_test_by_hand():
    # 15 of 30: p = 0.5 so the centre is 0.5; half-width z*sqrt(p(1-p)/n + z^2/4n^2)/(1 + z^2/n)
    low, high = wilson(15, 30)
    half = (
        1.959963984540054
        * math.sqrt(0.25 / 30 + 1.959963984540054**2 / 3600)
        / (1 + 1.959963984540054**2 / 30)
    )
    assert (low, high) == pytest.approx((0.5 - half, 0.5 + half))
    assert (low, high) == pytest.approx((0.3315, 0.6685), abs=1e-4)
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    # 15/30 against 3/30: pooled 0.3, se = sqrt(.3*.7*(2/30)) = 0.11832; z = 0.4/0.11832
    z, p = two_proportion(15, 30, 3, 30)
    assert z == pytest.approx(3.3806, abs=1e-4) and p == pytest.approx(0.000723, abs=2e-6)
    assert two_proportion(0, 0, 1, 2) == (0.0, 1.0) and two_proportion(0, 5, 0, 5) == (0.0, 1.0)


def _take(student, name: str, engine: str, flagged: bool) -> None:
    s = student(name)
    environment = {**ENVIRONMENT, "engine": engine}
    events = [
        s.signer.sign(
            0, "session_start", {"sdk_version": "0.1.0", **environment, "heartbeat_ms": 15000}
        ),
        *s.heartbeats(4),
    ]
    if flagged:
        events += [s.sign("tab_switch", {"duration_ms": 20_000, "count": 1}) for _ in range(8)]
    events.append(s.end())
    assert s.post(events).status_code == 200


@pytest.fixture
def disparity(student):
    """A known disparity: Gecko 12 of 20 flagged, Blink 2 of 20."""
    for i in range(20):
        _take(student, f"gecko-{i}", "Gecko", flagged=i < 12)
        _take(student, f"blink-{i}", "Blink", flagged=i < 2)


def test_a_known_disparity_is_found_and_nothing_else(disparity, store):
    fairness = build_fairness(rows_of(store.sessions.for_fairness("uni-a")))
    assert (fairness.sessions, fairness.flagged) == (40, 14)
    gecko = next(g for g in fairness.of("engine") if g.value == "Gecko")
    blink = next(g for g in fairness.of("engine") if g.value == "Blink")
    assert (gecko.sessions, gecko.flagged, gecko.rest_sessions, gecko.rest_flagged) == (
        20,
        12,
        20,
        2,
    )
    assert (gecko.low, gecko.high) == pytest.approx(wilson(12, 20))
    z, p = two_proportion(12, 20, 2, 20)
    assert (gecko.z, gecko.p) == pytest.approx((z, p)) and p < 0.001
    assert gecko.significant and blink.significant and gecko.small
    assert [g.value for g in fairness.differing] == ["Blink", "Gecko"]
    assert fairness.of("platform") == []  # one platform: nothing to compare
    # the mean penalty of a group is the mean of -ln(score)
    scores = [r.score for r in store.sessions.for_report("uni-a") if r.id]
    assert gecko.mean_penalty > blink.mean_penalty > 0 and len(scores) == 40


def test_the_page_highlights_and_the_csv_carries_it(disparity, web, accounts):
    sign_in(web, "alice")
    page = web.get("/dashboard/fairness")
    assert page.status_code == 200
    assert 'data-group="Gecko" class="differs"' in page.text and "2 groups differ" in page.text
    assert "a reason to look, not a finding" in page.text
    exported = web.get("/dashboard/fairness.csv?exam=CS101-final")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    gecko = next(r for r in rows if r["group"] == "Gecko")
    assert (gecko["sessions"], gecko["flagged"], gecko["significant"]) == ("20", "12", "yes")
    assert gecko["flag_rate"] == "0.6000"


def test_another_institution_sees_none_of_it(disparity, web, accounts):
    sign_in(web, "bob")
    page = web.get("/dashboard/fairness")
    assert (
        page.status_code == 200 and "Gecko" not in page.text and "No scored sessions" in page.text
    )


def test_a_platform_name_cannot_become_a_spreadsheet_formula(student, web, accounts):
    for i, platform in enumerate(("=HYPERLINK(1)", "Linux")):
        s = student(f"formula-{i}")
        data = {"sdk_version": "0.1.0", **ENVIRONMENT, "platform": platform, "heartbeat_ms": 15000}
        assert (
            s.post([s.signer.sign(0, "session_start", data), *s.heartbeats(2), s.end()]).status_code
            == 200
        )
    sign_in(web, "alice")
    text = web.get("/dashboard/fairness.csv").text
    assert "'=HYPERLINK(1)" in text and "\n=HYPERLINK" not in text.replace(",=", ",'=")
