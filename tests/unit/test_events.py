"""The event model: every field is validated, errors name the event index and the field."""

from __future__ import annotations

import pytest

from openproctor.core import EVENT_TYPES, FLAG_TYPES, EventValidationError, validate_event

HEX = "a" * 64


def wire(**overrides):
    event = {
        "seq": 0,
        "t": 10,
        "type": "tab_switch",
        "data": {"duration_ms": 5, "count": 1},
        "prev": HEX,
        "mac": HEX,
    }
    event.update(overrides)
    return event


def test_types_are_those_of_the_design():
    assert set(EVENT_TYPES) == {
        "tab_switch",
        "focus_loss",
        "fullscreen_exit",
        "devtools_open",
        "copy_paste",
        "multiple_displays",
        "network_offline",
        "print_attempt",
        "context_menu",
        "idle",
        "heartbeat",
        "session_start",
        "session_end",
        "sdk_gap",
        # what the student does through the SDK panel (issue 17): never penalised
        "consent",
        "break_start",
        "break_end",
    }
    assert set(FLAG_TYPES) == set(EVENT_TYPES) - {
        "heartbeat",
        "session_start",
        "session_end",
        "consent",
        "break_start",
        "break_end",
    }


def test_valid_event_round_trips():
    event = validate_event(wire(), 0)
    assert event.to_dict() == wire()


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"type": "keystroke"}, "type", "must be one of the known event types"),
        ({"seq": -1}, "seq", "non-negative integer"),
        ({"seq": True}, "seq", "non-negative integer"),
        ({"t": 1.5}, "t", "non-negative integer"),
        ({"t": "10"}, "t", "non-negative integer"),
        ({"prev": "A" * 64}, "prev", "64 lowercase hexadecimal"),
        ({"mac": "ab"}, "mac", "64 lowercase hexadecimal"),
        ({"data": []}, "data", "must be an object"),
        ({"data": {"duration_ms": 5}}, "data.count", "is required"),
        ({"data": {"duration_ms": -5, "count": 1}}, "data.duration_ms", "non-negative integer"),
        ({"data": {"duration_ms": 5, "count": 0}}, "data.count", "positive integer"),
        ({"data": {"duration_ms": 5, "count": 1, "url": "x"}}, "data.url", "is not a field"),
        (
            {"type": "copy_paste", "data": {"action": "steal", "count": 1}},
            "data.action",
            "must be one of 'copy', 'cut', 'paste'",
        ),
        (
            {"type": "copy_paste", "data": {"action": "paste", "count": 1, "text": "answer"}},
            "data.text",
            "is not a field of 'copy_paste' events",
        ),
        (
            {
                "type": "session_end",
                "data": {"count": 3, "reason": "finished", "score_milli": 1001},
            },
            "data.score_milli",
            "0 to 1000",
        ),
        ({"type": "heartbeat", "data": {"beat": 1}}, "data.beat", "allowed: none"),
    ],
)
def test_each_invalid_field_is_named(overrides, field, says):
    with pytest.raises(EventValidationError) as info:
        validate_event(wire(**overrides), 7)
    assert info.value.index == 7
    assert info.value.field == field
    assert says in str(info.value)
    assert str(info.value).startswith(f"event 7: field {field!r}")


def test_unexpected_and_missing_top_level_fields():
    with pytest.raises(EventValidationError, match="field 'sid' is not an event field"):
        validate_event({**wire(), "sid": "x"}, 0)
    incomplete = wire()
    del incomplete["mac"]
    with pytest.raises(EventValidationError, match="field 'mac' is required"):
        validate_event(incomplete, 0)
    with pytest.raises(EventValidationError, match="must be an object"):
        validate_event(["not", "an", "event"], 0)


def test_session_start_text_fields_are_bounded():
    data = {
        "sdk_version": "0.1.0",
        "browser": "x" * 65,
        "browser_version": "1",
        "engine": "Blink",
        "platform": "Linux",
        "mobile": False,
        "heartbeat_ms": 15000,
    }
    with pytest.raises(EventValidationError, match="data.browser"):
        validate_event(wire(type="session_start", data=data), 0)
    data["browser"] = "Firefox"
    data["screens"] = None  # unknown screen count is allowed
    assert validate_event(wire(type="session_start", data=data), 0).data["screens"] is None
