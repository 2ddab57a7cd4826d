"""openproctor.core: the event model, normalisation, policy, scoring and signed chain.

Standard library only: the same code runs in CPython on the server and in Pyodide in the
student's browser. Everything public is listed in ``__all__``; other names are private.
"""

from .bridge import BrowserSession
from .chain import (
    BatchResult,
    ChainState,
    Secret,
    Signer,
    check_complete,
    compute_mac,
    derive_session_key,
    genesis,
    verify_batch,
    verify_log,
)
from .encoding import canonical_encode, parse_json
from .errors import (
    BadMac,
    BrokenLink,
    ChainError,
    DuplicateEvent,
    EncodingError,
    EventValidationError,
    ForeignSession,
    IncompleteLog,
    PolicyError,
    ProctorError,
    Reordered,
    SequenceGap,
    SignalError,
    TimeWentBackwards,
)
from .events import EVENT_TYPES, FLAG_TYPES, Event, validate_event
from .normalise import Draft, Normaliser, NormaliserConfig
from .policy import Accommodation, Policy, parse_policy, policy_from_lti_custom
from .recorder import SDK_VERSION, Recorder
from .scoring import PENALTY_RULES, FlagScore, Tally, TrustScore, score_log, score_tally

__all__ = [
    "EVENT_TYPES",
    "FLAG_TYPES",
    "PENALTY_RULES",
    "SDK_VERSION",
    "Accommodation",
    "BadMac",
    "BatchResult",
    "BrokenLink",
    "BrowserSession",
    "ChainError",
    "ChainState",
    "Draft",
    "DuplicateEvent",
    "EncodingError",
    "Event",
    "EventValidationError",
    "FlagScore",
    "ForeignSession",
    "IncompleteLog",
    "Normaliser",
    "NormaliserConfig",
    "Policy",
    "PolicyError",
    "ProctorError",
    "Recorder",
    "Reordered",
    "Secret",
    "SequenceGap",
    "SignalError",
    "Signer",
    "Tally",
    "TimeWentBackwards",
    "TrustScore",
    "canonical_encode",
    "check_complete",
    "compute_mac",
    "derive_session_key",
    "genesis",
    "parse_json",
    "parse_policy",
    "policy_from_lti_custom",
    "score_log",
    "score_tally",
    "validate_event",
    "verify_batch",
    "verify_log",
]
