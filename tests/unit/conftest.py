"""Shared fixtures for the unit tests: golden vectors and small builders of signed logs."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from openproctor.core import Event, Signer, derive_session_key

from ..support import ENVIRONMENT

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "chain_v1.json"


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    return json.loads(VECTORS.read_text(encoding="utf-8"))


Drafts = Sequence[tuple[int, str, dict[str, Any]]]


def heartbeats(until: int, every: int = 15000) -> list[tuple[int, str, dict[str, Any]]]:
    """Heartbeat drafts every ``every`` ms up to ``until`` (a log without them has an sdk_gap)."""
    return [(t, "heartbeat", {}) for t in range(every, until + 1, every)]


def signed_log(session_id: str, drafts: Drafts, secret: bytes = b"unit-test-secret") -> list[Event]:
    """Sign session_start, the given (t, type, data) drafts in time order, and session_end."""
    drafts = sorted(drafts, key=lambda d: d[0])
    signer = Signer(derive_session_key(secret, session_id), session_id)
    events = [
        signer.sign(
            0, "session_start", {"sdk_version": "0.1.0", **ENVIRONMENT, "heartbeat_ms": 15000}
        )
    ]
    events += [signer.sign(t, kind, data) for t, kind, data in drafts]
    end_t = max([e.t for e in events])
    events.append(signer.sign(end_t, "session_end", {"count": len(events), "reason": "finished"}))
    return events


@pytest.fixture(scope="session")
def make_log() -> Callable[..., list[Event]]:
    return signed_log
