"""The recorder: a whole browser session from raw signals to a verified, rescored log."""

from __future__ import annotations

import pytest

from openproctor.core import (
    ProctorError,
    Recorder,
    derive_session_key,
    parse_policy,
    score_log,
    verify_log,
)

from ..support import ENVIRONMENT

POLICY = parse_policy({"exam_id": "CS101-final-2026", "trust_threshold": 0.7})
KEY = derive_session_key(b"server-secret", "sess-42")


def exam(recorder, signals, end):
    events = recorder.start(0, ENVIRONMENT)
    ticks = [{"t": t, "kind": "tick"} for t in range(1000, end, 1000)]
    for signal in sorted([*signals, *ticks], key=lambda s: s["t"]):
        events += recorder.feed(signal)
    return events + recorder.finish(end)


SIGNALS = [
    {"t": 60000, "kind": "blur"},
    {"t": 60004, "kind": "visibility", "hidden": True},
    {"t": 95000, "kind": "visibility", "hidden": False},
    {"t": 95003, "kind": "focus"},
    {"t": 200000, "kind": "clipboard", "action": "paste"},
    {"t": 400000, "kind": "blur"},
    {"t": 410000, "kind": "focus"},
    *({"t": t, "kind": "activity"} for t in range(30500, 600000, 30000)),
]


def test_session_verifies_and_server_score_equals_client_score():
    recorder = Recorder(KEY, "sess-42", POLICY)
    events = exam(recorder, SIGNALS, end=600000)
    wire = [e.to_dict() for e in events]
    log = verify_log("sess-42", wire, [KEY])
    assert log[0].type == "session_start" and log[0].data["heartbeat_ms"] == 15000
    assert log[-1].type == "session_end" and log[-1].data["reason"] == "finished"
    server = score_log(log, POLICY)
    assert log[-1].data["score_milli"] == server.score_milli
    assert server.score_milli == recorder.live().score_milli
    assert {line.flag for line in server.breakdown} == {"tab_switch", "focus_loss", "copy_paste"}
    assert not any(line.flag == "sdk_gap" for line in server.breakdown)


def test_resume_after_reload_continues_the_same_chain():
    recorder = Recorder(KEY, "sess-42", POLICY)
    before = recorder.start(0, ENVIRONMENT)
    for t in range(1000, 20000, 1000):
        before += recorder.feed({"t": t, "kind": "tick"})
    resumed = Recorder.resume(KEY, "sess-42", POLICY, [e.to_dict() for e in before])
    after = []
    for t in range(22000, 40000, 1000):
        after += resumed.feed({"t": t, "kind": "tick"})
    after += resumed.finish(40000)
    log = verify_log("sess-42", [e.to_dict() for e in before + after], [KEY])
    assert [e.seq for e in log] == list(range(len(log)))


def test_resume_refuses_an_ended_or_foreign_log():
    ended = exam(Recorder(KEY, "sess-42", POLICY), [], end=5000)
    with pytest.raises(ProctorError, match="already ended"):
        Recorder.resume(KEY, "sess-42", POLICY, ended)
    with pytest.raises(ProctorError):
        Recorder.resume(derive_session_key(b"x", "other"), "other", POLICY, ended)


def test_lifecycle_misuse_is_refused():
    recorder = Recorder(KEY, "sess-42", POLICY)
    with pytest.raises(ProctorError, match="call start"):
        recorder.feed({"t": 1, "kind": "tick"})
    recorder.start(0, ENVIRONMENT)
    with pytest.raises(ProctorError, match="already started"):
        recorder.start(0, ENVIRONMENT)
    recorder.finish(10)
    with pytest.raises(ProctorError, match="already finished"):
        recorder.feed({"t": 20, "kind": "tick"})


def test_environment_is_validated():
    with pytest.raises(ProctorError, match="data.mobile"):
        Recorder(KEY, "sess-42", POLICY).start(0, {**ENVIRONMENT, "mobile": "no"})
    with pytest.raises(ProctorError, match="data.user_agent"):
        Recorder(KEY, "sess-42", POLICY).start(0, {**ENVIRONMENT, "user_agent": "Mozilla/5.0"})


def test_heartbeat_interval_comes_from_the_policy():
    policy = parse_policy({"exam_id": "e", "heartbeat_seconds": 5})
    events = exam(Recorder(KEY, "sess-42", policy), [], end=30000)
    beats = [e.t for e in events if e.type == "heartbeat"]
    assert beats == [5000, 10000, 15000, 20000, 25000]
