"""Exam policies: parsing and validation of the policy JSON and of LTI custom parameters."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import PolicyError
from .events import FLAG_TYPES

ENVIRONMENTS = ("staging", "production")
_EXAM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
_CANDIDATE_ID = re.compile(r"[^\s]{1,128}")
MAX_WEIGHT = 10.0
MAX_RETENTION_DAYS = 3650
#: The attention threshold when a policy sets none (raised to trust_threshold when that is higher).
DEFAULT_ATTENTION = 0.85
#: The bands of a score: at or above the attention threshold, between the two, below the
#: trust threshold (flagged).
BANDS = ("green", "yellow", "red")
#: ``required``: the exam starts after "I agree" (a signed consent event); ``notice``: the
#: notice is shown and recorded without a click; ``off``: the integrator shows its own.
CONSENT_MODES = ("required", "notice", "off")
#: What ``prevent`` may block in the exam page (each attempt is still recorded).
PREVENTABLE = ("copy", "paste", "context_menu", "print")
MAX_BREAKS = 20
MAX_EXPLANATION_DAYS = 60
MAX_BREAK_MINUTES = 240


@dataclass(frozen=True, slots=True)
class Breaks:
    """Declared breaks a student may take: how many, and how long each may last."""

    count: int = 0
    max_minutes: int = 10

    def to_dict(self) -> dict[str, int]:
        return {"count": self.count, "max_minutes": self.max_minutes}


@dataclass(frozen=True, slots=True)
class Accommodation:
    """What one candidate is exempt from (for example focus_loss for a screen-reader user)."""

    exempt_flags: frozenset[str] = frozenset()
    note: str = ""
    #: Breaks this candidate may take instead of the exam's (None: the exam's).
    breaks: Breaks | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """The validated integrity policy of one exam. Build it with :func:`parse_policy`."""

    exam_id: str
    trust_threshold: float = 0.7
    flags_enabled: frozenset[str] = frozenset(FLAG_TYPES)
    log_retention_days: int = 30
    allow_mobile: bool = False
    weights: Mapping[str, float] = field(default_factory=dict)
    environment: str = "production"
    heartbeat_seconds: int = 15
    accommodations: Mapping[str, Accommodation] = field(default_factory=dict)
    #: Below it (and at or above ``trust_threshold``) a session is worth a look: the yellow
    #: band. None: :data:`DEFAULT_ATTENTION`, or ``trust_threshold`` when that is higher.
    attention_threshold: float | None = None
    consent: str = "required"
    #: A short, calm message when a counted flag happens (never blocking the exam).
    visible_warnings: bool = True
    breaks: Breaks = field(default_factory=Breaks)
    prevent: frozenset[str] = frozenset()
    #: For how many days after the exam the student may explain a flagged episode (0: never).
    explanation_days: int = 7

    @property
    def attention(self) -> float:
        """The attention threshold in effect (never below ``trust_threshold``)."""
        chosen = DEFAULT_ATTENTION if self.attention_threshold is None else self.attention_threshold
        return max(chosen, self.trust_threshold)

    def band(self, score: float) -> str:
        """``green`` (at or above the attention threshold), ``yellow`` (below it, not
        flagged) or ``red`` (below ``trust_threshold``: flagged)."""
        if score < self.trust_threshold:
            return "red"
        return "yellow" if score < self.attention else "green"

    def counted_flags(self, candidate: str | None = None) -> frozenset[str]:
        """The flag types that count for ``candidate``: enabled and not exempted."""
        accommodation = self.accommodations.get(candidate) if candidate is not None else None
        if accommodation is None:
            return self.flags_enabled
        return self.flags_enabled - accommodation.exempt_flags

    def breaks_for(self, candidate: str | None = None) -> Breaks:
        """The breaks ``candidate`` may declare: their accommodation's, else the exam's."""
        accommodation = self.accommodations.get(candidate) if candidate is not None else None
        if accommodation is not None and accommodation.breaks is not None:
            return accommodation.breaks
        return self.breaks

    def weight(self, flag: str) -> float:
        """The policy's multiplier for ``flag`` (1.0 unless the policy sets one)."""
        return self.weights.get(flag, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, the same shape :func:`parse_policy` reads (flags in a stable order)."""
        return {
            "exam_id": self.exam_id,
            "trust_threshold": self.trust_threshold,
            "attention_threshold": self.attention_threshold,
            "flags_enabled": [f for f in FLAG_TYPES if f in self.flags_enabled],
            "log_retention_days": self.log_retention_days,
            "allow_mobile": self.allow_mobile,
            "weights": {f: self.weights[f] for f in FLAG_TYPES if f in self.weights},
            "environment": self.environment,
            "heartbeat_seconds": self.heartbeat_seconds,
            "accommodations": {
                candidate: _accommodation_dict(acc)
                for candidate, acc in sorted(self.accommodations.items())
            },
            "consent": self.consent,
            "visible_warnings": self.visible_warnings,
            "breaks": self.breaks.to_dict(),
            "prevent": [p for p in PREVENTABLE if p in self.prevent],
            "explanation_days": self.explanation_days,
        }


def _accommodation_dict(acc: Accommodation) -> dict[str, Any]:
    out: dict[str, Any] = {
        "exempt_flags": [f for f in FLAG_TYPES if f in acc.exempt_flags],
        "note": acc.note,
    }
    if acc.breaks is not None:
        out["breaks"] = acc.breaks.to_dict()
    return out


# -- one small validator per field; each raises PolicyError naming the field -------------------


def _exam_id(value: Any, name: str = "exam_id") -> str:
    if isinstance(value, str) and _EXAM_ID.fullmatch(value):
        return value
    raise PolicyError(
        name,
        "must be 1 to 128 characters: letters, digits and . _ : - (starting with a letter or "
        f"digit), got {value!r}",
    )


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PolicyError(name, f"must be a number from {low:g} to {high:g}, got {value!r}")
    if not low <= value <= high:
        raise PolicyError(name, f"must be from {low:g} to {high:g}, got {value!r}")
    return float(value)


def _integer(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PolicyError(name, f"must be a whole number from {low} to {high}, got {value!r}")
    return value


def _boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    raise PolicyError(name, f"must be true or false, got {value!r}")


def _flag_list(value: Any, name: str) -> frozenset[str]:
    if not isinstance(value, list | tuple):
        raise PolicyError(name, f"must be a list of flag types, got {value!r}")
    seen: set[str] = set()
    for item in value:
        if item not in FLAG_TYPES:
            raise PolicyError(
                name, f"holds unknown flag {item!r}; known flags: " + ", ".join(FLAG_TYPES)
            )
        if item in seen:
            raise PolicyError(name, f"lists {item!r} twice")
        seen.add(item)
    return frozenset(seen)


def _weights(value: Any, name: str = "weights") -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise PolicyError(name, "must be an object mapping flag types to numbers")
    out: dict[str, float] = {}
    for flag, weight in value.items():
        if flag not in FLAG_TYPES:
            raise PolicyError(
                f"{name}.{flag}", "is not a known flag; known flags: " + ", ".join(FLAG_TYPES)
            )
        out[flag] = _number(weight, f"{name}.{flag}", 0.0, MAX_WEIGHT)
    return out


def _environment(value: Any, name: str = "environment") -> str:
    if value in ENVIRONMENTS and isinstance(value, str):
        return value
    raise PolicyError(name, f"must be 'staging' or 'production', got {value!r}")


def _accommodations(value: Any, name: str = "accommodations") -> dict[str, Accommodation]:
    if not isinstance(value, Mapping):
        raise PolicyError(name, "must be an object mapping candidate ids to accommodations")
    out: dict[str, Accommodation] = {}
    for candidate, entry in value.items():
        where = f"{name}.{candidate}"
        if not isinstance(candidate, str) or not _CANDIDATE_ID.fullmatch(candidate):
            raise PolicyError(where, "candidate id must be 1 to 128 non-space characters")
        if not isinstance(entry, Mapping):
            raise PolicyError(
                where, "must be an object with 'exempt_flags' and optional 'note' and 'breaks'"
            )
        extra = set(entry) - {"exempt_flags", "note", "breaks"}
        if extra:
            raise PolicyError(
                f"{where}.{sorted(extra)[0]}",
                "is not allowed (allowed: exempt_flags, note, breaks)",
            )
        if "exempt_flags" not in entry:
            raise PolicyError(f"{where}.exempt_flags", "is required")
        note = entry.get("note", "")
        if not isinstance(note, str) or len(note) > 500:
            raise PolicyError(f"{where}.note", "must be a string of at most 500 characters")
        exempt = _flag_list(entry["exempt_flags"], f"{where}.exempt_flags")
        breaks = _breaks(entry["breaks"], f"{where}.breaks") if "breaks" in entry else None
        out[candidate] = Accommodation(exempt, note, breaks)
    return out


def _breaks(value: Any, name: str = "breaks") -> Breaks:
    if not isinstance(value, Mapping):
        raise PolicyError(name, "must be an object with 'count' and 'max_minutes'")
    extra = set(value) - {"count", "max_minutes"}
    if extra:
        raise PolicyError(
            f"{name}.{sorted(extra)[0]}", "is not allowed (allowed: count, max_minutes)"
        )
    count = _integer(value.get("count", 0), f"{name}.count", 0, MAX_BREAKS)
    minutes = _integer(value.get("max_minutes", 10), f"{name}.max_minutes", 1, MAX_BREAK_MINUTES)
    return Breaks(count, minutes)


def _consent(value: Any, name: str = "consent") -> str:
    if value in CONSENT_MODES and isinstance(value, str):
        return value
    raise PolicyError(name, f"must be 'required', 'notice' or 'off', got {value!r}")


def _prevent(value: Any, name: str = "prevent") -> frozenset[str]:
    if not isinstance(value, list | tuple):
        raise PolicyError(name, f"must be a list of actions to block, got {value!r}")
    for item in value:
        if item not in PREVENTABLE:
            raise PolicyError(
                name, f"holds unknown action {item!r}; known actions: " + ", ".join(PREVENTABLE)
            )
    if len(set(value)) != len(value):
        raise PolicyError(name, "lists an action twice")
    return frozenset(value)


def _attention(value: Any, name: str = "attention_threshold") -> float | None:
    return None if value is None else _number(value, name, 0.0, 1.0)


_FIELDS: Mapping[str, Callable[[Any], Any]] = {
    "exam_id": _exam_id,
    "trust_threshold": lambda v: _number(v, "trust_threshold", 0.0, 1.0),
    "attention_threshold": _attention,
    "flags_enabled": lambda v: _flag_list(v, "flags_enabled"),
    "log_retention_days": lambda v: _integer(v, "log_retention_days", 1, MAX_RETENTION_DAYS),
    "allow_mobile": lambda v: _boolean(v, "allow_mobile"),
    "weights": _weights,
    "environment": _environment,
    "heartbeat_seconds": lambda v: _integer(v, "heartbeat_seconds", 5, 300),
    "accommodations": _accommodations,
    "consent": _consent,
    "visible_warnings": lambda v: _boolean(v, "visible_warnings"),
    "breaks": _breaks,
    "prevent": _prevent,
    "explanation_days": lambda v: _integer(v, "explanation_days", 0, MAX_EXPLANATION_DAYS),
}


def parse_policy(raw: Any) -> Policy:
    """Validate a policy object (the JSON of DESIGN.md) and return a :class:`Policy`.

    Every invalid or unknown field raises :class:`PolicyError` naming the field and what is
    allowed. Fields left out take the defaults of :class:`Policy`.
    """
    if not isinstance(raw, Mapping):
        raise PolicyError("(policy)", "must be a JSON object")
    for key in raw:
        if key not in _FIELDS:
            allowed = ", ".join(_FIELDS)
            raise PolicyError(str(key), f"is not a policy field (allowed: {allowed})")
    if "exam_id" not in raw:
        raise PolicyError("exam_id", "is required")
    policy = Policy(**{key: _FIELDS[key](value) for key, value in raw.items()})
    attention = policy.attention_threshold
    if attention is not None and attention < policy.trust_threshold:
        raise PolicyError(
            "attention_threshold",
            f"must be at least trust_threshold ({policy.trust_threshold:g}), got {attention:g}",
        )
    return policy


# -- LTI custom parameters: every value arrives as a string -----------------------------------

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _lti_bool(text: str, name: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise PolicyError(name, f"must be true or false (or 1/0, yes/no), got {text!r}")


def _lti_number(text: str, name: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise PolicyError(name, f"must be a number, got {text!r}") from None


def _lti_integer(text: str, name: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise PolicyError(name, f"must be a whole number, got {text!r}") from None


def _lti_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _lti_breaks(text: str, name: str) -> dict[str, int]:
    count, sep, minutes = text.strip().partition(":")
    if not sep:
        raise PolicyError(name, f"must be 'count:max_minutes' (for example 2:10), got {text!r}")
    return {
        "count": _lti_integer(count, f"{name}.count"),
        "max_minutes": _lti_integer(minutes, f"{name}.max_minutes"),
    }


def _lti_weights(text: str, name: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in _lti_list(text):
        flag, sep, number = item.partition(":")
        if not sep:
            raise PolicyError(name, f"must be comma-separated 'flag:weight' pairs, got {item!r}")
        out[flag.strip()] = _lti_number(number, f"{name}.{flag.strip()}")
    return out


_LTI_CONVERTERS: Mapping[str, Callable[[str, str], Any]] = {
    "exam_id": lambda text, name: text.strip(),
    "trust_threshold": _lti_number,
    "attention_threshold": _lti_number,
    "flags_enabled": lambda text, name: _lti_list(text),
    "log_retention_days": _lti_integer,
    "allow_mobile": _lti_bool,
    "weights": _lti_weights,
    "environment": lambda text, name: text.strip(),
    "heartbeat_seconds": _lti_integer,
    "consent": lambda text, name: text.strip(),
    "visible_warnings": _lti_bool,
    "breaks": _lti_breaks,
    "prevent": lambda text, name: _lti_list(text),
    "explanation_days": _lti_integer,
}


def policy_from_lti_custom(custom: Mapping[str, Any], base: Policy | None = None) -> Policy:
    """Apply LTI custom parameters (string values) on top of ``base`` and validate the result.

    Parameters that are not policy settings are ignored (an LMS sends many custom parameters);
    ``exam_id`` is required when there is no ``base``. Errors name the parameter.
    """
    merged: dict[str, Any] = base.to_dict() if base is not None else {}
    for name, convert in _LTI_CONVERTERS.items():
        if name not in custom:
            continue
        text = custom[name]
        if not isinstance(text, str):
            raise PolicyError(name, f"must be a string custom parameter, got {text!r}")
        merged[name] = convert(text, name)
    return parse_policy(merged)
