"""The signed hash chain: per-session keys, incremental signing, verification of batches and logs.

Each event's ``mac`` is HMAC-SHA256(session key, canonical bytes of seq, t, type, data, prev) and
its ``prev`` is the previous event's ``mac``; the first event links to a genesis value derived from
the session id. Verification accepts a list of keys (the newest signs, any verifies) so the server
secret can rotate during a session. Every comparison of MACs is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import (
    BadMac,
    BrokenLink,
    DuplicateEvent,
    ForeignSession,
    IncompleteLog,
    ProctorError,
    Reordered,
    SequenceGap,
    TimeWentBackwards,
)
from .events import Event, check_data, checked_signing_bytes, signing_bytes, validate_event

KEY_SALT = b"openproctor/session-key/v1"
GENESIS_PREFIX = b"openproctor/genesis/v1\x00"


class Secret:
    """Wraps key material so that it never shows in a ``repr``, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes | str) -> None:
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        if not raw:
            raise ProctorError("a secret must not be empty")
        self._value = raw

    def reveal(self) -> bytes:
        """The raw bytes. Call it only where the bytes are fed to HMAC."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(hashlib.sha256(self._value).digest())


KeyLike = Secret | bytes | str


def _secret(key: KeyLike) -> Secret:
    return key if isinstance(key, Secret) else Secret(key)


def derive_session_key(server_secret: KeyLike, session_id: str) -> Secret:
    """Derive the 32-byte signing key of one session with HKDF-SHA256 (RFC 5869).

    ``server_secret`` is the input keying material, :data:`KEY_SALT` the salt and the UTF-8
    session id the ``info``, so every session gets an independent key and the server secret never
    leaves the server.
    """
    if not isinstance(session_id, str) or not session_id:
        raise ProctorError("session_id must be a non-empty string")
    prk = hmac.digest(KEY_SALT, _secret(server_secret).reveal(), "sha256")
    okm = hmac.digest(prk, session_id.encode("utf-8") + b"\x01", "sha256")
    return Secret(okm)


def genesis(session_id: str) -> str:
    """The fixed ``prev`` value of event 0 of ``session_id``'s log (hex SHA-256)."""
    return hashlib.sha256(GENESIS_PREFIX + session_id.encode("utf-8")).hexdigest()


def compute_mac(
    key: KeyLike, seq: int, t: int, event_type: str, data: Mapping[str, Any], prev: str
) -> str:
    """HMAC-SHA256 of an event's signed fields, as lowercase hex."""
    payload = signing_bytes(seq, t, event_type, data, prev)
    return hmac.digest(_secret(key).reveal(), payload, "sha256").hex()


@dataclass(frozen=True, slots=True)
class ChainState:
    """Where a chain stands: the next ``seq`` expected, the MAC to link to, the last ``t``."""

    session_id: str
    next_seq: int
    last_mac: str
    last_t: int

    @classmethod
    def start(cls, session_id: str) -> ChainState:
        """The state of a session before its first event."""
        return cls(session_id, 0, genesis(session_id), 0)

    def after(self, event: Event) -> ChainState:
        """The state once ``event`` has been appended."""
        return ChainState(self.session_id, event.seq + 1, event.mac, event.t)


class Signer:
    """Signs the events of one session incrementally: genesis, then seq 0, 1, 2, ...

    The browser's recorder holds one; the server's simulators and tests use it too.
    """

    __slots__ = ("_key", "_state")

    def __init__(self, key: KeyLike, session_id: str, state: ChainState | None = None) -> None:
        self._key = _secret(key)
        self._state = state or ChainState.start(session_id)
        if self._state.session_id != session_id:
            raise ProctorError("the chain state belongs to another session")

    @property
    def state(self) -> ChainState:
        """The chain state after the last signed event (resume a signer from it after a reload)."""
        return self._state

    def sign(self, t: int, event_type: str, data: Mapping[str, Any]) -> Event:
        """Append one event at ``t`` ms; ``data`` is validated against the event model first."""
        state = self._state
        if not isinstance(t, int) or isinstance(t, bool) or t < 0:
            raise ProctorError(f"t must be a non-negative integer, got {t!r}")
        if t < state.last_t:
            raise TimeWentBackwards(state.next_seq, t, state.last_t)
        clean = check_data(event_type, data, state.next_seq)
        payload = checked_signing_bytes(state.next_seq, t, event_type, clean, state.last_mac)
        mac = hmac.digest(self._key.reveal(), payload, "sha256").hex()
        event = Event(state.next_seq, t, event_type, clean, state.last_mac, mac)
        self._state = state.after(event)
        return event

    def __repr__(self) -> str:
        return f"Signer(session_id={self._state.session_id!r}, next_seq={self._state.next_seq})"


def _mac_matches(keys: Sequence[Secret], event: Event, checked: bool) -> bool:
    if checked:  # validated by validate_event just now
        payload = checked_signing_bytes(event.seq, event.t, event.type, event.data, event.prev)
    else:
        payload = event.signing_bytes()
    matched = False
    for key in keys:  # no early exit: the time taken does not tell which key matched
        expected = hmac.digest(key.reveal(), payload, "sha256").hex()
        matched |= hmac.compare_digest(expected, event.mac)
    return matched


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What verifying a batch found: the new state, the new events, and how many were resent."""

    state: ChainState
    new_events: tuple[Event, ...]
    resent: int


def verify_batch(
    state: ChainState,
    events: Iterable[Any],
    keys: Sequence[KeyLike],
    known_mac: Callable[[int], str | None] | None = None,
) -> BatchResult:
    """Verify the next batch of a session's log against the last verified ``state``.

    ``events`` are wire dicts or :class:`Event` objects, in ascending contiguous ``seq`` order.
    Events with a ``seq`` below ``state.next_seq`` are a resend: each must carry the MAC stored
    for that seq (``known_mac(seq)``), and is then skipped, so resending a batch is idempotent.
    Raises :class:`~openproctor.core.errors.EventValidationError` or a
    :class:`~openproctor.core.errors.ChainError` subclass naming the first offending seq; the
    state passed in is never changed.
    """
    if not keys:
        raise ProctorError("at least one key is needed to verify")
    secrets = [_secret(k) for k in keys]
    items = list(events)
    # Events handed in as objects were not validated here, so they take the careful encoding.
    checked = not any(isinstance(e, Event) for e in items)
    parsed = [e if isinstance(e, Event) else validate_event(e, i) for i, e in enumerate(items)]
    _check_order(parsed)
    new: list[Event] = []
    resent = 0
    # The chain's head as plain locals: one ChainState at the end, not one per event.
    next_seq, last_mac, last_t = state.next_seq, state.last_mac, state.last_t
    for event in parsed:
        if event.seq < next_seq:
            stored = known_mac(event.seq) if known_mac is not None else None
            if stored is None or not hmac.compare_digest(stored, event.mac):
                raise DuplicateEvent(event.seq)
            if not _mac_matches(secrets, event, checked):  # same MAC, altered contents
                raise BadMac(event.seq)
            resent += 1
            continue
        if event.seq > next_seq:
            raise SequenceGap(event.seq, next_seq)
        if not hmac.compare_digest(event.prev, last_mac):
            if event.seq == 0:
                raise ForeignSession(0)
            raise BrokenLink(event.seq)
        if not _mac_matches(secrets, event, checked):
            raise BadMac(event.seq)
        if event.t < last_t:
            raise TimeWentBackwards(event.seq, event.t, last_t)
        new.append(event)
        next_seq, last_mac, last_t = event.seq + 1, event.mac, event.t
    head = ChainState(state.session_id, next_seq, last_mac, last_t) if new else state
    return BatchResult(head, tuple(new), resent)


def _check_order(events: Sequence[Event]) -> None:
    """A batch must hold contiguous ascending seqs: tell a reorder from a missing event."""
    if not events:
        return
    first = events[0].seq
    present = {e.seq for e in events}
    for position, event in enumerate(events):
        expected = first + position
        if event.seq == expected:
            continue
        if expected in present or event.seq < expected:
            raise Reordered(event.seq, expected)
        raise SequenceGap(event.seq, expected)


def verify_log(
    session_id: str,
    events: Iterable[Any],
    keys: Sequence[KeyLike],
    *,
    complete: bool = True,
) -> tuple[Event, ...]:
    """Verify a whole log from genesis; return its events.

    With ``complete`` (the default) the log must open with ``session_start`` and close with a
    ``session_end`` whose ``count`` equals the number of events before it, so a truncated log is
    refused with :class:`~openproctor.core.errors.IncompleteLog`.
    """
    result = verify_batch(ChainState.start(session_id), events, keys)
    log = result.new_events
    if complete:
        check_complete(log)
    return log


def check_complete(log: Sequence[Event]) -> None:
    """Raise :class:`IncompleteLog` unless ``log`` opens and closes as the contract says."""
    if not log or log[0].type != "session_start":
        raise IncompleteLog(0, "the log must open with a session_start event")
    for event in log[1:-1]:
        if event.type in ("session_start", "session_end"):
            raise IncompleteLog(event.seq, f"{event.type} may only open or close the log")
    last = log[-1]
    if last.type != "session_end":
        raise IncompleteLog(last.seq, "the log ends without a session_end event (truncated)")
    if last.data["count"] != last.seq:
        raise IncompleteLog(
            last.seq, f"session_end counts {last.data['count']} events but {last.seq} precede it"
        )
