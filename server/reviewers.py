"""Local reviewer accounts (scrypt password hashes), login throttling shared by every server
process (it lives in the database), and review decisions kept as an append-only history."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from .errors import Invalid, TooManyRequests
from .security import validation
from .storage import Storage

ROLES = ("reviewer", "admin")
OUTCOMES = {
    "cleared": "cleared",
    "violation_confirmed": "violation confirmed",
    "needs_discussion": "needs discussion",
}
#: A reviewer's verdict on one flagged episode.
VERDICTS = {"confirmed": "confirmed", "dismissed": "dismissed"}
MAX_NOTE = 1000
MIN_PASSWORD = 12
#: Called with the decision's transaction and the session id.
DecisionHook = Callable[[Connection, str], None]
# scrypt at n=2**15, r=8 (about 32 MiB and tens of milliseconds per check).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
#: Failed sign-ins allowed per (username, client address) and per address, in the window.
PAIR_LIMIT = 5
CLIENT_LIMIT = 50
FAILURE_WINDOW = 15 * 60


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=64 * 1024 * 1024,
        dklen=32,
    )
    encoded = [base64.b64encode(x).decode() for x in (salt, digest)]
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encoded[0]}${encoded[1]}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    computed = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        maxmem=64 * 1024 * 1024,
        dklen=32,
    )
    return hmac.compare_digest(computed, base64.b64decode(digest))


@functools.cache
def _dummy_hash() -> str:
    """Checked when the username is unknown, so timing does not reveal which names exist."""
    return hash_password(secrets.token_urlsafe(16))


class ReviewerStore:
    """Accounts (validated, hashed with scrypt), sign-in with its throttle, dashboard sessions,
    and decisions; the rows are in storage/reviewers.py."""

    def __init__(self, store: Storage, on_decision: DecisionHook | None = None) -> None:
        self.records = store.reviewers
        #: Told of each decision inside its transaction (the gradebook's score: lti/calls.py).
        self.on_decision = on_decision

    def add(self, username: str, institution_id: str, password: str, role: str) -> None:
        validation.check(username, "username", 100)
        if not username.strip() or username != username.strip():
            raise Invalid("invalid_text", "the username must not be empty or padded")
        validation.check(institution_id, "institution", 64)
        if role not in ROLES:
            raise Invalid("invalid_role", f"role must be one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise Invalid(
                "weak_password", f"the password must be at least {MIN_PASSWORD} characters"
            )
        self.records.add_account(username, institution_id, hash_password(password), role)

    def accounts(self) -> list[dict[str, Any]]:
        """Every local account (name, institution, role), without password hashes."""
        return self.records.accounts()

    def remove(self, username: str) -> None:
        """Delete the account and revoke every session it has open."""
        self.records.remove_account(username)

    def open_session(
        self,
        institution_id: str,
        username: str | None,
        name: str,
        role: str,
        context_id: str | None,
        lifetime: float,
    ) -> str:
        """A new server-side session for a signed-in reviewer; returns its id."""
        return self.records.open_session(institution_id, username, name, role, context_id, lifetime)

    def live_session(self, session_id: str) -> dict[str, Any] | None:
        return self.records.live_session(session_id)

    def revoke_session(self, session_id: str) -> None:
        self.records.revoke_session(session_id)

    def authenticate(self, username: str, password: str, client: str) -> dict[str, Any] | None:
        """The reviewer's row for a correct password, else None.

        Each attempt is reserved before the password is hashed, atomically in the database
        (shared by every server process): at most ``PAIR_LIMIT`` failures per username and
        client address, and a softer ``CLIENT_LIMIT`` per address (many reviewers may share
        one behind NAT), in ``FAILURE_WINDOW``. Past either, 429 without hashing. A failed
        reservation (the database is busy) refuses the attempt: nothing is checked uncounted.
        A correct password releases its reservation."""
        pair = f"pair:{username.lower()}|{client}"[:200]
        address = f"client:{client}"[:200]
        now = time.time()
        locked_since = self.records.reserve(
            ((pair, PAIR_LIMIT), (address, CLIENT_LIMIT)), now, FAILURE_WINDOW
        )
        if locked_since is not None:
            wait = int(locked_since + FAILURE_WINDOW - now) + 1
            raise TooManyRequests(
                "too_many_attempts",
                f"too many failed sign-ins; try again in {wait // 60 + 1} minute(s)",
                retry_after=wait,
            )
        row = self.records.account(username)
        ok = check_password(password, row["password_hash"] if row else _dummy_hash())
        if row is None or not ok:
            return None  # the reservation stands as the failure
        self.records.release(pair, address)
        return row

    # -- decisions -------------------------------------------------------------------------

    def decide(self, session_id: str, outcome: str, comment: str, reviewer: str) -> None:
        if outcome not in OUTCOMES:
            raise Invalid(
                "invalid_outcome", "choose cleared, violation confirmed or needs discussion"
            )
        if len(comment) > 5000:
            raise Invalid("comment_too_long", "the comment must be at most 5000 characters")
        validation.check(comment, "comment", multiline=True)
        self.records.add_decision(
            session_id, outcome, comment.strip(), reviewer, then=self.on_decision
        )

    def decisions(self, session_id: str) -> list[dict[str, Any]]:
        """Every decision on the session, newest first (the first is the current one)."""
        return self.records.decisions(session_id)

    def judge(
        self,
        session_id: str,
        seq: Any,
        verdict: str,
        note: str,
        reviewer: str,
        flagged: set[int],
    ) -> str | None:
        """Record a verdict on the flagged episode ``seq`` (one of ``flagged``). Once every
        episode has one, the session's outcome follows: violation confirmed when any episode
        was confirmed, else cleared (recorded as a decision unless it is already the current
        one; a reviewer may still decide otherwise afterwards). Returns that outcome, if any."""
        if verdict not in VERDICTS:
            raise Invalid("invalid_verdict", "choose confirmed or dismissed", field="verdict")
        try:
            number = int(seq)
        except (TypeError, ValueError):
            raise Invalid("invalid_seq", "seq must be a flagged event", field="seq") from None
        if number not in flagged:
            raise Invalid(
                "unknown_episode", f"event {number} is not a flagged episode", field="seq"
            )
        if len(note) > MAX_NOTE:
            raise Invalid("note_too_long", f"the note must be at most {MAX_NOTE} characters")
        validation.check(note, "note", multiline=True)
        self.records.add_verdict(session_id, number, verdict, note.strip(), reviewer)
        current = current_verdicts(self.records.verdicts(session_id))
        if not flagged or not flagged <= set(current):
            return None
        confirmed = sum(1 for s in flagged if current[s]["verdict"] == "confirmed")
        outcome = "violation_confirmed" if confirmed else "cleared"
        decided = self.records.decisions(session_id)
        if decided and decided[0]["outcome"] == outcome:
            return outcome
        comment = (
            f"from the incident verdicts: {confirmed} confirmed, "
            f"{len(flagged) - confirmed} dismissed"
        )
        self.decide(session_id, outcome, comment, reviewer)
        return outcome

    def verdicts(self, session_id: str) -> list[dict[str, Any]]:
        return self.records.verdicts(session_id)


def current_verdicts(verdicts: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The newest verdict of each episode (``verdicts`` newest first)."""
    found: dict[int, dict[str, Any]] = {}
    for verdict in verdicts:
        found.setdefault(int(verdict["seq"]), verdict)
    return found
