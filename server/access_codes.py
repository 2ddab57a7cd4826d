"""The gate for LMSs without proctoring messages (Moodle and Canvas quizzes): an exam's access
code, the quiz password the instructor set in the LMS, kept encrypted and released to the
student's browser only while that student's proctoring session runs.

What "runs" means: the session is active (not finished, not ended by its log), its first
event (the SDK's signed ``session_start``) is stored and verified, and its deadline has not
passed. docs/lms-setup.md says what the gate does not stop.
"""

from __future__ import annotations

import time

from .errors import Conflict, NotFound
from .security import validation
from .security.keys import Keyring
from .storage import Storage
from .storage.rows import SessionRow

MAX_CODE_CHARS = 100


class AccessCodes:
    def __init__(self, store: Storage, keyring: Keyring) -> None:
        self.store = store
        self.keyring = keyring

    def set(self, institution_id: str, exam_id: str, code: str, actor: str) -> None:
        """Set (or, with an empty code, remove) an exam's access code."""
        code = code.strip()
        if code:
            validation.check(code, "access_code", MAX_CODE_CHARS)
        encrypted = self.keyring.encrypt(code) if code else None
        if not self.store.policies.set_access_code(institution_id, exam_id, encrypted, actor):
            raise NotFound("unknown_exam", f"no exam {exam_id!r}")

    def gated(self, institution_id: str, exam_id: str) -> bool:
        return self.store.policies.access_code(institution_id, exam_id) is not None

    def release(self, row: SessionRow, now: float | None = None) -> str:
        """The code, for this running session; a clear refusal otherwise."""
        now = time.time() if now is None else now
        encrypted = self.store.policies.access_code(row.institution_id, row.exam_id)
        if encrypted is None:
            raise NotFound("no_access_code", "this exam has no access code")
        if row.status != "active" or row.finished_at is not None or row.complete:
            raise Conflict("session_not_active", "the proctoring session has ended")
        if row.next_seq < 1:
            raise Conflict(
                "session_not_started",
                "the proctoring session has not started yet: the code is released once the "
                "proctoring SDK runs",
            )
        if now > row.deadline:
            raise Conflict("session_not_active", "the exam's time is over")
        return self.keyring.decrypt(encrypted)
