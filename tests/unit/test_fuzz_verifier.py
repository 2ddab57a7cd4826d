"""Fuzzing the verifier: any mutation of a valid log either raises one of the core's errors or
is harmless; nothing else ever escapes, and nothing mutated verifies as different content."""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st

from openproctor.core import ChainState, ProctorError, derive_session_key, verify_batch

from .conftest import signed_log

KEY = derive_session_key(b"unit-test-secret", "fuzz")
LOG = [
    e.to_dict()
    for e in signed_log(
        "fuzz",
        [
            (1000 * i, kind, data)
            for i, (kind, data) in enumerate(
                [
                    ("tab_switch", {"duration_ms": 500, "count": 1}),
                    ("heartbeat", {}),
                    ("copy_paste", {"action": "paste", "count": 2}),
                    ("idle", {"duration_ms": 9, "count": 1}),
                ],
                start=1,
            )
        ],
    )
]

FIELDS = ["seq", "t", "type", "data", "prev", "mac"]
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**60), 2**60),
    st.text(max_size=70),
    st.floats(allow_nan=True),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@st.composite
def mutated(draw):
    log = copy.deepcopy(LOG)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(
            st.sampled_from(
                ["set", "drop_field", "delete", "duplicate", "swap", "extra_field", "replace_event"]
            )
        )
        i = draw(st.integers(0, len(log) - 1)) if log else 0
        if not log:
            break
        if action in ("set", "drop_field", "extra_field") and not isinstance(log[i], dict):
            continue  # already replaced by a non-object
        if action == "set":
            log[i][draw(st.sampled_from(FIELDS))] = draw(values)
        elif action == "drop_field":
            log[i].pop(draw(st.sampled_from(FIELDS)), None)
        elif action == "delete":
            del log[i]
        elif action == "duplicate":
            log.insert(i, copy.deepcopy(log[i]))
        elif action == "swap" and len(log) > 1:
            j = draw(st.integers(0, len(log) - 1))
            log[i], log[j] = log[j], log[i]
        elif action == "extra_field":
            log[i][draw(st.text(min_size=1, max_size=8))] = draw(values)
        elif action == "replace_event":
            log[i] = draw(values)
    return log


@given(mutated())
def test_mutations_raise_core_errors_or_change_nothing(log):
    try:
        result = verify_batch(ChainState.start("fuzz"), log, [KEY])
    except ProctorError:
        return
    # It verified: then it must be exactly a prefix-free copy of the real events.
    original = {e["seq"]: e for e in LOG}
    for event in result.new_events:
        assert event.to_dict() == original[event.seq]
