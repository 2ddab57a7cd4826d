"""Who is looking at the dashboard: a reviewer session, stored on the server and named by a
signed, HttpOnly cookie.

A reviewer belongs to one institution and sees nothing of another. An LTI staff launch signs
one in scoped to the course (LMS context) it came from; every form carries a CSRF token bound
to the cookie. Every request looks the session up: signing out revokes it, removing an account
revokes all of its sessions, and a local account's role is read from the account each time.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ...access import Reviewer
from ...reviewers import ReviewerStore
from ...security.keys import Keyring, same_text

COOKIE = "openproctor_reviewer"
LIFETIME_SECONDS = 8 * 3600


def sign_in(
    response: Response,
    keyring: Keyring,
    reviewers: ReviewerStore,
    reviewer: Reviewer,
    cross_site: bool,
    username: str | None = None,
) -> None:
    """Open a server-side session and set its cookie. ``username`` names the local account it
    belongs to (None for an LTI launch); ``cross_site`` (an LMS iframe) needs SameSite=None."""
    session_id = reviewers.open_session(
        reviewer.institution_id,
        username,
        reviewer.name,
        reviewer.role,
        reviewer.context_id,
        LIFETIME_SECONDS,
    )
    claims = {"sub": reviewer.name, "inst": reviewer.institution_id, "sid": session_id}
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


def sign_out(response: Response, reviewers: ReviewerStore, reviewer: Reviewer) -> None:
    """Revoke the session on the server (a copied cookie stops working too) and drop it."""
    if reviewer.session_id:
        reviewers.revoke_session(reviewer.session_id)
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True)


def current_reviewer(
    request: Request, keyring: Keyring, reviewers: ReviewerStore
) -> Reviewer | None:
    """The reviewer of a valid cookie whose session is still open (blocking: a database read)."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    claims = keyring.check_reviewer_token(token)
    if claims is None or not isinstance(claims.get("sid"), str):
        return None
    session = reviewers.live_session(claims["sid"])
    if session is None or session["institution_id"] != claims["inst"]:
        return None
    return Reviewer(
        name=session["name"],
        institution_id=session["institution_id"],
        role=session["role"],
        context_id=session["context_id"],
        token=token,
        session_id=claims["sid"],
    )


def csrf_ok(keyring: Keyring, reviewer: Reviewer, submitted: object) -> bool:
    expected = keyring.csrf_token(reviewer.token)
    return isinstance(submitted, str) and same_text(expected, submitted)
