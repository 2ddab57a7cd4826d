"""Policy validation: every invalid field is named with what is allowed; LTI string parameters."""

from __future__ import annotations

import pytest

from openproctor.core import FLAG_TYPES, PolicyError, parse_policy, policy_from_lti_custom

DESIGN_EXAMPLE = {
    "exam_id": "CS101-final-2026",
    "trust_threshold": 0.7,
    "flags_enabled": ["focus_loss", "tab_switch", "devtools_open"],
    "log_retention_days": 30,
    "allow_mobile": False,
}


def test_design_example_parses_with_defaults():
    policy = parse_policy(DESIGN_EXAMPLE)
    assert policy.exam_id == "CS101-final-2026"
    assert policy.flags_enabled == {"focus_loss", "tab_switch", "devtools_open"}
    assert policy.environment == "production" and policy.heartbeat_seconds == 15
    assert policy.weight("tab_switch") == 1.0


def test_only_exam_id_is_required():
    policy = parse_policy({"exam_id": "e1"})
    assert policy.flags_enabled == set(FLAG_TYPES)
    assert policy.trust_threshold == 0.7


def test_to_dict_round_trips():
    policy = parse_policy(
        {
            **DESIGN_EXAMPLE,
            "weights": {"tab_switch": 2},
            "accommodations": {"cand-7": {"exempt_flags": ["focus_loss"], "note": "screen reader"}},
        }
    )
    assert parse_policy(policy.to_dict()) == policy


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"exam_id": ""}, "exam_id", "1 to 128 characters"),
        ({"exam_id": "has space"}, "exam_id", "letters, digits"),
        ({"trust_threshold": 1.5}, "trust_threshold", "must be from 0 to 1, got 1.5"),
        ({"trust_threshold": "0.7"}, "trust_threshold", "must be a number from 0 to 1"),
        ({"trust_threshold": True}, "trust_threshold", "must be a number"),
        ({"trust_threshold": float("nan")}, "trust_threshold", "must be a number"),
        ({"flags_enabled": "tab_switch"}, "flags_enabled", "must be a list of flag types"),
        ({"flags_enabled": ["webcam"]}, "flags_enabled", "unknown flag 'webcam'; known flags:"),
        ({"flags_enabled": ["idle", "idle"]}, "flags_enabled", "lists 'idle' twice"),
        ({"log_retention_days": 0}, "log_retention_days", "whole number from 1 to 3650"),
        ({"log_retention_days": 2.5}, "log_retention_days", "whole number"),
        ({"allow_mobile": "no"}, "allow_mobile", "must be true or false"),
        ({"weights": {"tab_switch": -1}}, "weights.tab_switch", "from 0 to 10"),
        ({"weights": {"blink": 1}}, "weights.blink", "is not a known flag"),
        ({"weights": [1]}, "weights", "mapping flag types to numbers"),
        ({"environment": "prod"}, "environment", "'staging' or 'production'"),
        ({"heartbeat_seconds": 1}, "heartbeat_seconds", "from 5 to 300"),
        (
            {"accommodations": {"c1": {"exempt_flags": ["x"]}}},
            "accommodations.c1.exempt_flags",
            "unknown flag 'x'",
        ),
        ({"accommodations": {"c1": {}}}, "accommodations.c1.exempt_flags", "is required"),
        (
            {"accommodations": {"c1": {"exempt_flags": [], "extra_time": 10}}},
            "accommodations.c1.extra_time",
            "is not allowed",
        ),
        (
            {"accommodations": {"c 1": {"exempt_flags": []}}},
            "accommodations.c 1",
            "non-space characters",
        ),
        ({"colour": "blue"}, "colour", "is not a policy field (allowed: exam_id,"),
    ],
)
def test_each_invalid_field_is_named(change, field, says):
    with pytest.raises(PolicyError) as info:
        parse_policy({**DESIGN_EXAMPLE, **change})
    assert info.value.field == field
    assert says in str(info.value)


def test_missing_exam_id_and_non_object():
    with pytest.raises(PolicyError, match="'exam_id' is required"):
        parse_policy({"trust_threshold": 0.5})
    with pytest.raises(PolicyError, match="must be a JSON object"):
        parse_policy(["exam_id"])


def test_lti_custom_parameters_are_strings():
    custom = {
        "exam_id": "CS101-final-2026",
        "trust_threshold": "0.65",
        "flags_enabled": "focus_loss, tab_switch",
        "log_retention_days": "14",
        "allow_mobile": "TRUE",
        "weights": "tab_switch:2,focus_loss:0.5",
        "environment": "staging",
        "canvas_course_id": "12345",
    }
    policy = policy_from_lti_custom(custom)
    assert policy.trust_threshold == 0.65
    assert policy.flags_enabled == {"focus_loss", "tab_switch"}
    assert policy.log_retention_days == 14 and policy.allow_mobile is True
    assert dict(policy.weights) == {"tab_switch": 2.0, "focus_loss": 0.5}


def test_lti_parameters_override_a_stored_policy():
    base = parse_policy(DESIGN_EXAMPLE)
    policy = policy_from_lti_custom({"trust_threshold": "0.9"}, base)
    assert policy.trust_threshold == 0.9 and policy.flags_enabled == base.flags_enabled


@pytest.mark.parametrize(
    ("custom", "field", "says"),
    [
        ({"trust_threshold": "high"}, "trust_threshold", "must be a number, got 'high'"),
        ({"trust_threshold": "7"}, "trust_threshold", "must be from 0 to 1"),
        ({"allow_mobile": "maybe"}, "allow_mobile", "true or false"),
        ({"log_retention_days": "30d"}, "log_retention_days", "whole number"),
        ({"flags_enabled": "focus_loss,webcam"}, "flags_enabled", "unknown flag 'webcam'"),
        ({"weights": "tab_switch=2"}, "weights", "'flag:weight' pairs"),
        ({"weights": "tab_switch:lots"}, "weights.tab_switch", "must be a number"),
        ({"trust_threshold": 0.5}, "trust_threshold", "must be a string custom parameter"),
    ],
)
def test_lti_errors_name_the_parameter(custom, field, says):
    with pytest.raises(PolicyError) as info:
        policy_from_lti_custom({"exam_id": "e1", **custom})
    assert info.value.field == field
    assert says in str(info.value)


def test_lti_without_exam_id_or_base_is_refused():
    with pytest.raises(PolicyError, match="'exam_id' is required"):
        policy_from_lti_custom({"trust_threshold": "0.5"})
