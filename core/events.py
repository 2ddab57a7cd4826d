"""The event model: the event types, the metadata each may carry, and validation of events."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .encoding import MAX_SAFE_INTEGER, canonical_encode, encode_checked
from .errors import EventValidationError

#: Event types that are integrity flags: these are what a policy enables and scoring penalises.
FLAG_TYPES: tuple[str, ...] = (
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
    "sdk_gap",
)

#: Bookkeeping event types: they structure the log and are never penalised themselves.
LIFECYCLE_TYPES: tuple[str, ...] = ("session_start", "heartbeat", "session_end")

#: What the student did through the SDK panel: agreed to the notice, declared a break. Never
#: penalised; a declared break excuses the time away inside it (core/scoring.py).
STUDENT_TYPES: tuple[str, ...] = ("consent", "break_start", "break_end")

EVENT_TYPES: tuple[str, ...] = LIFECYCLE_TYPES + STUDENT_TYPES + FLAG_TYPES

#: The fields of a wire event, in the order they are documented.
EVENT_FIELDS: tuple[str, ...] = ("seq", "t", "type", "data", "prev", "mac")
_EVENT_FIELD_SET = frozenset(EVENT_FIELDS)

_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_TEXT = 64

# A field check returns None when the value is fine, else the end of the sentence
# "field 'data.x' ..." saying what is allowed.
_Check = Callable[[Any], "str | None"]


def _is_int(value: Any) -> bool:
    return type(value) is int


def _non_negative(value: Any) -> str | None:
    if _is_int(value) and 0 <= value <= MAX_SAFE_INTEGER:
        return None
    return "must be a non-negative integer (milliseconds)"


def _positive(value: Any) -> str | None:
    if _is_int(value) and 1 <= value <= MAX_SAFE_INTEGER:
        return None
    return "must be a positive integer"


def _screens(value: Any) -> str | None:
    if value is None or (_is_int(value) and 1 <= value <= 64):
        return None
    return "must be null (unknown) or an integer from 1 to 64"


def _text(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= _MAX_TEXT and value.isprintable():
        return None
    return f"must be a printable string of 1 to {_MAX_TEXT} characters"


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _hex64(value: Any) -> str | None:
    if isinstance(value, str) and _HEX64.fullmatch(value):
        return None
    return "must be 64 lowercase hexadecimal characters (a SHA-256 digest)"


def _milli(value: Any) -> str | None:
    if _is_int(value) and 0 <= value <= 1000:
        return None
    return "must be an integer from 0 to 1000 (the score in thousandths)"


def _one_of(*allowed: str) -> _Check:
    def check(value: Any) -> str | None:
        if value in allowed and isinstance(value, str):
            return None
        return "must be one of " + ", ".join(repr(a) for a in allowed)

    return check


@dataclass(frozen=True, slots=True)
class _Field:
    check: _Check
    required: bool = True


_EPISODE = {"duration_ms": _Field(_non_negative), "count": _Field(_positive)}

#: The metadata fields each event type carries. Durations and counts only: never content.
DATA_FIELDS: Mapping[str, Mapping[str, _Field]] = {
    "session_start": {
        "sdk_version": _Field(_text),
        "browser": _Field(_text),
        "browser_version": _Field(_text),
        "engine": _Field(_text),
        "platform": _Field(_text),
        "mobile": _Field(_flag),
        "screens": _Field(_screens, required=False),
        "heartbeat_ms": _Field(_positive),
    },
    "heartbeat": {},
    "session_end": {
        "count": _Field(_non_negative),
        "reason": _Field(_one_of("finished", "time_up", "closed")),
        "score_milli": _Field(_milli, required=False),
    },
    # notice: SHA-256 of the notice the student was shown (server/notice.py); mode: whether they
    # clicked "I agree" (required) or were shown it without a click (notice).
    "consent": {"notice": _Field(_hex64), "mode": _Field(_one_of("required", "notice"))},
    "break_start": {},
    "break_end": {"duration_ms": _Field(_non_negative)},
    "tab_switch": _EPISODE,
    "focus_loss": _EPISODE,
    "fullscreen_exit": _EPISODE,
    "devtools_open": {**_EPISODE, "via": _Field(_one_of("shortcut", "window_size"))},
    "copy_paste": {"action": _Field(_one_of("copy", "cut", "paste")), "count": _Field(_positive)},
    "multiple_displays": _EPISODE,
    "network_offline": _EPISODE,
    "print_attempt": {"count": _Field(_positive)},
    "context_menu": {"count": _Field(_positive)},
    "idle": _EPISODE,
    "sdk_gap": {"duration_ms": _Field(_non_negative), "missed": _Field(_positive)},
}


@dataclass(frozen=True, slots=True)
class Event:
    """One signed event of the log. ``prev`` and ``mac`` are lowercase hex HMAC-SHA256 values."""

    seq: int
    t: int
    type: str
    data: Mapping[str, Any]
    prev: str
    mac: str

    def signing_bytes(self) -> bytes:
        """The canonical bytes the MAC covers: every field except ``mac``."""
        return signing_bytes(self.seq, self.t, self.type, self.data, self.prev)

    def to_dict(self) -> dict[str, Any]:
        """The wire form of the event (a plain JSON-ready dict)."""
        return {
            "seq": self.seq,
            "t": self.t,
            "type": self.type,
            "data": dict(self.data),
            "prev": self.prev,
            "mac": self.mac,
        }


def signing_bytes(seq: int, t: int, event_type: str, data: Mapping[str, Any], prev: str) -> bytes:
    """Canonical encoding of the signed fields of an event."""
    return canonical_encode({"seq": seq, "t": t, "type": event_type, "data": data, "prev": prev})


def checked_signing_bytes(
    seq: int, t: int, event_type: str, data: Mapping[str, Any], prev: str
) -> bytes:
    """:func:`signing_bytes` for fields that :func:`validate_event` or :func:`check_data` passed.

    Those fields need no escaping (a known type name, 64 hex digits, integers), so the canonical
    object is written directly, its keys already in sorted order; only ``data`` goes through
    the encoder. Golden vectors and a property test pin it to :func:`signing_bytes`.
    """
    body = encode_checked(data) if data else b"{}"
    return _SIGNED % (body, prev.encode("ascii"), seq, t, event_type.encode("ascii"))


_SIGNED = b'{"data":%s,"prev":"%s","seq":%d,"t":%d,"type":"%s"}'


def check_data(event_type: str, data: Any, index: int = 0) -> dict[str, Any]:
    """Validate the ``data`` object of an event of ``event_type``; return it as a plain dict.

    Raises :class:`EventValidationError` naming the event index and the field.
    """
    spec = DATA_FIELDS.get(event_type) if isinstance(event_type, str) else None
    if spec is None:
        raise EventValidationError(
            index, "type", f"must be one of the known event types, got {event_type!r}"
        )
    if type(data) is not dict and not isinstance(data, Mapping):
        raise EventValidationError(index, "data", "must be an object")
    for key in data:
        if key not in spec:
            allowed = ", ".join(spec) or "none"
            raise EventValidationError(
                index,
                f"data.{key}",
                f"is not a field of {event_type!r} events (allowed: {allowed})",
            )
    for key, field in spec.items():
        if key not in data:
            if field.required:
                raise EventValidationError(index, f"data.{key}", "is required")
            continue
        problem = field.check(data[key])
        if problem is not None:
            raise EventValidationError(index, f"data.{key}", problem)
    return dict(data)


def _check_event_keys(raw: Mapping[str, Any], index: int) -> None:
    for key in raw:
        if key not in EVENT_FIELDS:
            raise EventValidationError(
                index, str(key), "is not an event field (allowed: " + ", ".join(EVENT_FIELDS) + ")"
            )
    for key in EVENT_FIELDS:
        if key not in raw:
            raise EventValidationError(index, key, "is required")


def validate_event(raw: Any, index: int = 0) -> Event:
    """Check one wire event against the contract and return it as an :class:`Event`.

    Unknown types, unexpected fields, missing fields and malformed values are refused with an
    :class:`EventValidationError` that names ``index`` and the field.
    """
    if type(raw) is not dict and not isinstance(raw, Mapping):
        raise EventValidationError(index, "(event)", "must be an object")
    if raw.keys() != _EVENT_FIELD_SET:
        _check_event_keys(raw, index)
    seq, t = raw["seq"], raw["t"]
    if not _is_int(seq) or not 0 <= seq <= MAX_SAFE_INTEGER:
        raise EventValidationError(index, "seq", "must be a non-negative integer")
    if _non_negative(t) is not None:
        raise EventValidationError(index, "t", "must be a non-negative integer (ms since start)")
    data = check_data(raw["type"], raw["data"], index)
    for key in ("prev", "mac"):
        value = raw[key]
        if not isinstance(value, str) or _HEX64.fullmatch(value) is None:
            raise EventValidationError(index, key, "must be 64 lowercase hexadecimal characters")
    return Event(seq, t, raw["type"], data, raw["prev"], raw["mac"])
