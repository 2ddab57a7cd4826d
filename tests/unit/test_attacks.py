"""One test per attack on the signed log (in the spirit of pyjwt's test_advisory.py)."""

from __future__ import annotations

import pytest

from openproctor.core import (
    BadMac,
    BrokenLink,
    ChainState,
    DuplicateEvent,
    ForeignSession,
    IncompleteLog,
    Reordered,
    SequenceGap,
    Signer,
    TimeWentBackwards,
    compute_mac,
    derive_session_key,
    verify_batch,
    verify_log,
)

SECRET = b"unit-test-secret"


@pytest.fixture
def log(make_log):
    drafts = [(1000 * i, "focus_loss", {"duration_ms": 500, "count": 1}) for i in range(1, 8)]
    return [e.to_dict() for e in make_log("victim", drafts)]


@pytest.fixture
def key():
    return derive_session_key(SECRET, "victim")


def test_altered_data_is_a_bad_mac(log, key):
    log[3]["data"]["duration_ms"] = 0  # the student shortens a focus loss
    with pytest.raises(BadMac) as info:
        verify_log("victim", log, [key])
    assert info.value.seq == 3


def test_forged_event_with_guessed_key_is_a_bad_mac(log, key):
    forged = dict(log[3], data={"duration_ms": 0, "count": 1})
    forged["mac"] = compute_mac(
        b"guessed", 3, forged["t"], forged["type"], forged["data"], forged["prev"]
    )
    log[3] = forged
    with pytest.raises(BadMac) as info:
        verify_log("victim", log, [key])
    assert info.value.seq == 3


def test_deleted_event_is_a_gap(log, key):
    del log[4]
    with pytest.raises(SequenceGap) as info:
        verify_log("victim", log, [key])
    assert (info.value.seq, info.value.expected) == (5, 4)


def test_deleted_event_renumbered_breaks_the_link(log, key):
    del log[4]
    for position, event in enumerate(log):
        event["seq"] = position  # renumbering cannot re-sign: the link and MACs break
    with pytest.raises(BrokenLink) as info:
        verify_log("victim", log, [key])
    assert info.value.seq == 4


def test_reordered_events_are_refused(log, key):
    log[2], log[3] = log[3], log[2]
    with pytest.raises(Reordered) as info:
        verify_log("victim", log, [key])
    assert (info.value.seq, info.value.expected) == (3, 2)


def test_duplicate_seq_with_other_content_is_refused(log, key):
    stored = {e["seq"]: e["mac"] for e in log[:5]}
    state = verify_batch(ChainState.start("victim"), log[:5], [key]).state
    replacement = dict(log[4], data={"duration_ms": 1, "count": 1})
    replacement["mac"] = compute_mac(
        key, 4, replacement["t"], replacement["type"], replacement["data"], replacement["prev"]
    )
    with pytest.raises(DuplicateEvent) as info:
        verify_batch(state, [replacement, *log[5:]], [key], stored.get)
    assert info.value.seq == 4


def test_resend_with_the_stored_mac_but_altered_contents_is_refused(log, key):
    stored = {e["seq"]: e["mac"] for e in log[:5]}
    state = verify_batch(ChainState.start("victim"), log[:5], [key]).state
    altered = dict(log[4], data={"duration_ms": 1, "count": 1})  # keeps the original MAC
    with pytest.raises(BadMac) as info:
        verify_batch(state, [altered, *log[5:]], [key], stored.get)
    assert info.value.seq == 4


def test_time_going_backwards_is_refused(key):
    # Even a correctly signed event (the key holder misbehaving) may not go back in time.
    state = ChainState.start("victim")
    event = Signer(key, "victim").sign(5000, "heartbeat", {})
    state = verify_batch(state, [event], [key]).state
    back = compute_mac(key, 1, 4000, "heartbeat", {}, event.mac)
    wire = {"seq": 1, "t": 4000, "type": "heartbeat", "data": {}, "prev": event.mac, "mac": back}
    with pytest.raises(TimeWentBackwards) as info:
        verify_batch(state, [wire], [key])
    assert info.value.seq == 1


def test_foreign_session_log_is_refused(make_log, key):
    other = [e.to_dict() for e in make_log("other-student", [])]
    with pytest.raises(ForeignSession) as info:
        verify_log("victim", other, [key])
    assert info.value.seq == 0


def test_foreign_batch_spliced_mid_session_is_refused(log, make_log, key):
    state = verify_batch(ChainState.start("victim"), log[:3], [key]).state
    other = [
        e.to_dict()
        for e in make_log("other-student", [(10, "idle", {"duration_ms": 1, "count": 1})])
    ]
    with pytest.raises(DuplicateEvent):
        verify_batch(state, other[:2], [key])  # seq 0..1 again is not a continuation
    with pytest.raises(BrokenLink):
        verify_batch(state, [dict(other[1], seq=3)], [key])


def test_truncated_log_is_incomplete(log, key):
    with pytest.raises(IncompleteLog, match="without a session_end"):
        verify_log("victim", log[:-1], [key])


def test_session_end_count_must_match(make_log, key):
    signer = Signer(key, "victim")
    events = [signer.sign(0, "session_start", make_log("x", [])[0].data)]
    events.append(signer.sign(10, "session_end", {"count": 5, "reason": "finished"}))
    with pytest.raises(IncompleteLog, match="counts 5 events but 1 precede it"):
        verify_log("victim", events, [key])


def test_log_must_open_with_session_start(key):
    events = [Signer(key, "victim").sign(0, "heartbeat", {})]
    with pytest.raises(IncompleteLog, match="must open with a session_start"):
        verify_log("victim", events, [key])


def test_wrong_key_fails_even_with_a_correct_chain(log):
    with pytest.raises(BadMac) as info:
        verify_log("victim", log, [derive_session_key(b"another-server", "victim")])
    assert info.value.seq == 0


def test_failed_batch_leaves_the_state_untouched(log, key):
    state = verify_batch(ChainState.start("victim"), log[:3], [key]).state
    bad = [dict(e) for e in log[3:6]]
    bad[2]["data"] = {"duration_ms": 0, "count": 1}
    with pytest.raises(BadMac):
        verify_batch(state, bad, [key])
    assert verify_batch(state, log[3:], [key]).state.next_seq == len(log)
