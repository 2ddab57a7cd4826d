"""Normalisation: raw browser signals in, typed integrity events with durations out.

A raw signal is a small dict ``{"t": ms_since_start, "kind": ..., ...}`` made by the loader from
browser events, without any content (no keys typed, no clipboard text). The rules, each tested
with realistic signal sequences in tests/unit/test_normalise.py:

* tab switch vs focus loss: a ``blur`` followed by the page becoming hidden within
  ``blur_window_ms`` is part of the tab switch and counts once; focus changes while the page is
  hidden are ignored; a ``blur`` whose focus went into an iframe of the exam page is ignored.
* bursts are debounced: episodes (focus loss, tab switch, ...) that restart within ``merge_ms``
  of their end, and repeated clicks (copy, print, context menu) within ``merge_ms`` of each
  other, become one event whose ``count`` says how many parts it merged.
* a shortcut and the browser event it triggers (Ctrl+C then ``copy``) are one attempt.
* only a fixed set of shortcut combinations is recognised; every other key press is dropped.
* idle time (no input, pointer or clipboard action for ``idle_ms``) is counted only while the
  page is visible and focused.
* the absence of any signal for longer than two heartbeat intervals is an ``sdk_gap``.
* a declared break (``break`` signals from the SDK panel) cuts every away episode (tab switch,
  focus loss, full-screen exit) at its start and its end, so each episode's event lies wholly
  inside or wholly outside the break (scoring excuses the inside); idle time stops during it.

Event times are clamped so the output is monotonic: an episode's event is stamped at its end, or
up to ``merge_ms`` later when an event (a heartbeat) was signed while its debounce window was still
open. Its ``duration_ms`` is exact either way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import SignalError
from .scoring import DEFAULT_HEARTBEAT_MS, GAP_TOLERANCE


@dataclass(frozen=True, slots=True)
class Draft:
    """A typed event before signing: when, what, and its metadata."""

    t: int
    type: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NormaliserConfig:
    """Timing thresholds of the normalisation rules, in milliseconds (pixels for devtools)."""

    heartbeat_ms: int = DEFAULT_HEARTBEAT_MS
    merge_ms: int = 1_000
    blur_window_ms: int = 500
    dedupe_ms: int = 300
    idle_ms: int = 120_000
    devtools_px: int = 160


DEVTOOLS_COMBOS = frozenset(
    {
        "F12",
        "Ctrl+Shift+I",
        "Ctrl+Shift+J",
        "Ctrl+Shift+C",
        "Alt+Meta+I",
        "Alt+Meta+J",
        "Alt+Meta+C",
    }
)
_MODIFIERS = ("Ctrl", "Alt", "Shift", "Meta")
_CLIPBOARD = ("copy", "cut", "paste")
# Signals that show the student is at the keyboard (they end an idle period).
_USER_ACTIONS = frozenset({"activity", "pointer", "clipboard", "contextmenu", "shortcut", "print"})


def canonical_combo(combo: str) -> str:
    """Normalise a shortcut name: modifiers in the order Ctrl, Alt, Shift, Meta; key upper-case."""
    parts = [p.strip() for p in combo.split("+") if p.strip()]
    aliases = {
        "control": "Ctrl",
        "ctrl": "Ctrl",
        "alt": "Alt",
        "option": "Alt",
        "shift": "Shift",
        "meta": "Meta",
        "cmd": "Meta",
        "command": "Meta",
    }
    mods = {aliases[p.lower()] for p in parts if p.lower() in aliases}
    keys = [p.upper() for p in parts if p.lower() not in aliases]
    return "+".join([m for m in _MODIFIERS if m in mods] + keys)


def _shortcut_meaning(combo: str) -> tuple[str, str] | None:
    """What a recognised shortcut attempts: devtools, a clipboard action, or print."""
    if combo in DEVTOOLS_COMBOS:
        return ("devtools", "shortcut")
    for mod in ("Ctrl", "Meta"):
        for action, key in (("copy", "C"), ("cut", "X"), ("paste", "V")):
            if combo == f"{mod}+{key}":
                return ("clipboard", action)
        if combo == f"{mod}+P":
            return ("print", "print")
    return None


class _Episode:
    """An on/off condition (tab hidden, offline, ...) with debounced merging of quick repeats."""

    __slots__ = ("type", "extra", "open_since", "count", "total", "last_close")

    def __init__(self, type_: str, extra: Mapping[str, Any] | None = None) -> None:
        self.type = type_
        self.extra = dict(extra or {})
        self.open_since: int | None = None
        self.count = 0
        self.total = 0
        self.last_close: int | None = None

    @property
    def is_open(self) -> bool:
        return self.open_since is not None

    def open(self, t: int, merge_ms: int, out: list[Draft]) -> None:
        if self.is_open:
            return
        if self.last_close is not None and t - self.last_close > merge_ms:
            self._emit(out)
        self.open_since = t
        self.count += 1

    def close(self, t: int) -> None:
        if self.open_since is None:
            return
        self.total += t - self.open_since
        self.open_since = None
        self.last_close = t

    def cancel(self) -> None:
        """Forget the part that is open (it turned out to belong to another episode)."""
        if self.open_since is None:
            return
        self.open_since = None
        self.count -= 1
        if self.count == 0:
            self.total, self.last_close = 0, None

    def due(self, now: int, merge_ms: int, out: list[Draft]) -> None:
        if not self.is_open and self.last_close is not None and now - self.last_close > merge_ms:
            self._emit(out)

    def finish(self, now: int, out: list[Draft]) -> None:
        self.close(now)
        if self.last_close is not None:
            self._emit(out)

    def _emit(self, out: list[Draft]) -> None:
        assert self.last_close is not None
        data = {**self.extra, "duration_ms": self.total, "count": self.count}
        out.append(Draft(self.last_close, self.type, data))
        self.count, self.total, self.last_close = 0, 0, None


class _Burst:
    """Repeated one-off actions (copy, print, context menu) merged while they come quickly."""

    __slots__ = ("type", "extra", "count", "last_hit")

    def __init__(self, type_: str, extra: Mapping[str, Any] | None = None) -> None:
        self.type = type_
        self.extra = dict(extra or {})
        self.count = 0
        self.last_hit = 0

    def hit(self, t: int, merge_ms: int, out: list[Draft]) -> None:
        if self.count and t - self.last_hit > merge_ms:
            self._emit(out)
        self.count += 1
        self.last_hit = t

    def due(self, now: int, merge_ms: int, out: list[Draft]) -> None:
        if self.count and now - self.last_hit > merge_ms:
            self._emit(out)

    def finish(self, now: int, out: list[Draft]) -> None:
        if self.count:
            self._emit(out)

    def _emit(self, out: list[Draft]) -> None:
        data = dict(self.extra)
        if self.type == "devtools_open":
            data["duration_ms"] = 0
        data["count"] = self.count
        out.append(Draft(self.last_hit, self.type, data))
        self.count = 0


def _flag(signal: Mapping[str, Any], name: str) -> bool:
    value = signal.get(name)
    if not isinstance(value, bool):
        raise SignalError(name, "must be true or false")
    return value


def _pixels(signal: Mapping[str, Any], name: str) -> float:
    value = signal.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e6:
        raise SignalError(name, "must be a number of pixels")
    return float(value)


_NOTICE = re.compile(r"[0-9a-f]{64}")


class Normaliser:
    """Turns one session's raw signals into typed events, incrementally.

    Call :meth:`feed` with each raw signal in the order the browser produced them (a ``tick``
    signal from the worker's timer keeps heartbeats flowing), then :meth:`finish` once. Each
    call returns the events that became final, in time order.
    """

    def __init__(self, config: NormaliserConfig | None = None, start_t: int = 0) -> None:
        self.config = config or NormaliserConfig()
        cfg = self.config
        self._last_t = start_t
        self._last_signal_t = start_t
        self._next_heartbeat = start_t + cfg.heartbeat_ms
        self._hidden = False
        self._fullscreen = False
        self._idle_from: int | None = start_t
        self._break_from: int | None = None
        self._tab = _Episode("tab_switch")
        self._focus = _Episode("focus_loss")
        self._fs_exit = _Episode("fullscreen_exit")
        self._devtools_size = _Episode("devtools_open", {"via": "window_size"})
        self._displays = _Episode("multiple_displays")
        self._offline = _Episode("network_offline")
        self._devtools_key = _Burst("devtools_open", {"via": "shortcut"})
        self._clipboard = {a: _Burst("copy_paste", {"action": a}) for a in _CLIPBOARD}
        self._print = _Burst("print_attempt")
        self._menu = _Burst("context_menu")
        self._episodes = (
            self._tab,
            self._focus,
            self._fs_exit,
            self._devtools_size,
            self._displays,
            self._offline,
        )
        self._bursts = (self._devtools_key, *self._clipboard.values(), self._print, self._menu)
        self._last_attempt: dict[str, tuple[int, str]] = {}
        self._handlers: Mapping[str, Callable[[int, Mapping[str, Any], list[Draft]], None]] = {
            "visibility": self._on_visibility,
            "blur": self._on_blur,
            "focus": self._on_focus,
            "fullscreen": self._on_fullscreen,
            "clipboard": self._on_clipboard,
            "contextmenu": lambda t, s, out: self._menu.hit(t, cfg.merge_ms, out),
            "shortcut": self._on_shortcut,
            "window_size": self._on_window_size,
            "screens": self._on_screens,
            "network": self._on_network,
            "print": lambda t, s, out: self._attempt("print", "print", "event", t, out),
            "activity": lambda t, s, out: None,
            "pointer": lambda t, s, out: None,
            "tick": lambda t, s, out: None,
            "consent": self._on_consent,
            "break": self._on_break,
        }

    # -- public API ------------------------------------------------------------------------------

    def feed(self, signal: Mapping[str, Any]) -> list[Draft]:
        """Process one raw signal; return the events that are now final (possibly none)."""
        if not isinstance(signal, Mapping):
            raise SignalError("(signal)", "must be an object")
        kind = signal.get("kind")
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise SignalError("kind", "must be one of " + ", ".join(sorted(self._handlers)))
        raw_t = signal.get("t")
        if (
            not isinstance(raw_t, int | float)
            or isinstance(raw_t, bool)
            or not math.isfinite(raw_t)
        ):
            raise SignalError("t", "must be a number of milliseconds since the session start")
        t = max(int(raw_t), self._last_signal_t)  # a clock that steps back never reorders events
        out: list[Draft] = []
        self._liveness(t, out)
        self._flush_due(t, out)
        handler(t, signal, out)
        if kind in _USER_ACTIONS:
            self._on_activity(t, out)
        self._last_signal_t = t
        return self._ordered(out)

    def resume_break(self, start: int) -> None:
        """Continue a declared break that was running before a page reload."""
        self._break_from = start
        self._idle_from = None

    def finish(self, t: float) -> list[Draft]:
        """Close every open episode at ``t`` and return the remaining events."""
        end = max(int(t), self._last_signal_t)
        out: list[Draft] = []
        self._liveness(end, out, beat=False)  # session_end follows: it is the last sign of life
        self._close_idle(end, out)
        if self._break_from is not None:
            self._cut(end, out)
            self._end_break(end, out)
        for episode in self._episodes:
            episode.finish(end, out)
        for burst in self._bursts:
            burst.finish(end, out)
        self._last_signal_t = end
        return self._ordered(out)

    # -- machinery ---------------------------------------------------------------------------------

    def _ordered(self, out: list[Draft]) -> list[Draft]:
        result = []
        for draft in sorted(out, key=lambda d: d.t):
            t = max(draft.t, self._last_t)
            self._last_t = t
            result.append(draft if t == draft.t else Draft(t, draft.type, draft.data))
        return result

    def _liveness(self, t: int, out: list[Draft], beat: bool = True) -> None:
        hb = self.config.heartbeat_ms
        silence = t - self._last_signal_t
        if silence > GAP_TOLERANCE * hb:
            out.append(Draft(t, "sdk_gap", {"duration_ms": silence, "missed": silence // hb}))
            self._next_heartbeat = t
            if self._idle_from is not None:
                self._idle_from = t  # a frozen page is a gap, not idleness
        if beat and t >= self._next_heartbeat:
            out.append(Draft(t, "heartbeat", {}))
            self._next_heartbeat = t + hb

    def _flush_due(self, t: int, out: list[Draft]) -> None:
        merge = self.config.merge_ms
        for episode in self._episodes:
            episode.due(t, merge, out)
        for burst in self._bursts:
            burst.due(t, merge, out)

    def _close_idle(self, t: int, out: list[Draft]) -> None:
        start = self._idle_from
        if start is not None and t - start >= self.config.idle_ms:
            out.append(Draft(t, "idle", {"duration_ms": t - start, "count": 1}))
        self._idle_from = None

    def _resume_idle(self, t: int) -> None:
        if not self._hidden and not self._focus.is_open and self._break_from is None:
            self._idle_from = t

    def _cut(self, t: int, out: list[Draft]) -> None:
        """Emit every away episode up to ``t``; one still open goes on as a new episode."""
        for episode in (self._tab, self._focus, self._fs_exit):
            was_open = episode.is_open
            episode.finish(t, out)
            if was_open:
                episode.open(t, self.config.merge_ms, out)

    def _end_break(self, t: int, out: list[Draft]) -> None:
        assert self._break_from is not None
        out.append(Draft(t, "break_end", {"duration_ms": t - self._break_from}))
        self._break_from = None

    # -- the rules ---------------------------------------------------------------------------------

    def _on_visibility(self, t: int, s: Mapping[str, Any], out: list[Draft]) -> None:
        hidden = _flag(s, "hidden")
        if hidden == self._hidden:
            return
        merge = self.config.merge_ms
        self._hidden = hidden
        if hidden:
            self._close_idle(t, out)
            start = t
            lost_at = self._focus.open_since
            if lost_at is not None:
                if t - lost_at <= self.config.blur_window_ms:
                    self._focus.cancel()  # the blur was this tab switch: count it once
                    start = lost_at
                else:
                    self._focus.close(t)
            self._tab.open(start, merge, out)
        else:
            self._tab.close(t)
            self._resume_idle(t)

    def _on_blur(self, t: int, s: Mapping[str, Any], out: list[Draft]) -> None:
        into_iframe = s.get("iframe", False)
        if not isinstance(into_iframe, bool):
            raise SignalError("iframe", "must be true or false")
        if self._hidden or into_iframe or self._focus.is_open:
            return
        self._close_idle(t, out)
        self._focus.open(t, self.config.merge_ms, out)

    def _on_focus(self, t: int, s: Mapping[str, Any], out: list[Draft]) -> None:
        if self._focus.is_open:
            self._focus.close(t)
            self._resume_idle(t)

    def _on_fullscreen(self, t: int, s: Mapping[str, Any], out: list[Draft]) -> None:
        active = _flag(s, "active")
        if active:
            self._fs_exit.close(t)
        elif self._fullscreen:
            self._fs_exit.open(t, self.config.merge_ms, out)
        self._fullscreen = active

    def _attempt(self, what: str, action: str, source: str, t: int, out: list[Draft]) -> None:
        # A shortcut and the browser event it causes arrive a few ms apart: one attempt.
        previous = self._last_attempt.get(action)
        self._last_attempt[action] = (t, source)
        same_attempt = previous is not None and previous[1] != source
        if same_attempt and previous is not None and t - previous[0] <= self.config.dedupe_ms:
            return
        burst = self._clipboard[action] if what == "clipboard" else self._print
        burst.hit(t, self.config.merge_ms, out)

    def _on_clipboard(self, t: int, s: Mapping[str, Any], out: list[Draft]) -> None:
        action = s.get("action")
        if action not in _CLIPBOARD:
            raise SignalError("action", "must be 'copy', 'cut' or 'paste'")
        self._attempt("clipboard", action, "event", t, out)

    def _on_shortcut(self, t: int, s: Mapping[str, Any], out: list[Draft]) -> None:
        combo = s.get("combo")
        if not isinstance(combo, str) or not 0 < len(combo) <= 32:
            raise SignalError("combo", "must be a key combination name of 1 to 32 characters")
        meaning = _shortcut_meaning(canonical_combo(combo))
        if meaning is None:
            return  # not a recognised combination: nothing about it is kept
        what, action = meaning
        if what == "devtools":
            self._devtools_key.hit(t, self.config.merge_ms, out)
        else:
            self._attempt(what, action, "shortcut", t, out)

    def _on_window_size(self, t: int, s: Mapping[str, Any], out: list[Draft]) -> None:
        wide = _pixels(s, "outer_w") - _pixels(s, "inner_w")
        tall = _pixels(s, "outer_h") - _pixels(s, "inner_h")
        limit = self.config.devtools_px
        if wide > limit or tall > limit:
            self._devtools_size.open(t, self.config.merge_ms, out)
        else:
            self._devtools_size.close(t)

    def _on_screens(self, t: int, s: Mapping[str, Any], out: list[Draft]) -> None:
        if _flag(s, "extended"):
            self._displays.open(t, self.config.merge_ms, out)
        else:
            self._displays.close(t)

    def _on_network(self, t: int, s: Mapping[str, Any], out: list[Draft]) -> None:
        if _flag(s, "online"):
            self._offline.close(t)
        else:
            self._offline.open(t, self.config.merge_ms, out)

    def _on_consent(self, t: int, s: Mapping[str, Any], out: list[Draft]) -> None:
        notice, mode = s.get("notice"), s.get("mode")
        if not isinstance(notice, str) or not _NOTICE.fullmatch(notice):
            raise SignalError("notice", "must be the notice's SHA-256 digest (64 hex digits)")
        if mode not in ("required", "notice"):
            raise SignalError("mode", "must be 'required' or 'notice'")
        out.append(Draft(t, "consent", {"notice": notice, "mode": mode}))

    def _on_break(self, t: int, s: Mapping[str, Any], out: list[Draft]) -> None:
        on = _flag(s, "on")
        if on == (self._break_from is not None):
            return  # already on (or off) a break: a repeated click changes nothing
        self._cut(t, out)
        if on:
            self._close_idle(t, out)
            self._break_from = t
            out.append(Draft(t, "break_start", {}))
        else:
            self._end_break(t, out)
            self._resume_idle(t)

    def _on_activity(self, t: int, out: list[Draft]) -> None:
        if self._idle_from is None:
            return
        self._close_idle(t, out)
        self._idle_from = t
