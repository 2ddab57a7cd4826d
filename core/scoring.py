"""Explainable trust scoring: per-flag penalties from counts and durations, combined as exp(-sum).

The score starts at 1.0. Each counted flag type contributes
``penalty = weight * min(cap, per_event * count + per_share * share_of_exam_time)`` and the trust
score is ``exp(-sum(penalties))``, so it stays in (0, 1], never rises when a violation is added
or lengthened, and every part of it can be read off the breakdown. ``sdk_gap`` is inferred from
the spacing of the liveness events (session_start, heartbeats, session_end) rather than taken
from the client's own ``sdk_gap`` events, so a client that hides a gap still shows it.

A declared break (``break_start`` .. ``break_end``) excuses the away episodes inside it (tab
switch, focus loss, full-screen exit) when it is one of the breaks the policy allows the
candidate and no longer than their ``max_minutes``; inside a break that runs over, what lies
beyond the allowance counts (each flag's time inside the break less the allowance, and its
episodes). Breaks beyond the allowed number excuse nothing. The policy decides at scoring time,
so the same log can be rescored under another policy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .events import FLAG_TYPES, Event
from .policy import MAX_BREAKS, Breaks, Policy

DEFAULT_HEARTBEAT_MS = 15_000
#: A gap between liveness events longer than this many heartbeat intervals is an sdk_gap.
GAP_TOLERANCE = 2
#: The flags a declared break excuses: being away from the exam is what a break is.
AWAY_FLAGS: tuple[str, ...] = ("tab_switch", "focus_loss", "fullscreen_exit")


@dataclass(frozen=True, slots=True)
class PenaltyRule:
    """How one flag type turns into a penalty (before the policy's weight)."""

    per_event: float
    per_share: float
    cap: float


#: Default rules. Devtools detection is unreliable in current browsers (window-size heuristics
#: misfire on docked panels and zoom, shortcuts can be remapped), so it is weighted low.
PENALTY_RULES: Mapping[str, PenaltyRule] = {
    "tab_switch": PenaltyRule(per_event=0.05, per_share=2.0, cap=1.5),
    "focus_loss": PenaltyRule(per_event=0.03, per_share=1.5, cap=1.0),
    "fullscreen_exit": PenaltyRule(per_event=0.03, per_share=1.0, cap=1.0),
    "devtools_open": PenaltyRule(per_event=0.02, per_share=0.2, cap=0.2),
    "copy_paste": PenaltyRule(per_event=0.04, per_share=0.0, cap=0.6),
    "multiple_displays": PenaltyRule(per_event=0.1, per_share=1.0, cap=1.0),
    "network_offline": PenaltyRule(per_event=0.01, per_share=0.5, cap=0.5),
    "print_attempt": PenaltyRule(per_event=0.1, per_share=0.0, cap=0.5),
    "context_menu": PenaltyRule(per_event=0.01, per_share=0.0, cap=0.1),
    "idle": PenaltyRule(per_event=0.0, per_share=0.3, cap=0.3),
    "sdk_gap": PenaltyRule(per_event=0.05, per_share=2.0, cap=1.5),
}


@dataclass(slots=True)
class DeclaredBreak:
    """One declared break: when it started and ended (None while it runs), and the away
    episodes inside it per flag, as [count, duration_ms]."""

    start: int
    end: int | None = None
    away: dict[str, list[int]] = field(default_factory=dict)

    def length(self, exam_ms: int) -> int:
        return (self.end if self.end is not None else exam_ms) - self.start

    def to_list(self) -> list[Any]:
        return [self.start, self.end, {k: list(v) for k, v in self.away.items()}]


class Tally:
    """Running totals per flag type; feed it events one at a time (live) or a whole log."""

    __slots__ = ("counts", "durations", "exam_ms", "heartbeat_ms", "breaks", "_last_live_t")

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(FLAG_TYPES, 0)
        self.durations: dict[str, int] = dict.fromkeys(FLAG_TYPES, 0)
        self.exam_ms = 0
        self.heartbeat_ms = DEFAULT_HEARTBEAT_MS
        #: Declared breaks, at most MAX_BREAKS (a later one excuses nothing under any policy).
        self.breaks: list[DeclaredBreak] = []
        self._last_live_t: int | None = None

    @property
    def on_break(self) -> bool:
        return bool(self.breaks) and self.breaks[-1].end is None

    def add(self, event: Event) -> None:
        """Account for one event (events must come in log order)."""
        kind, data = event.type, event.data
        self.exam_ms = max(self.exam_ms, event.t)
        if kind in ("session_start", "heartbeat", "session_end"):
            if kind == "session_start":
                self.heartbeat_ms = data["heartbeat_ms"]
            self.mark_alive(event.t)
        elif kind == "break_start":
            if not self.on_break and len(self.breaks) < MAX_BREAKS:
                self.breaks.append(DeclaredBreak(event.t))
        elif kind == "break_end":
            if self.on_break:
                self.breaks[-1].end = event.t
        elif kind in AWAY_FLAGS and self.on_break:
            part = self.breaks[-1].away.setdefault(kind, [0, 0])
            part[0] += 1
            part[1] += data.get("duration_ms", 0)
        elif kind in FLAG_TYPES and kind != "sdk_gap":
            # One event is one incident: a debounced burst counts once (its data.count is detail).
            self.counts[kind] += 1
            self.durations[kind] += data.get("duration_ms", 0)

    def mark_alive(self, t: int) -> None:
        """Record a liveness event at ``t``; a long silence before it counts as an sdk_gap."""
        self.exam_ms = max(self.exam_ms, t)
        last, self._last_live_t = self._last_live_t, t
        if last is not None and t - last > GAP_TOLERANCE * self.heartbeat_ms:
            self.counts["sdk_gap"] += 1
            self.durations["sdk_gap"] += t - last - self.heartbeat_ms

    def copy(self) -> Tally:
        """An independent copy (to score "as if" without changing the running totals)."""
        other = Tally()
        other.counts, other.durations = dict(self.counts), dict(self.durations)
        other.exam_ms, other.heartbeat_ms = self.exam_ms, self.heartbeat_ms
        other.breaks = [_break_from(b.to_list()) for b in self.breaks]
        other._last_live_t = self._last_live_t
        return other

    def to_dict(self) -> dict[str, object]:
        """JSON-ready state, so a server can keep running totals between batches."""
        return {
            "counts": self.counts,
            "durations": self.durations,
            "exam_ms": self.exam_ms,
            "heartbeat_ms": self.heartbeat_ms,
            "last_live_t": self._last_live_t,
            "breaks": [b.to_list() for b in self.breaks],
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Tally:
        """Rebuild a tally saved with :meth:`to_dict`."""
        tally = cls()
        tally.counts.update({k: int(v) for k, v in state["counts"].items() if k in tally.counts})
        tally.durations.update(
            {k: int(v) for k, v in state["durations"].items() if k in tally.durations}
        )
        tally.exam_ms, tally.heartbeat_ms = int(state["exam_ms"]), int(state["heartbeat_ms"])
        last = state["last_live_t"]
        tally._last_live_t = None if last is None else int(last)
        tally.breaks = [_break_from(b) for b in state.get("breaks", [])[:MAX_BREAKS]]
        return tally

    @classmethod
    def of(cls, events: Iterable[Event]) -> Tally:
        """The tally of a whole log."""
        tally = cls()
        for event in events:
            tally.add(event)
        return tally


def _break_from(raw: Any) -> DeclaredBreak:
    start, end, away = raw
    return DeclaredBreak(
        int(start),
        None if end is None else int(end),
        {k: [int(v[0]), int(v[1])] for k, v in away.items() if k in AWAY_FLAGS},
    )


@dataclass(frozen=True, slots=True)
class BreakScore:
    """One declared break as scored: allowed (within the number the policy gives), how long,
    and how far past the allowance it ran."""

    start: int
    duration_ms: int
    allowed: bool
    over_ms: int

    def explain(self) -> str:
        text = f"declared break of {format_duration(self.duration_ms)}"
        if not self.allowed:
            return text + ": more breaks than allowed, time away in it counted"
        if self.over_ms:
            return text + f": {format_duration(self.over_ms)} over the allowance, counted"
        return text + ": time away in it not counted"


@dataclass(frozen=True, slots=True)
class FlagScore:
    """One line of the breakdown: what was seen of a flag type and what it cost."""

    flag: str
    count: int
    duration_ms: int
    penalty: float
    counted: bool
    why_not_counted: str = ""
    #: Episodes inside declared breaks, not counted (AWAY_FLAGS only).
    excused_count: int = 0
    excused_ms: int = 0

    def explain(self) -> str:
        """The line in words, e.g. "tab switched 4 times for 2 min 10 s in total: penalty 0.21"."""
        what = _PHRASES[self.flag]
        times = "once" if self.count == 1 else f"{self.count} times"
        text = f"{what} {times}"
        if self.duration_ms:
            text += f" for {format_duration(self.duration_ms)} in total"
        if self.excused_count:
            text += f" (and {self.excused_count} during declared breaks, not counted)"
        if not self.counted:
            return f"{text}: not counted ({self.why_not_counted})"
        return f"{text}: penalty {self.penalty:.2f}"


@dataclass(frozen=True, slots=True)
class TrustScore:
    """The trust score of a log under a policy, with its breakdown."""

    score: float
    flagged: bool
    threshold: float
    exam_ms: int
    breakdown: tuple[FlagScore, ...]
    breaks: tuple[BreakScore, ...] = ()

    @property
    def score_milli(self) -> int:
        """The score in thousandths, the form a client reports and the server compares."""
        return round(self.score * 1000)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form for APIs and reports."""
        return {
            "score": self.score,
            "score_milli": self.score_milli,
            "flagged": self.flagged,
            "threshold": self.threshold,
            "exam_ms": self.exam_ms,
            "breakdown": [
                {
                    "flag": f.flag,
                    "count": f.count,
                    "duration_ms": f.duration_ms,
                    "penalty": f.penalty,
                    "counted": f.counted,
                    "why_not_counted": f.why_not_counted,
                    "excused_count": f.excused_count,
                    "excused_ms": f.excused_ms,
                    "explanation": f.explain(),
                }
                for f in self.breakdown
            ],
            "breaks": [
                {
                    "start": b.start,
                    "duration_ms": b.duration_ms,
                    "allowed": b.allowed,
                    "over_ms": b.over_ms,
                    "explanation": b.explain(),
                }
                for b in self.breaks
            ],
        }


_PHRASES = {
    "tab_switch": "tab switched",
    "focus_loss": "window lost focus",
    "fullscreen_exit": "left full screen",
    "devtools_open": "developer tools possibly opened",
    "copy_paste": "copied, cut or pasted",
    "multiple_displays": "extra display connected",
    "network_offline": "went offline",
    "print_attempt": "tried to print",
    "context_menu": "opened the context menu",
    "idle": "was idle",
    "sdk_gap": "proctoring stopped reporting",
}


def format_duration(ms: int) -> str:
    """Human form of a duration: "850 ms", "12 s", "2 min 10 s", "1 h 5 min"."""
    if ms < 1000:
        return f"{ms} ms"
    seconds = round(ms / 1000)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _add(totals: dict[str, list[int]], flag: str, count: int, duration: int) -> None:
    part = totals.setdefault(flag, [0, 0])
    part[0] += count
    part[1] += duration


def _breaks(
    tally: Tally, allowance: Breaks
) -> tuple[tuple[BreakScore, ...], dict[str, list[int]], dict[str, list[int]]]:
    """The breaks as scored, and per away flag what they excuse and what still counts, as
    [count, duration_ms]."""
    limit = allowance.max_minutes * 60_000
    scored: list[BreakScore] = []
    excused: dict[str, list[int]] = {}
    counts: dict[str, list[int]] = {}
    for index, declared in enumerate(tally.breaks):
        length = max(0, declared.length(tally.exam_ms))
        allowed = index < allowance.count
        over = max(0, length - limit) if allowed else length
        scored.append(BreakScore(declared.start, length, allowed, over))
        for flag, (count, duration) in declared.away.items():
            # Beyond the allowance (or in a break not allowed) time away counts again.
            kept = duration if not allowed else max(0, duration - limit)
            if kept:
                _add(counts, flag, count, kept)
                _add(excused, flag, 0, duration - kept)
            else:
                _add(excused, flag, count, duration)
    return tuple(scored), excused, counts


def score_tally(tally: Tally, policy: Policy, candidate: str | None = None) -> TrustScore:
    """Score running totals under ``policy``; ``candidate`` selects their accommodations."""
    counted = policy.counted_flags(candidate)
    exempt = policy.flags_enabled - counted
    exam_ms = max(tally.exam_ms, 1)
    breaks, excused, in_breaks = _breaks(tally, policy.breaks_for(candidate))
    lines: list[FlagScore] = []
    total = 0.0
    for flag in FLAG_TYPES:
        extra = in_breaks.get(flag, (0, 0))
        count, duration = tally.counts[flag] + extra[0], tally.durations[flag] + extra[1]
        spared = excused.get(flag, (0, 0))
        if not count and not duration and not spared[0] and not spared[1]:
            continue
        if flag not in counted:
            why = "accommodation" if flag in exempt else "not enabled in the policy"
            lines.append(FlagScore(flag, count, duration, 0.0, False, why, *spared))
            continue
        rule = PENALTY_RULES[flag]
        share = min(duration / exam_ms, 1.0)
        raw = rule.per_event * count + rule.per_share * share
        penalty = policy.weight(flag) * min(rule.cap, raw)
        total += penalty
        lines.append(FlagScore(flag, count, duration, penalty, True, "", *spared))
    score = math.exp(-total)
    threshold = policy.trust_threshold
    return TrustScore(score, score < threshold, threshold, exam_ms, tuple(lines), breaks)


def score_log(events: Iterable[Event], policy: Policy, candidate: str | None = None) -> TrustScore:
    """Score a (verified) log under ``policy``."""
    return score_tally(Tally.of(events), policy, candidate)
