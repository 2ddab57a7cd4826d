"""Core throughput: normalise + score + sign, and verify, over 100,000 realistic events.

Run: .venv/bin/python bench/core.py [--events 100000] [--runs 5]
Prints medians; docs/PERFORMANCE.md records a run. CPython, one core, no I/O.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openproctor.core import (
    ChainState,
    Recorder,
    Signer,
    derive_session_key,
    parse_policy,
    score_log,
    verify_batch,
)
from tests.support import ENVIRONMENT

POLICY = parse_policy({"exam_id": "bench", "trust_threshold": 0.7})
KEY = derive_session_key(b"bench-server-secret", "bench-session")


def raw_signals(target_events: int, seed: int = 7) -> list[dict]:
    """A long exam's raw signal stream: ticks, input pulses, and the behaviours that become events.

    Incidents are spaced more than the merge window apart so that most become events; the mix
    is what a restless student produces, compressed in time.
    """
    rng = random.Random(seed)
    signals: list[dict] = []
    t = 0
    produced = 0
    while produced < target_events:
        t += 1100 + rng.randrange(400)
        signals.append({"t": t, "kind": "tick"})
        signals.append({"t": t + 1, "kind": "activity"})
        roll = rng.random()
        if roll < 0.30:
            signals += [{"t": t + 2, "kind": "blur"}, {"t": t + 300, "kind": "focus"}]
        elif roll < 0.50:
            signals += [
                {"t": t + 2, "kind": "blur"},
                {"t": t + 4, "kind": "visibility", "hidden": True},
                {"t": t + 600, "kind": "visibility", "hidden": False},
                {"t": t + 602, "kind": "focus"},
            ]
        elif roll < 0.75:
            action = rng.choice(["copy", "cut", "paste"])
            signals += [
                {"t": t + 2, "kind": "shortcut", "combo": "Ctrl+" + action[0].upper()},
                {"t": t + 5, "kind": "clipboard", "action": action},
            ]
        elif roll < 0.85:
            signals.append({"t": t + 2, "kind": "contextmenu"})
        elif roll < 0.95:
            signals += [
                {"t": t + 2, "kind": "network", "online": False},
                {"t": t + 700, "kind": "network", "online": True},
            ]
        else:
            signals.append({"t": t + 2, "kind": "shortcut", "combo": "F12"})
        produced += 1
        t += 800
    return signals


def run_recorder(signals: list[dict]) -> tuple[float, list]:
    start = time.perf_counter()
    recorder = Recorder(KEY, "bench-session", POLICY)
    events = recorder.start(0, ENVIRONMENT)
    for signal in signals:
        events += recorder.feed(signal)
    events += recorder.finish(signals[-1]["t"] + 1000)
    recorder.live()
    return time.perf_counter() - start, events


def run_sign(events: list) -> float:
    start = time.perf_counter()
    signer = Signer(KEY, "bench-session")
    for event in events:
        signer.sign(event.t, event.type, event.data)
    return time.perf_counter() - start


def run_verify(wire: list[bytes]) -> float:
    """Server-side path: parse each 50-event JSON batch, verify it, then rescore the log."""
    start = time.perf_counter()
    state = ChainState.start("bench-session")
    verified = []
    for body in wire:
        result = verify_batch(state, json.loads(body), [KEY])
        state = result.state
        verified += result.new_events
    score_log(verified, POLICY)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    signals = raw_signals(args.events)
    _, events = run_recorder(signals)
    wire = [
        json.dumps([e.to_dict() for e in events[i : i + 50]]).encode()
        for i in range(0, len(events), 50)
    ]
    recorder_s, sign_s, verify_s = [], [], []
    for _ in range(args.runs):
        recorder_s.append(run_recorder(signals)[0])
        sign_s.append(run_sign(events))
        verify_s.append(run_verify(wire))

    n = len(events)
    print(f"python {platform.python_version()} on {platform.machine()}, {args.runs} runs, medians")
    print(f"raw signals: {len(signals):,}  signed events: {n:,}")
    for label, times in (
        ("normalise+score+sign (Recorder.feed)", recorder_s),
        ("sign only (Signer.sign)", sign_s),
        ("verify (json.loads + verify_batch x50 + rescore)", verify_s),
    ):
        median = statistics.median(times)
        print(f"{label:52s} {median * 1000:8.1f} ms  {n / median:10,.0f} events/s")
    print(
        f"{'  of which raw signals/s through the recorder':52s} "
        f"{'':8s}     {len(signals) / statistics.median(recorder_s):10,.0f} signals/s"
    )


if __name__ == "__main__":
    main()
