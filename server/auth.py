"""Who is looking at the dashboard: a reviewer session in a signed, HttpOnly cookie.

A reviewer belongs to one institution and sees nothing of another. An LTI Instructor or
Administrator launch signs one in scoped to the course (LMS context) it came from; every
form carries a CSRF token bound to the cookie.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from .keys import Keyring

COOKIE = "openproctor_reviewer"
LIFETIME_SECONDS = 8 * 3600


@dataclass(frozen=True)
class Reviewer:
    name: str
    institution_id: str
    role: str  # "reviewer", "admin", or "instructor" (from an LTI launch)
    #: The LMS course an LTI launch came from: the reviewer sees that course's sessions only.
    context_id: str | None = None
    #: The raw cookie value (for the CSRF token); not part of the identity.
    token: str = ""

    def __repr__(self) -> str:
        return f"Reviewer({self.name!r}, institution={self.institution_id!r}, role={self.role!r})"


def sign_in(response: Response, keyring: Keyring, reviewer: Reviewer, cross_site: bool) -> None:
    """Set the reviewer cookie. ``cross_site`` (inside an LMS iframe) needs SameSite=None."""
    claims = {"sub": reviewer.name, "inst": reviewer.institution_id, "role": reviewer.role}
    if reviewer.context_id is not None:
        claims["ctx"] = reviewer.context_id
    token = keyring.mint_reviewer_token(claims, LIFETIME_SECONDS)
    response.set_cookie(
        COOKIE,
        token,
        max_age=LIFETIME_SECONDS,
        path="/",
        secure=True,
        httponly=True,
        samesite="none" if cross_site else "lax",
    )


def sign_out(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True)


def current_reviewer(request: Request, keyring: Keyring) -> Reviewer | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    claims = keyring.check_reviewer_token(token)
    if claims is None:
        return None
    return Reviewer(
        name=str(claims["sub"]),
        institution_id=str(claims["inst"]),
        role=str(claims.get("role", "reviewer")),
        context_id=claims.get("ctx"),
        token=token,
    )


def csrf_ok(keyring: Keyring, reviewer: Reviewer, submitted: object) -> bool:
    expected = keyring.csrf_token(reviewer.token)
    return isinstance(submitted, str) and hmac.compare_digest(expected, submitted)
