"""The worker's JSON facade: the same session as the recorder, as JSON strings."""

from __future__ import annotations

import json

from openproctor.core import BrowserSession, ChainState, derive_session_key, genesis, verify_log

from ..support import ENVIRONMENT

KEY = derive_session_key(b"server", "ops_x")


def config(chain=None):
    return json.dumps(
        {
            "session_id": "ops_x",
            "signing_key": KEY.reveal().hex(),
            "policy": {"exam_id": "E1"},
            "environment": ENVIRONMENT,
            "chain": chain or {"next_seq": 0, "last_mac": genesis("ops_x"), "last_t": 0},
        }
    )


def test_a_session_through_json():
    session = BrowserSession(config())
    events = json.loads(session.start())
    signals = [
        {"t": 1000, "kind": "blur"},
        {"t": 6000, "kind": "focus"},
        {"t": 7000, "kind": "keydown", "key": "a"},  # not a signal kind: skipped
        *({"t": t, "kind": "tick"} for t in range(8000, 20000, 1000)),
    ]
    fed = json.loads(session.feed(json.dumps(signals)))
    assert len(fed["rejected"]) == 1 and "kind" in fed["rejected"][0]
    events += fed["events"]
    live = json.loads(session.live())
    assert live["breakdown"][0]["flag"] == "focus_loss"
    events += json.loads(session.finish(20000))
    log = verify_log("ops_x", events, [KEY])
    assert log[-1].type == "session_end" and 0 <= log[-1].data["score_milli"] <= 1000


def test_resume_continues_from_the_chain_head():
    first = BrowserSession(config())
    events = json.loads(first.start())
    events += json.loads(first.feed(json.dumps([{"t": 16000, "kind": "tick"}])))["events"]
    head = json.loads(first.chain())
    resumed = BrowserSession(config(head))
    assert resumed.start() == "[]"
    events += json.loads(resumed.feed(json.dumps([{"t": 17000, "kind": "tick"}])))["events"]
    events += json.loads(resumed.finish(18000))
    assert verify_log("ops_x", events, [KEY])[-1].type == "session_end"
    assert ChainState.start("ops_x").next_seq == 0


def test_a_resumed_session_reports_the_score_of_the_whole_log():
    from openproctor.core import Tally, parse_policy, score_log, validate_event

    first = BrowserSession(config())
    events = json.loads(first.start())
    signals = [
        {"t": 1000, "kind": "blur"},
        {"t": 9000, "kind": "focus"},
        *({"t": t, "kind": "tick"} for t in range(10000, 40000, 1000)),
    ]
    events += json.loads(first.feed(json.dumps(signals)))["events"]
    stored, unsent = events[:2], events[2:]  # the server has two; the rest waited in IndexedDB
    server_tally = Tally.of(validate_event(e) for e in stored).to_dict()
    head = json.loads(first.chain())
    resumed = BrowserSession(
        json.dumps({**json.loads(config(head)), "tally": server_tally, "pending": unsent})
    )
    events += json.loads(resumed.feed(json.dumps([{"t": 41000, "kind": "tick"}])))["events"]
    events += json.loads(resumed.finish(42000))
    log = verify_log("ops_x", events, [KEY])
    server = score_log(log, parse_policy({"exam_id": "E1"}), "ops_x")
    assert log[-1].data["score_milli"] == server.score_milli < 1000
