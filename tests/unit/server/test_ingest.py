"""Verified ingest: atomic batches, idempotent resends, gaps, attacks, finishing, status."""

from __future__ import annotations

import dataclasses
import time
import types

import jwt
import pytest
from starlette.testclient import TestClient

from openproctor.core import Tally, compute_mac, score_tally, verify_log
from openproctor.server import create_app
from openproctor.server.errors import TooManyRequests
from openproctor.server.ingest import IngestService
from openproctor.server.settings import Limits
from openproctor.server.storage import Storage

from .conftest import LMS_ORIGIN, SECRET, credential


def stored(store, student):
    return store.sessions.events(student.session_id)


def test_batches_are_verified_and_stored(student, store):
    s = student()
    first = s.post([s.opening(), *s.heartbeats(3)])
    assert first.status_code == 200, first.text
    assert first.json() == {
        "acknowledged_seq": 3,
        "next_seq": 4,
        "stored": 4,
        "resent": 0,
        "status": "active",
        "complete": False,
    }
    second = s.post([s.sign("tab_switch", {"duration_ms": 4000, "count": 1}), *s.heartbeats(2)])
    assert second.json()["acknowledged_seq"] == 6
    assert [e["seq"] for e in stored(store, s)] == list(range(7))


def test_resent_batch_is_acknowledged_without_duplicates(student, store):
    s = student()
    batch = [s.opening(), *s.heartbeats(3)]
    s.post(batch)
    again = s.post(batch)
    assert again.status_code == 200
    assert again.json()["stored"] == 0 and again.json()["resent"] == 4
    overlap = s.post([*batch[2:], *s.heartbeats(2)])  # a retry that overlaps
    assert overlap.json()["resent"] == 2 and overlap.json()["stored"] == 2
    assert len(stored(store, s)) == 6


def test_gap_is_refused_with_the_expected_seq(student, store):
    s = student()
    s.post([s.opening()])
    lost = s.heartbeats(2)  # the client failed to send these
    response = s.post(s.heartbeats(1))
    assert response.status_code == 409
    assert response.json()["error"]["expected_seq"] == 1
    assert s.post(lost).status_code == 200  # resend from the expected seq
    assert len(stored(store, s)) == 3
    assert store.sessions.get(s.session_id).status == "active"  # a gap is not tampering


def _tampered(store, s, mutate):
    s.post([s.opening(), *s.heartbeats(2)])
    batch = [e.to_dict() for e in s.heartbeats(3)]
    mutate(batch)
    response = s.post(batch)
    assert response.status_code == 422, response.text
    row = store.sessions.get(s.session_id)
    assert row.status == "integrity_failed" and row.integrity_reason
    assert len(stored(store, s)) == 3  # nothing of the rejected batch
    return response.json()["error"]


def test_forged_event_is_refused_and_marks_the_session(student, store):
    s = student()

    def forge(batch):
        batch[1]["t"] += 1  # contents changed after signing

    error = _tampered(store, s, forge)
    assert error["code"] == "bad_mac" and error["seq"] == 4
    assert store.sessions.get(s.session_id).integrity_seq == 4


def test_reordered_batch_is_refused(student, store):
    s = student()
    error = _tampered(store, s, lambda b: b.reverse())
    assert error["code"] == "reordered"


def test_event_signed_with_another_key_is_refused(student, store):
    s = student()

    def resign(batch):
        e = batch[0]
        e["mac"] = compute_mac(b"guess", e["seq"], e["t"], e["type"], e["data"], e["prev"])

    assert _tampered(store, s, resign)["code"] == "bad_mac"


def test_foreign_session_events_are_refused(student, store):
    victim, other = student("lms-a"), student("lms-b", user_id="student-2")
    foreign = [other.opening(), *other.heartbeats(1)]
    response = victim.post(foreign)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "foreign_session"
    assert stored(store, victim) == []


def test_valid_continuation_after_an_integrity_failure_is_still_stored(student, store):
    s = student()
    s.post([s.opening()])
    good = s.heartbeats(2)
    bad = [e.to_dict() for e in good]
    bad[0]["data"] = {}
    bad[0]["t"] += 5
    assert s.post(bad).status_code == 422
    assert s.post(good).status_code == 200  # nothing is lost; the mark stays
    row = store.sessions.get(s.session_id)
    assert row.status == "integrity_failed" and row.next_seq == 3


def test_tokens_are_scoped_to_one_session(student):
    a, b = student("lms-a"), student("lms-b", user_id="student-2")
    response = a.client.post(
        f"/api/v1/sessions/{b.session_id}/events",
        json={"events": [b.opening().to_dict()]},
        headers=a.auth,
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "wrong_session"
    response = a.client.post(f"/api/v1/sessions/{a.session_id}/events", json={"events": []})
    assert response.status_code == 401
    tampered = a.grant["token"][:-4] + ("AAAA" if not a.grant["token"].endswith("AAAA") else "BBBB")
    response = a.client.post(
        f"/api/v1/sessions/{a.session_id}/events",
        json={"events": []},
        headers={"authorization": f"Bearer {tampered}"},
    )
    assert response.status_code == 401


def test_expired_session_token(student, app):
    s = student()
    keyring = app.state.openproctor.keyring
    expired = keyring.mint_session_token(s.session_id, time.time() - 10)
    response = s.client.post(
        f"/api/v1/sessions/{s.session_id}/events",
        json={"events": [s.opening().to_dict()]},
        headers={"authorization": f"Bearer {expired}"},
    )
    assert response.status_code == 401 and response.json()["error"]["code"] == "token_expired"


def test_limits(student, app, store):
    s = student()
    s.post([s.opening()])
    too_many = [e.to_dict() for e in s.heartbeats(501)]
    response = s.post(too_many)
    assert response.status_code == 413 and response.json()["error"]["code"] == "batch_too_large"
    huge = {"events": [{"seq": 1, "pad": "x" * 300_000}]}
    response = s.client.post(f"/api/v1/sessions/{s.session_id}/events", json=huge, headers=s.auth)
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"
    nested = b'{"events": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    response = s.client.post(
        f"/api/v1/sessions/{s.session_id}/events",
        content=nested,
        headers={**s.auth, "content-type": "application/json"},
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    assert len(stored(store, s)) == 1


def test_rate_limit_per_session(student, app, store):
    """The limit is kept in the session's row: a refused batch still takes its slot (a flood of
    bad batches is limited too), and nothing of it is stored."""
    app.state.openproctor.ingest.batches_per_minute = 3
    s = student()
    s.post([s.opening()])
    unknown = {"seq": 1, "t": 1000, "type": "no_such_event", "data": {}, "prev": "0" * 64}
    assert s.post([{**unknown, "mac": "0" * 64}]).status_code == 400
    assert store.sessions.get(s.session_id).status == "active"
    assert s.post(s.heartbeats(1)).status_code == 200
    response = s.post(s.heartbeats(1))
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 20
    assert [e["seq"] for e in stored(store, s)] == [0, 1]


def test_rate_limit_holds_across_server_processes(settings, student, client):
    """Two apps on one database (two server processes): each sees two of the four batches, and
    the fourth is refused all the same, because the count lives in the locked session row."""
    limited = dataclasses.replace(settings, limits=Limits(batches_per_minute=3))
    store_a, store_b = Storage(settings.database_url), Storage(settings.database_url)
    a = create_app(limited, store=store_a, migrate=True, purge_every=None)
    b = create_app(limited, store=store_b, migrate=False, purge_every=None)
    s = student()
    try:
        with TestClient(a) as via_a, TestClient(b) as via_b:
            s.client = via_a
            assert s.post([s.opening()]).status_code == 200
            s.client = via_b
            assert s.post(s.heartbeats(1)).status_code == 200
            s.client = via_a
            assert s.post(s.heartbeats(1)).status_code == 200
            s.client = via_b
            response = s.post(s.heartbeats(1))
            assert response.status_code == 429, response.text
            assert via_b.app.state.openproctor.limiter.limit == 3  # its own count was 1
    finally:
        store_a.close()
        store_b.close()


@pytest.mark.parametrize(
    ("offsets", "allowed"),
    [
        ([0.0] * 5, [True, True, True, False, False]),  # a burst of the limit, then refused
        ([0.0, 0.0, 0.0, 20.0], [True, True, True, True]),  # one slot back every 20 s
        ([0.0, 0.0, 0.0, 19.0], [True, True, True, False]),
        ([0.0, 0.0, 0.0, 60.0, 60.0, 60.0], [True] * 6),  # a quiet minute: the burst again
    ],
)
def test_rate_slots_follow_the_cell_rate_algorithm(offsets, allowed):
    ingest = IngestService(store=None, keyring=None, batches_per_minute=3)  # type: ignore[arg-type]
    row = types.SimpleNamespace(rate_tat=None)
    seen = []
    for offset in offsets:
        try:
            row.rate_tat = ingest._rate_slot(row, 1_000_000.0 + offset)  # type: ignore[arg-type]
            seen.append(True)
        except TooManyRequests:
            seen.append(False)
    assert seen == allowed


def test_invalid_event_names_index_and_field(student, store):
    s = student()
    event = s.opening().to_dict()
    event["data"]["user_agent"] = "Mozilla"
    response = s.post([event])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_event" and error["index"] == 0
    assert error["field"] == "data.user_agent"
    assert store.sessions.get(s.session_id).status == "active"


def test_session_end_finishes_and_scores(student, store):
    s = student()
    events = [
        s.opening(),
        *s.heartbeats(4),
        s.sign("tab_switch", {"duration_ms": 20000, "count": 1}),
        *s.heartbeats(4),
    ]
    # What the browser's recorder reports: the score of the log as it will be once closed.
    tally = Tally.of(events)
    tally.mark_alive(s.t)
    client_score = score_tally(tally, _policy(store, s), s.session_id).score_milli
    final = s.end(score_milli=client_score)
    response = s.post([*events, final])
    assert response.status_code == 200 and response.json()["complete"]
    row = store.sessions.get(s.session_id)
    assert row.status == "finished" and row.complete and not row.score_mismatch
    assert row.score_milli == client_score < 1000
    assert s.post([s.sign("heartbeat", {})]).json()["error"]["code"] == "session_finished"


def _policy(store, s):
    import json

    from openproctor.core import parse_policy

    return parse_policy(json.loads(store.sessions.get(s.session_id).policy_json))


def test_client_score_mismatch_is_recorded(student, store):
    s = student()
    events = [
        s.opening(),
        s.sign("tab_switch", {"duration_ms": 60000, "count": 1}),
        s.end(score_milli=1000),
    ]  # a patched client claims a perfect score
    assert s.post(events).status_code == 200
    row = store.sessions.get(s.session_id)
    assert row.score_mismatch and row.client_score_milli == 1000
    assert row.score_milli < 1000


def test_finish_without_session_end_is_incomplete(student, store):
    s = student()
    s.post([s.opening(), *s.heartbeats(2)])
    response = s.client.post(f"/api/v1/sessions/{s.session_id}/finish", headers=s.auth)
    assert response.status_code == 200
    assert response.json()["complete"] is False and response.json()["status"] == "finished"
    again = s.client.post(f"/api/v1/sessions/{s.session_id}/finish", headers=s.auth)
    assert again.json() == response.json()  # idempotent
    # Resuming a finished session is refused.
    log = store.sessions.events(s.session_id)
    assert verify_log(s.session_id, log, [bytes.fromhex(s.grant["signing_key"])], complete=False)


def test_integrator_reads_status_with_its_credential(student, app, store):
    s = student()
    s.post([s.opening(), s.sign("focus_loss", {"duration_ms": 5000, "count": 1}), s.end()])
    auth = {"authorization": f"Bearer {credential()}"}
    response = s.client.get(f"/api/v1/sessions/{s.session_id}", headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "finished" and body["integrity"]["status"] == "verified"
    assert body["integrity"]["complete"] and body["breakdown"][0]["flag"] == "focus_loss"
    by_own_id = s.client.get("/api/v1/sessions/lms-session-1", headers=auth)
    assert by_own_id.json()["session_id"] == s.session_id
    with_origin = s.client.get(
        f"/api/v1/sessions/{s.session_id}", headers={**auth, "origin": LMS_ORIGIN}
    )
    assert with_origin.headers["access-control-allow-origin"] == LMS_ORIGIN


def test_status_is_isolated_per_integration(student, app, store):
    s = student()
    keyring = app.state.openproctor.keyring
    other_secret = "other-integration-secret-" + "x" * 40
    store.integrations.add("lms2", "uni-b", keyring.encrypt(other_secret), [])
    other = {"authorization": f"Bearer {credential('lms2', other_secret)}"}
    response = s.client.get(f"/api/v1/sessions/{s.session_id}", headers=other)
    assert response.status_code == 404
    session_token = {"authorization": f"Bearer {s.grant['token']}"}
    assert (
        s.client.get(f"/api/v1/sessions/{s.session_id}", headers=session_token).status_code == 401
    )


@pytest.mark.parametrize(
    "token",
    [
        lambda: credential(valid=3600),  # too long-lived
        lambda: credential(secret="wrong-secret-" * 5),
        lambda: jwt.encode({"iss": "lms1"}, SECRET, "HS256"),  # no exp
        lambda: credential("nobody"),
    ],
)
def test_bad_integration_credentials(student, token):
    s = student()
    response = s.client.get(
        f"/api/v1/sessions/{s.session_id}", headers={"authorization": f"Bearer {token()}"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credential"


def test_purge_deletes_logs_and_keeps_the_summary(student, store):
    s = student()
    s.post([s.opening(), *s.heartbeats(3), s.end()])
    assert store.purge(now=time.time() + 29 * 86400) == {"sessions": 0, "events": 0}
    assert store.purge(now=time.time() + 31 * 86400) == {"sessions": 1, "events": 5}
    assert store.sessions.events(s.session_id) == []
    row = store.sessions.get(s.session_id)
    assert row.purged_at is not None and row.score is not None
    assert s.post(s.heartbeats(1)).status_code == 410


def test_a_wrong_session_end_count_keeps_the_events_and_flags_the_session(student, store):
    s = student()
    events = [s.opening(), *s.heartbeats(2)]
    wrong = s.signer.sign(s.t, "session_end", {"count": 99, "reason": "finished"})
    response = s.post([*events, wrong])
    assert response.status_code == 200 and response.json()["stored"] == 4
    row = store.sessions.get(s.session_id)
    assert row.status == "integrity_failed" and not row.complete
    assert row.integrity_reason.startswith("incomplete_log") and row.integrity_seq == 3
