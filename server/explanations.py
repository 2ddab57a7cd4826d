"""A student's own explanation of a flagged episode ("fire alarm", "my screen reader moved
focus"), written on their record page for ``explanation_days`` after the exam (policy, default
7), shown to reviewers beside the episode, and included in the evidence bundle under the
server's attestation.

Bounded: 500 characters each, at most 200 per session, 10 a minute per session (in memory per
process, before any database work); only flag events of the session's own stored log can be
explained, and nothing once its log has been deleted under the retention policy."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from openproctor.core import FLAG_TYPES

from .errors import Forbidden, Gone, Invalid, NotFound, TooManyRequests
from .ratelimit import RateLimiter
from .storage import Storage
from .storage.rows import SessionRow

MAX_CHARS = 500
MAX_PER_SESSION = 200
PER_MINUTE = 10


def window_closes(row: SessionRow) -> float:
    """When the student can no longer explain (the exam's end, or its start while it runs,
    plus the policy's ``explanation_days``)."""
    days = int(row.policy.get("explanation_days", 7))
    return (row.finished_at or row.started_at) + days * 86400 if days else 0.0


def may_explain(row: SessionRow, now: float | None = None) -> bool:
    now = time.time() if now is None else now
    return row.purged_at is None and now < window_closes(row)


def clean(raw: Any) -> str:
    """The explanation as stored: trimmed, 1 to 500 characters, no control characters but
    line breaks (shown escaped everywhere)."""
    if not isinstance(raw, str):
        raise Invalid("explanation_not_text", "the explanation must be text", field="text")
    text: str = raw.replace("\r\n", "\n").strip()
    if not text:
        raise Invalid("explanation_empty", "the explanation is empty", field="text")
    if len(text) > MAX_CHARS:
        raise Invalid(
            "explanation_too_long",
            f"the explanation is {len(text)} characters long; at most {MAX_CHARS} are kept",
            field="text",
            length=len(text),
        )
    if any(unicodedata.category(c) == "Cc" and c != "\n" for c in text):
        raise Invalid(
            "explanation_control", "the explanation holds control characters", field="text"
        )
    return text


def flagged_seqs(events: Iterable[Mapping[str, Any]]) -> set[int]:
    """The events a student may explain: the flag events of the log."""
    return {int(e["seq"]) for e in events if e["type"] in FLAG_TYPES}


@dataclass
class ExplanationService:
    store: Storage
    limiter: RateLimiter = field(
        default_factory=lambda: RateLimiter(PER_MINUTE, what="explanations")
    )

    def explain(self, row: SessionRow, seq: Any, text: Any, now: float | None = None) -> int:
        """Store the student's explanation of the flag event ``seq``; returns the seq."""
        now = time.time() if now is None else now
        if row.purged_at is not None:
            raise Gone(
                "session_purged", "this session's log was deleted under the retention policy"
            )
        if not may_explain(row, now):
            raise Forbidden(
                "explanations_closed",
                "explanations can no longer be added to this session (the exam's policy allows "
                f"them for {row.policy.get('explanation_days', 7)} days after the exam)",
            )
        try:
            number = int(seq)
        except (TypeError, ValueError):
            raise Invalid(
                "invalid_seq", "seq must be the number of a flagged event", field="seq"
            ) from None
        self.limiter.hit(row.id, time.monotonic())
        if number not in flagged_seqs(self.store.sessions.events(row.id)):
            raise NotFound(
                "unknown_episode", f"event {number} is not a flagged episode of this session"
            )
        if not self.store.explanations.add(row.id, number, clean(text), now, MAX_PER_SESSION):
            raise TooManyRequests(
                "too_many_explanations",
                f"this session already holds {MAX_PER_SESSION} explanations",
                retry_after=86400,
            )
        return number
