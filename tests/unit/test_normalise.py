"""Normalisation rules, each shown with the raw signal sequence a real browser produces."""

from __future__ import annotations

import pytest

from openproctor.core import Normaliser, NormaliserConfig, SignalError


def run(signals, end, config=None):
    """Feed signals (t, kind, fields) with a worker tick every second; return non-heartbeats."""
    normaliser = Normaliser(config or NormaliserConfig())
    out = []
    queue = sorted(
        [(t, 0, kind, fields) for t, kind, fields in signals]
        + [(t, 1, "tick", {}) for t in range(1000, end, 1000)],
        key=lambda s: s[:2],
    )
    for t, _, kind, fields in queue:
        out += normaliser.feed({"t": t, "kind": kind, **fields})
    out += normaliser.finish(end)
    times = [d.t for d in out]
    assert times == sorted(times), "events must come out in time order"
    return [(d.t, d.type, d.data) for d in out if d.type != "heartbeat"]


def test_tab_switch_counts_the_blur_that_came_with_it_once():
    # Chromium, switching to another tab and back: blur, hidden ... visible, focus.
    events = run(
        [
            (5000, "blur", {}),
            (5003, "visibility", {"hidden": True}),
            (35000, "visibility", {"hidden": False}),
            (35004, "focus", {}),
        ],
        end=60000,
    )
    assert events == [(35000, "tab_switch", {"duration_ms": 30000, "count": 1})]


def test_tab_switch_when_hidden_comes_before_blur():
    events = run(
        [
            (5000, "visibility", {"hidden": True}),
            (5002, "blur", {}),
            (9000, "focus", {}),
            (9001, "visibility", {"hidden": False}),
        ],
        end=20000,
    )
    assert events == [(9001, "tab_switch", {"duration_ms": 4001, "count": 1})]


def test_window_focus_loss_without_hiding_the_page():
    # Alt-tab to another application window that leaves the exam visible.
    events = run([(2000, "blur", {}), (14000, "focus", {})], end=30000)
    # Stamped when the debounce window closed: a heartbeat at 15 s went out in between.
    assert events == [(15000, "focus_loss", {"duration_ms": 12000, "count": 1})]


def test_focus_loss_then_much_later_hidden_is_two_incidents():
    events = run(
        [
            (2000, "blur", {}),
            (10000, "visibility", {"hidden": True}),
            (20000, "visibility", {"hidden": False}),
            (20001, "focus", {}),
        ],
        end=30000,
    )
    assert [(e[1], e[2]["duration_ms"]) for e in events] == [
        ("focus_loss", 8000),
        ("tab_switch", 10000),
    ]


def test_blur_into_an_iframe_of_the_exam_is_ignored():
    # The student clicks into an embedded editor: the window blurs, focus is still in the page.
    events = run([(3000, "blur", {"iframe": True}), (9000, "focus", {})], end=20000)
    assert events == []


def test_flickering_focus_is_debounced_into_one_incident():
    # A notification steals focus three times within a second.
    events = run(
        [
            (4000, "blur", {}),
            (4100, "focus", {}),
            (4400, "blur", {}),
            (4500, "focus", {}),
            (5200, "blur", {}),
            (5300, "focus", {}),
        ],
        end=20000,
    )
    assert events == [(5300, "focus_loss", {"duration_ms": 300, "count": 3})]


def test_separate_focus_losses_stay_separate():
    events = run(
        [(4000, "blur", {}), (4100, "focus", {}), (8000, "blur", {}), (8100, "focus", {})],
        end=20000,
    )
    assert [e[1] for e in events] == ["focus_loss", "focus_loss"]


def test_fullscreen_exit_and_reentry():
    events = run(
        [
            (1000, "fullscreen", {"active": True}),
            (6000, "fullscreen", {"active": False}),
            (16000, "fullscreen", {"active": True}),
        ],
        end=30000,
    )
    assert events == [(16000, "fullscreen_exit", {"duration_ms": 10000, "count": 1})]


def test_fullscreen_exit_never_reentered_lasts_to_the_end():
    events = run(
        [(1000, "fullscreen", {"active": True}), (6000, "fullscreen", {"active": False})], end=30000
    )
    assert events == [(30000, "fullscreen_exit", {"duration_ms": 24000, "count": 1})]


def test_not_being_in_fullscreen_from_the_start_is_not_an_exit():
    assert run([(1000, "fullscreen", {"active": False})], end=5000) == []


def test_copy_paste_counted_without_content_and_bursts_merged():
    events = run(
        [
            (3000, "clipboard", {"action": "copy"}),
            (9000, "clipboard", {"action": "paste"}),
            (9400, "clipboard", {"action": "paste"}),
            (9800, "clipboard", {"action": "paste"}),
        ],
        end=20000,
    )
    assert events == [
        (3000, "copy_paste", {"action": "copy", "count": 1}),
        (9800, "copy_paste", {"action": "paste", "count": 3}),
    ]


def test_shortcut_and_its_clipboard_event_are_one_attempt():
    # Ctrl+V fires keydown (reported as a shortcut) and then the paste event.
    events = run(
        [(5000, "shortcut", {"combo": "ctrl+v"}), (5004, "clipboard", {"action": "paste"})],
        end=10000,
    )
    assert events == [(5000, "copy_paste", {"action": "paste", "count": 1})]


def test_blocked_copy_shortcut_still_counts_as_an_attempt():
    # The exam page cancelled the copy: only the shortcut arrives.
    events = run([(5000, "shortcut", {"combo": "Meta+C"})], end=10000)
    assert events == [(5000, "copy_paste", {"action": "copy", "count": 1})]


def test_only_recognised_shortcuts_are_kept():
    events = run(
        [
            (1000, "shortcut", {"combo": "Ctrl+S"}),
            (2000, "shortcut", {"combo": "A"}),
            (3000, "shortcut", {"combo": "Shift+Ctrl+I"}),
            (5000, "shortcut", {"combo": "F12"}),
            (9000, "shortcut", {"combo": "cmd+option+i"}),
        ],
        end=20000,
    )
    assert events == [
        (3000, "devtools_open", {"via": "shortcut", "duration_ms": 0, "count": 1}),
        (5000, "devtools_open", {"via": "shortcut", "duration_ms": 0, "count": 1}),
        (9000, "devtools_open", {"via": "shortcut", "duration_ms": 0, "count": 1}),
    ]


def test_devtools_docked_panel_by_window_size():
    size = {"outer_w": 1280, "outer_h": 800, "inner_h": 700}
    events = run(
        [
            (1000, "window_size", {**size, "inner_w": 1280}),
            (5000, "window_size", {**size, "inner_w": 900}),
            (25000, "window_size", {**size, "inner_w": 1280}),
        ],
        end=30000,
    )
    assert events == [
        (25000, "devtools_open", {"via": "window_size", "duration_ms": 20000, "count": 1})
    ]


def test_print_attempt_by_event_and_shortcut_once():
    events = run([(7000, "shortcut", {"combo": "Ctrl+P"}), (7030, "print", {})], end=10000)
    assert events == [(7000, "print_attempt", {"count": 1})]


def test_context_menu_counted():
    events = run(
        [(2000, "contextmenu", {}), (2500, "contextmenu", {}), (8000, "contextmenu", {})], end=10000
    )
    assert events == [(2500, "context_menu", {"count": 2}), (8000, "context_menu", {"count": 1})]


def test_multiple_displays_period():
    events = run(
        [
            (0, "screens", {"extended": False}),
            (4000, "screens", {"extended": True}),
            (64000, "screens", {"extended": False}),
        ],
        end=70000,
    )
    assert events == [(64000, "multiple_displays", {"duration_ms": 60000, "count": 1})]


def test_offline_period():
    events = run(
        [(10000, "network", {"online": False}), (70000, "network", {"online": True})], end=80000
    )
    assert events == [(70000, "network_offline", {"duration_ms": 60000, "count": 1})]


def test_idle_only_while_visible_and_focused():
    cfg = NormaliserConfig(idle_ms=30_000)
    # 40 s without input, then input: idle. Then 50 s hidden: a tab switch, not idleness.
    events = run(
        [
            (40000, "activity", {}),
            (41000, "visibility", {"hidden": True}),
            (91000, "visibility", {"hidden": False}),
            (92000, "activity", {}),
        ],
        end=100000,
        config=cfg,
    )
    assert events == [
        (40000, "idle", {"duration_ms": 40000, "count": 1}),
        (91000, "tab_switch", {"duration_ms": 50000, "count": 1}),
    ]


def test_clipboard_and_menu_actions_are_presence_too():
    cfg = NormaliserConfig(idle_ms=30_000)
    actions = [
        (20000, "clipboard", {"action": "copy"}),
        (45000, "contextmenu", {}),
        (70000, "shortcut", {"combo": "Ctrl+Z"}),
    ]
    assert [e[1] for e in run(actions, end=90000, config=cfg)] == ["copy_paste", "context_menu"]


def test_short_pauses_are_not_idle():
    cfg = NormaliserConfig(idle_ms=30_000)
    activity = [(t, "activity", {}) for t in range(10000, 200000, 20000)]
    assert run(activity, end=200000, config=cfg) == []


def test_heartbeats_flow_with_ticks():
    normaliser = Normaliser(NormaliserConfig(heartbeat_ms=15000))
    beats = []
    for t in range(1000, 61000, 1000):
        beats += [d.t for d in normaliser.feed({"t": t, "kind": "tick"}) if d.type == "heartbeat"]
    assert beats == [15000, 30000, 45000, 60000]


def test_silence_becomes_an_sdk_gap():
    # The laptop slept: no tick from 20 s to 140 s.
    normaliser = Normaliser(NormaliserConfig(heartbeat_ms=15000))
    out = []
    for t in [*range(1000, 21000, 1000), *range(140000, 142000, 1000)]:
        out += normaliser.feed({"t": t, "kind": "tick"})
    gaps = [d for d in out if d.type == "sdk_gap"]
    assert [(d.t, d.data) for d in gaps] == [(140000, {"duration_ms": 120000, "missed": 8})]
    assert any(d.type == "heartbeat" and d.t == 140000 for d in out)


def test_clock_stepping_back_never_reorders():
    normaliser = Normaliser()
    normaliser.feed({"t": 5000, "kind": "blur"})
    out = normaliser.feed({"t": 3000.7, "kind": "focus"})  # wall clock adjusted backwards
    out += normaliser.finish(10000)
    assert [(d.t, d.type, d.data) for d in out] == [
        (5000, "focus_loss", {"duration_ms": 0, "count": 1})
    ]


@pytest.mark.parametrize(
    ("signal", "field"),
    [
        ({"t": 1, "kind": "keydown", "key": "a"}, "kind"),
        ({"kind": "blur"}, "t"),
        ({"t": float("nan"), "kind": "blur"}, "t"),
        ({"t": 1, "kind": "visibility"}, "hidden"),
        ({"t": 1, "kind": "clipboard", "action": "read"}, "action"),
        ({"t": 1, "kind": "shortcut", "combo": "x" * 33}, "combo"),
        ({"t": 1, "kind": "window_size", "outer_w": "wide"}, "outer_w"),
        ({"t": 1, "kind": "blur", "iframe": "yes"}, "iframe"),
    ],
)
def test_malformed_signals_are_refused_by_name(signal, field):
    with pytest.raises(SignalError) as info:
        Normaliser().feed(signal)
    assert info.value.field == field
