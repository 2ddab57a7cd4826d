"""The one error hierarchy of openproctor.core: each error carries the data naming the problem."""

from __future__ import annotations


class ProctorError(Exception):
    """Base class of every error raised by openproctor.core."""

    code = "proctor_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EncodingError(ProctorError):
    """A value cannot be put into the canonical encoding (a float, NaN, a non-string key, ...)."""

    code = "encoding_error"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class EventValidationError(ProctorError):
    """An event breaks the event-log contract; ``index`` is its position in the batch."""

    code = "invalid_event"

    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(f"event {index}: field {field!r} {message}")
        self.index = index
        self.field = field


class SignalError(ProctorError):
    """A raw browser signal handed to the normaliser is malformed."""

    code = "invalid_signal"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"raw signal: field {field!r} {message}")
        self.field = field


class PolicyError(ProctorError):
    """An exam policy field is invalid; ``field`` names it, the message says what is allowed."""

    code = "invalid_policy"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"policy field {field!r} {message}")
        self.field = field


class ChainError(ProctorError):
    """The signed event chain does not verify; ``seq`` is the offending event's sequence number."""

    code = "chain_error"

    def __init__(self, seq: int, message: str) -> None:
        super().__init__(f"event seq {seq}: {message}")
        self.seq = seq


class BadMac(ChainError):
    """The event's MAC does not match its contents under any of the session's keys."""

    code = "bad_mac"

    def __init__(self, seq: int) -> None:
        super().__init__(seq, "MAC does not match the event's contents (forged or altered event)")


class BrokenLink(ChainError):
    """The event's ``prev`` is not the MAC of the event before it."""

    code = "broken_link"

    def __init__(self, seq: int) -> None:
        super().__init__(seq, "'prev' is not the MAC of the previous event (chain broken)")


class SequenceGap(ChainError):
    """Events are missing between the last verified event and this one."""

    code = "sequence_gap"

    def __init__(self, seq: int, expected: int) -> None:
        super().__init__(seq, f"gap in the sequence: expected seq {expected}")
        self.expected = expected


class DuplicateEvent(ChainError):
    """An already verified ``seq`` was sent again with different contents."""

    code = "duplicate_event"

    def __init__(self, seq: int) -> None:
        super().__init__(seq, "this seq was already verified with a different MAC")


class Reordered(ChainError):
    """Events inside one batch are not in ascending, contiguous ``seq`` order."""

    code = "reordered"

    def __init__(self, seq: int, expected: int) -> None:
        super().__init__(seq, f"events out of order: expected seq {expected} at this position")
        self.expected = expected


class TimeWentBackwards(ChainError):
    """The event's ``t`` is smaller than the previous event's."""

    code = "time_went_backwards"

    def __init__(self, seq: int, t: int, previous_t: int) -> None:
        super().__init__(seq, f"t={t} is before the previous event's t={previous_t}")
        self.t = t
        self.previous_t = previous_t


class ForeignSession(ChainError):
    """The chain does not start from this session's genesis value: it belongs to another session."""

    code = "foreign_session"

    def __init__(self, seq: int) -> None:
        super().__init__(seq, "the chain does not start at this session's genesis (foreign)")


class IncompleteLog(ChainError):
    """A log that should be complete lacks a correct ``session_start`` or ``session_end``."""

    code = "incomplete_log"
