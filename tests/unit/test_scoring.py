"""Scoring: explainable breakdown, accommodations, and the monotonicity properties."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openproctor.core import FLAG_TYPES, Tally, parse_policy, score_log, score_tally
from openproctor.core.scoring import format_duration

from .conftest import heartbeats

POLICY = parse_policy({"exam_id": "e1", "trust_threshold": 0.7})
EXAM_END = 3_600_000


def test_clean_log_scores_one(make_log):
    log = make_log("s", heartbeats(EXAM_END))
    result = score_log(log, POLICY)
    assert result.score == 1.0 and not result.flagged and result.breakdown == ()


def test_breakdown_explains_each_flag(make_log):
    drafts = [(60000 * i, "tab_switch", {"duration_ms": 32500, "count": 1}) for i in range(1, 5)]
    drafts.append((600000, "copy_paste", {"action": "paste", "count": 3}))
    drafts += heartbeats(1_200_000)
    result = score_log(make_log("s", drafts), POLICY)
    lines = {line.flag: line for line in result.breakdown}
    tab = lines["tab_switch"]
    assert (tab.count, tab.duration_ms) == (4, 130000)
    share = 130000 / result.exam_ms
    assert tab.penalty == pytest.approx(0.05 * 4 + 2.0 * share)
    assert (
        tab.explain() == f"tab switched 4 times for 2 min 10 s in total: penalty {tab.penalty:.2f}"
    )
    assert lines["copy_paste"].count == 1  # one burst of three pastes is one incident
    assert result.score == pytest.approx(
        2.718281828 ** -(tab.penalty + lines["copy_paste"].penalty)
    )


def test_disabled_flags_and_accommodations_cost_nothing(make_log):
    policy = parse_policy(
        {
            "exam_id": "e1",
            "flags_enabled": ["focus_loss", "tab_switch"],
            "accommodations": {"cand-1": {"exempt_flags": ["focus_loss"]}},
        }
    )
    log = make_log(
        "s",
        [
            (1000, "focus_loss", {"duration_ms": 9000, "count": 1}),
            (2000, "print_attempt", {"count": 1}),
        ],
    )
    lines = {line.flag: line for line in score_log(log, policy, candidate="cand-1").breakdown}
    assert (
        lines["focus_loss"].penalty == 0 and lines["focus_loss"].why_not_counted == "accommodation"
    )
    assert lines["print_attempt"].why_not_counted == "not enabled in the policy"
    assert "not counted (accommodation)" in lines["focus_loss"].explain()
    assert score_log(log, policy, candidate="cand-1").score == 1.0
    assert score_log(log, policy, candidate="someone-else").score < 1.0


def test_weights_scale_and_caps_bound_a_penalty(make_log):
    drafts = [(1000 + i, "context_menu", {"count": 1}) for i in range(500)]
    heavy = parse_policy({"exam_id": "e1", "weights": {"context_menu": 3}})
    line = score_log(make_log("s", drafts), heavy).breakdown[0]
    assert line.penalty == pytest.approx(3 * 0.1)  # capped at 0.1 before the weight


def test_devtools_is_weighted_low(make_log):
    log = make_log(
        "s",
        [
            (
                EXAM_END,
                "devtools_open",
                {"via": "window_size", "duration_ms": EXAM_END, "count": 1},
            ),
            *heartbeats(EXAM_END),
        ],
    )
    assert score_log(log, POLICY).score > 0.8


def test_missing_heartbeats_are_an_sdk_gap_even_without_a_gap_event(make_log):
    beats = [(t, "heartbeat", {}) for t in range(15000, 300000, 15000)]
    beats += [(t, "heartbeat", {}) for t in range(900000, 1200000, 15000)]  # 10 min silent
    result = score_log(make_log("s", beats), POLICY)
    (gap,) = result.breakdown
    assert gap.flag == "sdk_gap" and gap.count == 1 and gap.duration_ms == 900000 - 285000 - 15000
    assert result.flagged


def test_flagged_below_threshold(make_log):
    drafts = [(1000 * i, "tab_switch", {"duration_ms": 900, "count": 1}) for i in range(1, 20)]
    assert score_log(make_log("s", drafts), POLICY).flagged


def test_format_duration():
    assert [format_duration(ms) for ms in (850, 12000, 130000, 120000, 3900000, 7200000)] == [
        "850 ms",
        "12 s",
        "2 min 10 s",
        "2 min",
        "1 h 5 min",
        "2 h",
    ]


def test_to_dict_carries_the_explanations(make_log):
    data = score_log(make_log("s", [(5000, "print_attempt", {"count": 1})]), POLICY).to_dict()
    assert data["breakdown"][0]["explanation"].startswith("tried to print once: penalty")
    assert 0 <= data["score_milli"] <= 1000


# -- properties -------------------------------------------------------------------------------

EPISODES = [
    f
    for f in FLAG_TYPES
    if f not in ("copy_paste", "print_attempt", "context_menu", "sdk_gap", "devtools_open")
]

violation = st.one_of(
    st.tuples(st.sampled_from(EPISODES), st.integers(0, EXAM_END)).map(
        lambda x: (x[0], {"duration_ms": x[1], "count": 1})
    ),
    st.sampled_from(["print_attempt", "context_menu"]).map(lambda k: (k, {"count": 1})),
    st.sampled_from(["copy", "cut", "paste"]).map(
        lambda a: ("copy_paste", {"action": a, "count": 1})
    ),
    st.integers(0, EXAM_END).map(
        lambda d: ("devtools_open", {"via": "shortcut", "duration_ms": d, "count": 1})
    ),
)
timed = st.tuples(st.integers(1, EXAM_END - 1), violation)
policies = st.builds(
    lambda flags, threshold, weights: parse_policy(
        {"exam_id": "p", "flags_enabled": flags, "trust_threshold": threshold, "weights": weights}
    ),
    st.lists(st.sampled_from(FLAG_TYPES), unique=True),
    st.floats(0, 1),
    st.dictionaries(st.sampled_from(FLAG_TYPES), st.floats(0, 10)),
)


def build(make_log, items):
    return make_log(
        "prop", [*((t, kind, data) for t, (kind, data) in items), *heartbeats(EXAM_END)]
    )


@given(policies, st.lists(timed, max_size=15))
def test_score_stays_in_unit_interval(make_log, policy, items):
    result = score_log(build(make_log, items), policy)
    assert 0.0 <= result.score <= 1.0
    assert result.flagged == (result.score < policy.trust_threshold)


@given(policies, st.lists(timed, max_size=15), timed)
def test_adding_a_violation_never_raises_the_score(make_log, policy, items, extra):
    before = score_log(build(make_log, items), policy).score
    after = score_log(build(make_log, [*items, extra]), policy).score
    assert after <= before
    if extra[1][0] in policy.flags_enabled and policy.weight(extra[1][0]) == 0:
        assert after == before


@given(policies, st.lists(timed, min_size=1, max_size=15), st.integers(0, EXAM_END))
def test_lengthening_a_violation_never_raises_the_score(make_log, policy, items, extra_ms):
    t, (kind, data) = items[0]
    longer = [
        (t, (kind, {**data, "duration_ms": data["duration_ms"] + extra_ms}))
        if "duration_ms" in data
        else items[0],
        *items[1:],
    ]
    assert (
        score_log(build(make_log, longer), policy).score
        <= score_log(build(make_log, items), policy).score
    )


@given(policies)
def test_clean_log_is_one_under_any_policy(make_log, policy):
    assert score_log(build(make_log, []), policy).score == 1.0


@given(st.lists(timed, max_size=15))
def test_tally_built_live_equals_tally_of_the_log(make_log, items):
    log = build(make_log, items)
    live = Tally()
    for event in log:
        live.add(event)
    assert score_log(log, POLICY) == score_log(log, POLICY)
    assert live.counts == Tally.of(log).counts and live.durations == Tally.of(log).durations
    # A server keeps the tally between batches as JSON: splitting the log changes nothing.
    half = len(log) // 2
    first = Tally.of(log[:half])
    resumed = Tally.from_dict(json.loads(json.dumps(first.to_dict())))
    for event in log[half:]:
        resumed.add(event)
    assert score_tally(resumed, POLICY) == score_log(log, POLICY)
