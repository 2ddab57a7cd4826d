"""What the student does through the SDK panel: consent, declared breaks, and what blocking
(`prevent`) changes. Normalisation, scoring and the policy fields (issue 17)."""

from __future__ import annotations

import pytest

from openproctor.core import Normaliser, PolicyError, SignalError, Tally, parse_policy, score_log
from openproctor.core.policy import Breaks, policy_from_lti_custom

from .conftest import heartbeats

NOTICE = "ab" * 32
MINUTE = 60_000


def run(signals, end):
    """Feed (t, kind, fields) signals with the worker's tick every second; no heartbeats out."""
    normaliser = Normaliser()
    out = []
    ticks = [(t, 1, "tick", {}) for t in range(1000, end, 1000)]
    queue = sorted(
        [(t, 0, kind, fields) for t, kind, fields in signals] + ticks, key=lambda s: s[:2]
    )
    for t, _, kind, fields in queue:
        out += normaliser.feed({"t": t, "kind": kind, **fields})
    out += normaliser.finish(end)
    assert [d.t for d in out] == sorted(d.t for d in out)
    return [(d.t, d.type, d.data) for d in out if d.type != "heartbeat"]


# -- normalisation ---------------------------------------------------------------------------


def test_consent_is_an_event_with_the_notice_digest():
    assert run([(2000, "consent", {"notice": NOTICE, "mode": "required"})], end=5000) == [
        (2000, "consent", {"notice": NOTICE, "mode": "required"})
    ]


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"notice": "AB" * 32, "mode": "required"}, "notice"),
        ({"notice": NOTICE[:-1], "mode": "required"}, "notice"),
        ({"notice": NOTICE, "mode": "off"}, "mode"),
        ({"mode": "notice"}, "notice"),
    ],
)
def test_a_malformed_consent_signal_names_its_field(fields, name):
    with pytest.raises(SignalError) as caught:
        Normaliser().feed({"t": 1, "kind": "consent", **fields})
    assert caught.value.field == name


def test_a_break_cuts_the_tab_switch_into_before_and_inside():
    # Away before the break for 3 s, back, "Take a break" 200 ms later (the tab switch is
    # still in its debounce window), away for 60 s, back, "End break".
    events = run(
        [
            (10_000, "visibility", {"hidden": True}),
            (13_000, "visibility", {"hidden": False}),
            (13_200, "break", {"on": True}),
            (14_000, "visibility", {"hidden": True}),
            (74_000, "visibility", {"hidden": False}),
            (74_500, "break", {"on": False}),
        ],
        end=90_000,
    )
    assert events == [
        (13_000, "tab_switch", {"duration_ms": 3000, "count": 1}),
        (13_200, "break_start", {}),
        (74_000, "tab_switch", {"duration_ms": 60_000, "count": 1}),
        (74_500, "break_end", {"duration_ms": 61_300}),
    ]


def test_an_episode_open_across_the_break_end_goes_on_as_a_new_one():
    events = run(
        [
            (0, "fullscreen", {"active": True}),
            (5_000, "break", {"on": True}),
            (6_000, "fullscreen", {"active": False}),
            (20_000, "break", {"on": False}),
            (30_000, "fullscreen", {"active": True}),
        ],
        end=40_000,
    )
    assert events == [
        (5_000, "break_start", {}),
        (20_000, "fullscreen_exit", {"duration_ms": 14_000, "count": 1}),
        (20_000, "break_end", {"duration_ms": 15_000}),
        (30_000, "fullscreen_exit", {"duration_ms": 10_000, "count": 1}),
    ]


def test_repeated_break_clicks_change_nothing_and_finish_ends_an_open_break():
    events = run(
        [
            (1_000, "break", {"on": True}),
            (2_000, "break", {"on": True}),
            (3_000, "break", {"on": False}),
            (4_000, "break", {"on": False}),
            (5_000, "break", {"on": True}),
        ],
        end=9_000,
    )
    assert [e[1] for e in events] == ["break_start", "break_end", "break_start", "break_end"]
    assert events[-1] == (9_000, "break_end", {"duration_ms": 4_000})


def test_no_idle_time_is_counted_during_a_break():
    events = run([(1_000, "break", {"on": True}), (400_000, "break", {"on": False})], end=410_000)
    assert [e[1] for e in events] == ["break_start", "break_end"]


# -- scoring ---------------------------------------------------------------------------------


def policy(**fields):
    return parse_policy({"exam_id": "e1", **fields})


def away(t, duration):
    return (t, "tab_switch", {"duration_ms": duration, "count": 1})


def break_log(make_log, start, end, *inside, extra=()):
    drafts = [(start, "break_start", {}), *inside, (end, "break_end", {"duration_ms": end - start})]
    return make_log("s", drafts + list(extra) + heartbeats(60 * MINUTE))


def test_a_declared_break_within_the_allowance_excuses_the_time_away(make_log):
    log = break_log(make_log, 10 * MINUTE, 15 * MINUTE, away(14 * MINUTE, 4 * MINUTE))
    score = score_log(log, policy(breaks={"count": 1, "max_minutes": 10}))
    assert score.score == 1.0
    (line,) = score.breakdown
    assert (line.count, line.excused_count, line.excused_ms) == (0, 1, 4 * MINUTE)
    assert "1 during declared breaks, not counted" in line.explain()
    (declared,) = score.breaks
    assert (declared.allowed, declared.duration_ms, declared.over_ms) == (True, 5 * MINUTE, 0)


def test_the_same_log_without_an_allowance_counts_the_time_away(make_log):
    log = break_log(make_log, 10 * MINUTE, 15 * MINUTE, away(14 * MINUTE, 4 * MINUTE))
    with_breaks = score_log(log, policy(breaks={"count": 1, "max_minutes": 10}))
    without = score_log(log, policy())
    undeclared = score_log(
        make_log("s", [away(14 * MINUTE, 4 * MINUTE), *heartbeats(60 * MINUTE)]), policy()
    )
    assert without.score == pytest.approx(undeclared.score)
    assert without.score < with_breaks.score
    assert not without.breaks[0].allowed
    assert "more breaks than allowed" in without.breaks[0].explain()


def test_an_over_long_break_counts_what_lies_beyond_the_allowance(make_log):
    log = break_log(make_log, 10 * MINUTE, 25 * MINUTE, away(24 * MINUTE, 14 * MINUTE))
    score = score_log(log, policy(breaks={"count": 1, "max_minutes": 10}))
    (line,) = score.breakdown
    assert (line.count, line.duration_ms) == (1, 4 * MINUTE)
    assert (line.excused_count, line.excused_ms) == (0, 10 * MINUTE)
    (declared,) = score.breaks
    assert declared.over_ms == 5 * MINUTE
    assert declared.explain() == "declared break of 15 min: 5 min over the allowance, counted"
    assert score.score < 1.0


def test_only_the_allowed_number_of_breaks_excuse(make_log):
    drafts = []
    for n in range(3):
        start = (10 + 10 * n) * MINUTE
        drafts += [
            (start, "break_start", {}),
            away(start + MINUTE, 30_000),
            (start + 2 * MINUTE, "break_end", {"duration_ms": 2 * MINUTE}),
        ]
    log = make_log("s", drafts + heartbeats(60 * MINUTE))
    score = score_log(log, policy(breaks={"count": 2, "max_minutes": 5}))
    (line,) = score.breakdown
    assert (line.count, line.excused_count) == (1, 2)
    assert [b.allowed for b in score.breaks] == [True, True, False]


def test_a_candidates_accommodation_gives_more_breaks(make_log):
    log = break_log(make_log, 10 * MINUTE, 30 * MINUTE, away(29 * MINUTE, 19 * MINUTE))
    rules = policy(
        breaks={"count": 1, "max_minutes": 5},
        accommodations={"cand-1": {"exempt_flags": [], "breaks": {"count": 2, "max_minutes": 30}}},
    )
    assert score_log(log, rules, "cand-1").score == 1.0
    assert score_log(log, rules, "cand-2").score < 1.0


def test_flags_that_are_not_away_still_count_inside_a_break(make_log):
    copy = (11 * MINUTE, "copy_paste", {"action": "copy", "count": 1})
    log = break_log(make_log, 10 * MINUTE, 15 * MINUTE, copy)
    (line,) = score_log(log, policy(breaks={"count": 1, "max_minutes": 10})).breakdown
    assert (line.flag, line.count, line.excused_count) == ("copy_paste", 1, 0)


def test_a_tally_with_breaks_survives_its_json_form(make_log):
    log = break_log(make_log, 10 * MINUTE, 15 * MINUTE, away(14 * MINUTE, 4 * MINUTE))
    tally = Tally.of(log)
    again = Tally.from_dict(tally.to_dict())
    assert again.to_dict() == tally.to_dict() == tally.copy().to_dict()
    rules = policy(breaks={"count": 1, "max_minutes": 10})
    assert score_log(log, rules).to_dict()["breaks"][0]["allowed"] is True
    # a tally stored before breaks existed has no "breaks" key
    old = tally.to_dict()
    del old["breaks"]
    assert Tally.from_dict(old).breaks == []


def test_break_events_carry_no_penalty_and_a_consent_event_none_either(make_log):
    log = make_log(
        "s",
        [
            (1000, "consent", {"notice": NOTICE, "mode": "required"}),
            (2000, "break_start", {}),
            (3000, "break_end", {"duration_ms": 1000}),
            *heartbeats(10 * MINUTE),
        ],
    )
    assert score_log(log, policy()).score == 1.0


# -- the policy's fields ----------------------------------------------------------------------


def test_defaults_ask_for_consent_and_show_warnings_without_breaks_or_blocking():
    rules = policy()
    assert (rules.consent, rules.visible_warnings, rules.breaks, rules.prevent) == (
        "required",
        True,
        Breaks(0, 10),
        frozenset(),
    )
    assert parse_policy(rules.to_dict()) == rules


@pytest.mark.parametrize(
    ("fields", "name", "says"),
    [
        ({"consent": "yes"}, "consent", "'required', 'notice' or 'off'"),
        ({"visible_warnings": 1}, "visible_warnings", "true or false"),
        ({"breaks": 2}, "breaks", "'count' and 'max_minutes'"),
        ({"breaks": {"count": 21}}, "breaks.count", "from 0 to 20"),
        ({"breaks": {"count": 1, "max_minutes": 0}}, "breaks.max_minutes", "from 1 to 240"),
        ({"breaks": {"count": 1, "length": 5}}, "breaks.length", "not allowed"),
        ({"prevent": "copy"}, "prevent", "a list"),
        ({"prevent": ["copy", "screenshot"]}, "prevent", "unknown action 'screenshot'"),
        ({"prevent": ["copy", "copy"]}, "prevent", "twice"),
        (
            {"accommodations": {"c": {"exempt_flags": [], "breaks": {"count": -1}}}},
            "accommodations.c.breaks.count",
            "from 0 to 20",
        ),
    ],
)
def test_bad_student_settings_name_the_field(fields, name, says):
    with pytest.raises(PolicyError) as caught:
        policy(**fields)
    assert caught.value.field == name and says in caught.value.message


def test_lti_custom_parameters_set_the_student_settings():
    rules = policy_from_lti_custom(
        {
            "exam_id": "e1",
            "consent": "notice",
            "visible_warnings": "no",
            "breaks": "2:15",
            "prevent": "copy, paste",
        }
    )
    assert (rules.consent, rules.visible_warnings, rules.breaks, rules.prevent) == (
        "notice",
        False,
        Breaks(2, 15),
        frozenset({"copy", "paste"}),
    )
    with pytest.raises(PolicyError) as caught:
        policy_from_lti_custom({"exam_id": "e1", "breaks": "2"})
    assert caught.value.field == "breaks"
