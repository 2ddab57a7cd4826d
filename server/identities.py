"""Who a session belongs to, on the dashboard: blind review by default, an audited reveal.

Reviewers judge the evidence without the student's name (docs/dashboard.md says why). Every
row still names the LMS's own attempt and course, so the LMS record can be found. Each
institution chooses who sees identities: ``always`` (every reviewer who sees the session),
``reveal`` (the default: a reviewer, instructor or administrator reveals one session, giving a
reason) or ``never`` (administrators only, on reveal). A reveal is kept with who, when and why,
shown on the session page and written to the audit log; it shows the identity to that
reviewer only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .access import Who
from .errors import Forbidden, Invalid
from .security import validation
from .storage import Storage
from .storage.rows import Attempt, SessionRow

VISIBILITIES = ("always", "reveal", "never")
DEFAULT = "reveal"
#: Who may reveal, per setting ("always" needs no reveal).
REVEALERS = {"reveal": ("admin", "reviewer", "instructor"), "never": ("admin",)}
MAX_REASON_CHARS = 1000


class Described(Protocol):
    """What the dashboard's rows and the report's rows both know of a session."""

    @property
    def external_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def context_id(self) -> str | None: ...
    @property
    def user(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Identity:
    user_id: str
    name: str
    email: str


def identity_of(row: Described) -> Identity:
    user = row.user
    parts = [user.get("firstName"), user.get("thirdName"), user.get("lastName")]
    return Identity(
        user_id=row.user_id,
        name=" ".join(p for p in parts if isinstance(p, str) and p) or "(no name given)",
        email=str(user.get("email") or ""),
    )


def lms_attempt(row: Described, attempt: Attempt | None) -> str:
    """The LMS's own id of the attempt, without the student: the integrator's ``sessionId``,
    or the LTI resource link and attempt number."""
    if attempt is not None:
        link = str(attempt.resource_link.get("id", ""))
        return f"{link} · attempt {attempt.attempt_number}" if attempt.attempt_number else link
    if row.external_id.startswith("lti:"):  # an LTI session older than the attempts table
        return "an LTI launch"
    return row.external_id


def course_of(row: Described) -> str:
    name = row.user.get("courseName")
    return str(name or row.context_id or "")


@dataclass
class Identities:
    store: Storage

    def visibility(self, institution_id: str) -> str:
        return self.store.integrations.identity_visibility(institution_id) or DEFAULT

    def set_visibility(self, who: Who, institution_id: str, value: str, actor: str) -> None:
        if who.role != "admin":
            raise Forbidden("not_admin", "only an administrator changes who sees identities")
        if value not in VISIBILITIES:
            raise Invalid(
                "invalid_visibility", "choose always, reveal or never", field="visibility"
            )
        self.store.integrations.set_identity_visibility(institution_id, value, actor)

    def may_reveal(self, who: Who, visibility: str) -> bool:
        return who.role in REVEALERS.get(visibility, ())

    def reveals(self, session_id: str) -> list[dict[str, Any]]:
        return self.store.reveals.of_session(session_id)

    def shown(self, actor: str, visibility: str, reveals: list[dict[str, Any]]) -> bool:
        """Whether ``actor`` sees the session's student now."""
        return visibility == "always" or any(r["reviewer"] == actor for r in reveals)

    def reveal(self, who: Who, actor: str, row: SessionRow, visibility: str, reason: str) -> None:
        if not self.may_reveal(who, visibility):
            raise Forbidden(
                "may_not_reveal",
                "your role may not reveal who a session belongs to under this institution's "
                "setting",
            )
        reason = reason.strip()
        if not reason:
            raise Invalid("reason_required", "say why you need to know who this is", field="reason")
        if len(reason) > MAX_REASON_CHARS:
            raise Invalid(
                "reason_too_long",
                f"the reason must be at most {MAX_REASON_CHARS} characters",
                field="reason",
            )
        validation.check(reason, "reason", multiline=True)
        self.store.reveals.add(row.institution_id, row.id, actor, who.role, reason)
