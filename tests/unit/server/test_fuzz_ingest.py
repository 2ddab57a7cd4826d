"""Fuzzing the ingest endpoint: random bodies and mutated batches never cause a 500, and
whatever is stored always verifies."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openproctor.core import verify_log

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)


@settings(
    max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(
    body=st.one_of(
        json_values, st.fixed_dictionaries({"events": json_values}), st.binary(max_size=200)
    )
)
def test_random_bodies_never_500(student_once, body):
    s, _ = student_once
    if isinstance(body, bytes):
        response = s.client.post(
            f"/api/v1/sessions/{s.session_id}/events",
            content=body,
            headers={**s.auth, "content-type": "application/json"},
        )
    else:
        response = s.client.post(
            f"/api/v1/sessions/{s.session_id}/events",
            content=json.dumps(body),
            headers={**s.auth, "content-type": "application/json"},
        )
    assert response.status_code < 500, response.text
    assert "error" in response.json() or response.status_code == 200


@settings(
    max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(data=st.data())
def test_mutated_batches_never_500_and_storage_stays_valid(student_once, data):
    s, store = student_once
    batch = [e.to_dict() for e in s.heartbeats(3)]
    event = data.draw(st.sampled_from(batch))
    field = data.draw(st.sampled_from(["seq", "t", "type", "data", "prev", "mac"]))
    event[field] = data.draw(json_values)
    response = s.post(batch)
    assert response.status_code < 500, response.text
    key = bytes.fromhex(s.grant["signing_key"])
    verify_log(s.session_id, store.sessions.events(s.session_id), [key], complete=False)
    if response.status_code != 200:
        # The client resigns from the server's head, as it would after a refusal.
        from openproctor.core import ChainState, Signer

        row = store.sessions.get(s.session_id)
        s.signer = Signer(
            key,
            s.session_id,
            ChainState(s.session_id, row.next_seq, row.last_mac, row.last_t),
        )
        s.t = row.last_t
