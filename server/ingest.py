"""Verified ingest: check a batch against the stored chain, store it atomically, rescore.

The score of record is always computed here from the verified log with openproctor.core; the
client's own score (``session_end.score_milli``) is only compared with it.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from openproctor.core import (
    BatchResult,
    ChainError,
    ChainState,
    Event,
    EventValidationError,
    IncompleteLog,
    ProctorError,
    SequenceGap,
    Tally,
    TrustScore,
    check_complete,
    score_log,
    score_tally,
    verify_batch,
    verify_log,
)

from .errors import (
    Conflict,
    Gone,
    Invalid,
    OpenproctorError,
    Refused,
    TooLarge,
    TooManyRequests,
)
from .observability import BATCHES, EVENTS, REJECTIONS
from .security.keys import Keyring
from .storage import Storage
from .storage.rows import SessionRow, session_policy
from .storage.sessions import SessionTx, WriteGroup
from .webhooks import WebhookStore

log = logging.getLogger("openproctor.server.ingest")


class SessionWatcher(Protocol):
    """Told of each change to a session inside the transaction that makes it (the LTI
    services queue their calls to the platform there: lti/calls.py)."""

    def session_changed(
        self, conn: Connection, row: SessionRow, fields: Mapping[str, Any]
    ) -> None: ...


@dataclass
class IngestService:
    store: Storage
    keyring: Keyring
    #: Alerts are queued in the transaction that flags a session.
    alerts: WebhookStore | None = None
    #: Prefix of the dashboard link in alerts (the server's public origin, when configured).
    public_origin: str = ""
    #: The most events a session may store (Limits.max_events_per_session).
    max_events: int = 20_000
    #: How long after the deadline an event may still be stamped (the token's grace period).
    grace_seconds: int = 30 * 60
    #: Told of each change in its transaction: calls back to the LMS, result callbacks.
    watchers: tuple[SessionWatcher, ...] = ()
    #: The most batches a session may send in a minute, across every server process.
    batches_per_minute: int = 120

    def batch(self, session_id: str, events: list[Any]) -> Batch:
        """One batch as a unit of work for the writer (writer.py)."""
        return Batch(self, session_id, events)

    def ingest(
        self, session_id: str, events: list[Any], group: WriteGroup | None = None
    ) -> dict[str, Any]:
        """Verify and store one batch; answer with the highest acknowledged seq. With ``group``
        (the writer's transaction) the batch is durable at the group's commit, and the caller
        acknowledges it only then. The caller has checked the token and the origin.

        A refused batch still counts against the session's rate: its slot is written in the
        same transaction, which then commits without any of the batch's events."""
        keys = self.keyring.session_keys(session_id)
        try:
            with self.store.sessions.locked(session_id, group) as tx:
                if tx.row.purged_at is not None:
                    raise Gone("session_purged", "this session's log has been purged")
                now = time.time()
                slot = self._rate_slot(tx.row, now)
                try:
                    result = self._verified(tx, events, keys)
                except (ProctorError, OpenproctorError) as exc:
                    failure: BaseException | None = exc
                    with tx.writing():
                        self._refused(tx, exc, slot)
                else:
                    failure = None
                    with tx.writing():
                        tx.insert_events(result.new_events, now)
                        fields = self._rescore(tx, result.new_events, result.state)
                        fields["rate_tat"] = slot
                        self._changed(tx, fields)
                        tx.update(**fields)
                    answer = {
                        "acknowledged_seq": result.state.next_seq - 1,
                        "next_seq": result.state.next_seq,
                        "stored": len(result.new_events),
                        "resent": result.resent,
                        "status": tx.row.status,
                        "complete": bool(tx.row.complete),
                    }
            # Past the transaction (alone: committed; in a group, answered only after the
            # group's commit), the refused batch's slot too: answer, or say why it was refused.
            if failure is not None:
                raise failure
            BATCHES.labels("stored" if result.new_events else "resent").inc()
            EVENTS.inc(len(result.new_events))
            return answer
        except SequenceGap as gap:
            REJECTIONS.labels("sequence_gap").inc()
            raise Conflict(
                "sequence_gap", gap.message, seq=gap.seq, expected_seq=gap.expected
            ) from None
        except EventValidationError as exc:
            REJECTIONS.labels("invalid_event").inc()
            raise Invalid("invalid_event", exc.message, index=exc.index, field=exc.field) from None
        except ChainError as exc:
            # Nothing of the batch was stored; the session now says why (written above).
            REJECTIONS.labels(exc.code).inc()
            log.warning(
                "integrity failure",
                extra={"session": session_id, "reason": exc.code, "seq": exc.seq},
            )
            raise Refused(
                exc.code, exc.message, seq=exc.seq, session_status="integrity_failed"
            ) from None
        except OpenproctorError as exc:
            REJECTIONS.labels(exc.code).inc()
            raise

    def _refused(self, tx: SessionTx, exc: Exception, slot: float) -> None:
        """What a refused batch leaves: its rate slot and, when the chain broke, the reason."""
        refused: dict[str, Any] = {"rate_tat": slot}
        if isinstance(exc, ChainError) and not isinstance(exc, SequenceGap):
            refused.update(
                status="integrity_failed",
                integrity_reason=f"{exc.code}: {exc.message}",
                integrity_seq=exc.seq,
            )
            self._changed(tx, refused)
        tx.update(**refused)

    def _verified(self, tx: SessionTx, events: list[Any], keys: Any) -> BatchResult:
        """The batch checked against the stored chain and the session's bounds; nothing is
        written here, so a refusal leaves the transaction clean."""
        state = ChainState(tx.row.id, int(tx.row.next_seq), tx.row.last_mac, int(tx.row.last_t))
        result = verify_batch(state, events, keys, _known_macs(tx, events))
        if result.new_events and tx.row.complete:
            raise Conflict(
                "session_finished",
                "the session's log is complete; no events can follow session_end",
            )
        self._check_bounds(tx.row, result.new_events)
        return result

    def _rate_slot(self, row: SessionRow, now: float) -> float:
        """The session's next rate state if this batch may go on (the generic cell rate
        algorithm: at most ``batches_per_minute`` in any minute, as a burst or spread out), kept
        in the locked row so that every server process counts the same batches."""
        interval = 60.0 / self.batches_per_minute
        arrival = max(row.rate_tat or 0.0, now)
        early = arrival - now - (60.0 - interval)
        if early > 0:
            raise TooManyRequests(
                "rate_limited",
                f"at most {self.batches_per_minute} batches per minute per session",
                retry_after=max(1, math.ceil(early)),
            )
        return arrival + interval

    def _check_bounds(self, row: SessionRow, new: tuple[Event, ...]) -> None:
        """A verified event is still refused when the session could not have produced it: later
        than the deadline plus the grace period (a signed ``t`` near 2**53 would otherwise
        stretch every share of exam time and every chart), or past the session's event cap."""
        if not new:
            return
        if int(row.next_seq) + len(new) > self.max_events:
            raise TooLarge(
                "session_event_limit",
                f"this session has reached its limit of {self.max_events} events",
                limit=self.max_events,
            )
        limit_ms = int((row.deadline - row.started_at + self.grace_seconds) * 1000)
        late = next((e for e in new if e.t > limit_ms), None)
        if late is not None:
            raise Refused(
                "event_after_deadline",
                f"event {late.seq} is stamped {late.t} ms after the session started, later than "
                f"the exam's deadline plus {self.grace_seconds} s ({limit_ms} ms)",
                seq=late.seq,
                limit_ms=limit_ms,
            )

    def _rescore(self, tx: SessionTx, new: tuple[Event, ...], state: ChainState) -> dict[str, Any]:
        row = tx.row
        policy = session_policy(row.policy_json)
        tally = Tally.from_dict(row.tally)
        for event in new:
            tally.add(event)
        fields: dict[str, Any] = {
            "next_seq": state.next_seq,
            "last_mac": state.last_mac,
            "last_t": state.last_t,
            "tally_json": json.dumps(tally.to_dict()),
        }
        ended = bool(new) and new[-1].type == "session_end"
        score = score_tally(tally, policy, row.id)
        if ended:
            # The log is closed: rescore it whole from what is stored, the score of record.
            log = verify_log(row.id, tx.events(), self.keyring.session_keys(row.id), complete=False)
            score = score_log(log, policy, row.id)
            client = log[-1].data.get("score_milli")
            fields.update(
                finished_at=time.time(),
                client_score_milli=client,
                score_mismatch=client is not None and client != score.score_milli,
            )
            try:
                check_complete(log)
            except IncompleteLog as exc:
                # Authentic events, inconsistent close (a wrong count, a second start): keep
                # every verified event and say what is wrong, rather than lose them.
                fields.update(
                    complete=False,
                    status="integrity_failed",
                    integrity_reason=f"{exc.code}: {exc.message}",
                    integrity_seq=exc.seq,
                )
            else:
                fields["complete"] = True
                if row.status == "active":
                    fields["status"] = "finished"
        fields.update(_score_fields(score))
        return fields

    def finish(self, session_id: str) -> dict[str, Any]:
        """Close a session (idempotent): rescore from the stored log, record completeness."""
        with self.store.sessions.locked(session_id) as tx:
            row = tx.row
            policy = session_policy(row.policy_json)
            stored = tx.events()
            log = verify_log(row.id, stored, self.keyring.session_keys(row.id), complete=False)
            score = score_log(log, policy, row.id)
            try:
                check_complete(log)
                complete = True
            except IncompleteLog:
                complete = False
            fields: dict[str, Any] = {"complete": complete, **_score_fields(score)}
            if row.finished_at is None:
                fields["finished_at"] = time.time()
            if row.status == "active":
                fields["status"] = "finished"
            self._changed(tx, fields)
            tx.update(**fields)
            return {
                "status": tx.row.status,
                "complete": complete,
                "events": len(log),
                "score": score.score,
                "flagged": score.flagged,
            }

    def _changed(self, tx: SessionTx, fields: dict[str, Any]) -> None:
        """What a change queues, in its transaction: alerts, calls back to the LMS."""
        for watcher in self.watchers:
            watcher.session_changed(tx.conn, tx.row, fields)
        if self.alerts is None or not fields.get("flagged") or tx.row.flagged:
            return
        url = f"{self.public_origin}/dashboard/sessions/{tx.row.id}"
        self.alerts.enqueue_flagged(tx.conn, {**tx.row.as_dict(), **fields}, url)


@dataclass(frozen=True)
class Batch:
    """A batch of a session's events, to be verified and stored (the writer's Work)."""

    service: IngestService
    session_id: str
    events: list[Any]

    def apply(self, group: WriteGroup | None) -> dict[str, Any]:
        return self.service.ingest(self.session_id, self.events, group)


def _score_fields(score: TrustScore) -> dict[str, Any]:
    return {
        "score": score.score,
        "score_milli": score.score_milli,
        "flagged": score.flagged,
        "breakdown_json": json.dumps(score.to_dict()["breakdown"]),
    }


def _known_macs(tx: SessionTx, events: list[Any]) -> Callable[[int], str | None]:
    """MACs already stored for the seqs a resent batch covers (one query, only when needed)."""
    cache: dict[int, str] | None = None

    def lookup(seq: int) -> str | None:
        nonlocal cache
        if cache is None:
            cache = tx.known_macs(seq, seq + len(events))
        return cache.get(seq)

    return lookup
