"""Who may read and change an exam, in one place (dashboard pages and LTI deep linking).

Roles: ``admin`` (the institution's administrators: local accounts, or an LTI launch with the
institution's or the system's Administrator role) reads and changes everything of its
institution. ``reviewer`` (local accounts) reads every exam and decides sessions, without the
candidates' accommodation details. ``instructor`` (an LTI launch with the course's Instructor
or Administrator role) reads and changes the exams of that course only. ``assistant`` (a
teaching assistant or content developer) reads that course's exams and decides its sessions,
and changes nothing. docs/dashboard.md has the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

ROLES = ("admin", "reviewer", "instructor", "assistant")


@dataclass(frozen=True)
class Reviewer:
    """Who is looking at the dashboard (a local account, or a staff member of an LTI launch)."""

    name: str
    institution_id: str
    role: str  # one of ROLES
    #: The LMS course an LTI launch came from: the reviewer sees that course's sessions only.
    context_id: str | None = None
    #: The raw cookie value (for the CSRF token); not part of the identity.
    token: str = ""
    #: The server-side session the cookie names.
    session_id: str = ""

    def __repr__(self) -> str:
        return f"Reviewer({self.name!r}, institution={self.institution_id!r}, role={self.role!r})"


class Who(Protocol):
    @property
    def role(self) -> str: ...

    @property
    def context_id(self) -> str | None:
        """The LMS course an LTI launch came from; None for institution-wide accounts."""


def may_read_exam(who: Who, exam_context: str | None) -> bool:
    """An institution-wide account reads every exam; a course's staff, that course's exams."""
    return who.context_id is None or exam_context == who.context_id


def may_edit_exam(who: Who, exam_context: str | None) -> bool:
    """Administrators change any exam; a course's instructor, the exams of that course."""
    if who.role == "admin":
        return True
    return who.role == "instructor" and exam_context is not None and exam_context == who.context_id


def sees_accommodations(who: Who, exam_context: str | None) -> bool:
    """Which candidates have accommodations, and why, is for the people who set them."""
    return may_edit_exam(who, exam_context)
