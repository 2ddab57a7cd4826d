"""The signed chain: golden vectors, key derivation, verify(sign(x)), rotation, resends."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from openproctor.core import (
    ChainState,
    DuplicateEvent,
    ProctorError,
    Secret,
    Signer,
    derive_session_key,
    genesis,
    validate_event,
    verify_batch,
    verify_log,
)
from openproctor.core.chain import KEY_SALT
from openproctor.core.events import check_data, checked_signing_bytes, signing_bytes


def test_session_key_golden_and_equal_to_reference_hkdf(vectors):
    key = derive_session_key(vectors["server_secret_utf8"], vectors["session_id"])
    assert key.reveal().hex() == vectors["session_key_hex"]
    reference = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=KEY_SALT, info=vectors["session_id"].encode()
    ).derive(vectors["server_secret_utf8"].encode())
    assert key.reveal() == reference


def test_genesis_golden(vectors):
    assert genesis(vectors["session_id"]) == vectors["genesis"]


def test_events_golden(vectors):
    key = derive_session_key(vectors["server_secret_utf8"], vectors["session_id"])
    signer = Signer(key, vectors["session_id"])
    for case in vectors["events"]:
        event = signer.sign(case["t"], case["type"], case["data"])
        assert event.signing_bytes() == case["signing_utf8"].encode("utf-8")
        assert event.prev == case["prev"]
        assert event.mac == case["mac"]
        # Independent of our code: HMAC-SHA256 over the golden bytes.
        raw = hmac.new(key.reveal(), case["signing_utf8"].encode(), hashlib.sha256).hexdigest()
        assert raw == case["mac"]
    wire = [
        {k: c[k] for k in ("seq", "t", "type", "data", "prev", "mac")} for c in vectors["events"]
    ]
    verify_log(vectors["session_id"], wire, [key], complete=False)


def test_keys_differ_per_session_and_per_secret():
    a = derive_session_key(b"secret", "s-1")
    assert a != derive_session_key(b"secret", "s-2")
    assert a != derive_session_key(b"other", "s-1")
    assert a == derive_session_key(b"secret", "s-1")


def test_secrets_never_show_in_repr_or_str():
    key = derive_session_key(b"top-secret-server-key", "s-1")
    signer = Signer(key, "s-1")
    for text in (repr(key), str(key), repr(signer), repr(signer.state)):
        assert "top-secret" not in text
        assert key.reveal().hex() not in text
    assert repr(key) == "Secret('**********')"
    with pytest.raises(ProctorError, match="must not be empty"):
        Secret(b"")
    with pytest.raises(ProctorError, match="session_id must be a non-empty string"):
        derive_session_key(b"secret", "")


drafts = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=5_000),
        st.sampled_from(["tab_switch", "focus_loss", "idle", "network_offline"]),
        st.integers(min_value=0, max_value=600_000),
    ),
    max_size=30,
)


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40), drafts)
def test_verify_of_sign_holds(session_id, steps):
    signer = Signer(derive_session_key(b"k", session_id), session_id)
    t = 0
    events = []
    for dt, kind, duration in steps:
        t += dt
        events.append(signer.sign(t, kind, {"duration_ms": duration, "count": 1}))
    result = verify_batch(
        ChainState.start(session_id),
        [e.to_dict() for e in events],
        [derive_session_key(b"k", session_id)],
    )
    assert result.new_events == tuple(events)
    assert result.state == signer.state


def test_batches_verify_incrementally_and_resends_are_idempotent(make_log):
    key = derive_session_key(b"unit-test-secret", "s-1")
    log = [
        e.to_dict()
        for e in make_log(
            "s-1", [(10 * i, "idle", {"duration_ms": 1, "count": 1}) for i in range(1, 10)]
        )
    ]
    stored: dict[int, str] = {}
    state = ChainState.start("s-1")
    for start in range(0, len(log), 4):
        result = verify_batch(state, log[start : start + 4], [key], stored.get)
        stored.update({e.seq: e.mac for e in result.new_events})
        state = result.state
    assert state.next_seq == len(log)
    again = verify_batch(state, log[4:8], [key], stored.get)
    assert again.resent == 4 and again.new_events == () and again.state == state
    # A retry that overlaps what was stored: the known part is skipped, the rest is appended.
    partial = verify_batch(ChainState.start("s-1"), log[:6], [key]).state
    overlap = verify_batch(partial, log[4:], [key], stored.get)
    assert (overlap.resent, len(overlap.new_events)) == (2, len(log) - 6)
    assert overlap.state == state
    # A resend without the stored MACs to compare against is not accepted blindly.
    with pytest.raises(DuplicateEvent):
        verify_batch(state, log[4:8], [key])


def test_rotation_newest_signs_any_verifies(make_log):
    old = derive_session_key(b"old-secret", "s-1")
    new = derive_session_key(b"new-secret", "s-1")
    log = make_log("s-1", [(5, "idle", {"duration_ms": 1, "count": 1})], secret=b"old-secret")
    assert verify_log("s-1", log, [new, old])
    assert verify_log("s-1", log, [old])


def test_signer_refuses_invalid_drafts_and_time_going_back():
    signer = Signer(b"k", "s-1")
    signer.sign(100, "heartbeat", {})
    with pytest.raises(ProctorError, match="is not a field"):
        signer.sign(200, "copy_paste", {"action": "paste", "count": 1, "text": "secret answer"})
    with pytest.raises(ProctorError, match="before the previous event"):
        signer.sign(50, "heartbeat", {})
    with pytest.raises(ProctorError, match="non-negative integer"):
        signer.sign(1.5, "heartbeat", {})  # type: ignore[arg-type]
    assert signer.state.next_seq == 1


def test_signer_resumes_from_state():
    first = Signer(b"k", "s-1")
    events = [first.sign(t, "heartbeat", {}) for t in (0, 15, 30)]
    resumed = Signer(b"k", "s-1", state=first.state)
    events.append(resumed.sign(45, "heartbeat", {}))
    assert verify_log("s-1", events, [b"k"], complete=False)[-1].seq == 3
    with pytest.raises(ProctorError, match="another session"):
        Signer(b"k", "s-2", state=first.state)


def test_wire_events_with_integral_floats_verify():
    # A log that went through JavaScript may carry 4200.0 where Python had 4200.
    signer = Signer(b"k", "s-1")
    event = signer.sign(4200, "tab_switch", {"duration_ms": 3000, "count": 1})
    as_js = {**event.to_dict(), "data": {"duration_ms": 3000.0, "count": 1.0}}
    js_bytes = signing_bytes(event.seq, event.t, event.type, as_js["data"], event.prev)
    assert js_bytes == event.signing_bytes()
    with pytest.raises(ProctorError):
        validate_event({**as_js, "t": 4200.0}, 0)  # t itself must stay an integer on the wire


@given(drafts)
def test_fast_and_careful_encodings_agree(steps):
    signer = Signer(b"k", "s")
    t = 0
    for dt, kind, duration in steps:
        t += dt
        event = signer.sign(t, kind, {"duration_ms": duration, "count": 1})
        wire = validate_event(event.to_dict())
        assert checked_signing_bytes(wire.seq, wire.t, wire.type, wire.data, wire.prev) == (
            signing_bytes(event.seq, event.t, event.type, event.data, event.prev)
        )
    objects = Signer(b"k", "s2")
    assert checked_signing_bytes(0, 0, "heartbeat", {}, "a" * 64) == signing_bytes(
        0, 0, "heartbeat", {}, "a" * 64
    )
    made = [objects.sign(i, "heartbeat", {}) for i in range(3)]
    # Event objects (not validated by verify_batch) take the careful path and verify the same.
    assert verify_batch(ChainState.start("s2"), made, [b"k"]).new_events == tuple(made)


printable = st.text(
    alphabet=st.characters(exclude_categories=["Cs", "Cc", "Cf", "Zl", "Zp", "Co", "Cn"]),
    min_size=1,
    max_size=64,
).filter(str.isprintable)


@given(
    st.integers(min_value=0, max_value=2**53 - 1),
    st.integers(min_value=0, max_value=2**53 - 1),
    printable,
    printable,
    st.booleans(),
    st.sampled_from([None, 1, 2, 5]),
)
def test_the_direct_signing_encoding_equals_the_canonical_one(
    seq, t, browser, platform, mobile, screens
):
    """Text with any printable characters (quotes, backslashes, non-ASCII), empty data, big
    integers: the validated fast path writes exactly the canonical bytes."""
    start = {
        "sdk_version": "0.1.0",
        "browser": browser,
        "browser_version": "1",
        "engine": "Blink",
        "platform": platform,
        "mobile": mobile,
        "screens": screens,
        "heartbeat_ms": 15000,
    }
    prev = hashlib.sha256(browser.encode()).hexdigest()
    for kind, data in (
        ("session_start", start),
        ("heartbeat", {}),
        ("idle", {"duration_ms": t, "count": 1}),
    ):
        clean = check_data(kind, data)
        assert checked_signing_bytes(seq, t, kind, clean, prev) == signing_bytes(
            seq, t, kind, clean, prev
        )
