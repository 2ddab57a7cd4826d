"""Validation of the integration JWT that starts a session (the Constructor-style payload).

pyjwt checks the signature with the algorithm pinned to HS256 (so ``alg: none``, RS256 and key
confusion are refused) and the registered dates (``exp``, ``nbf``, ``iat`` when present); then one
small function per claim checks the payload, each failure naming the claim.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from openproctor.core import PolicyError
from openproctor.core.policy import parse_policy

from ..errors import Forbidden, Invalid, Unauthorized
from . import claims as claims_module
from .claims import ClaimError, ClaimWarning, UnsupportedClaim

LEEWAY_SECONDS = 60


@dataclass(frozen=True)
class StartClaims:
    """The validated payload: who, which exam, when; what the session keeps of the rest, and
    what it asked for that was not done."""

    user_id: str
    session_id: str
    exam_id: str
    exam_name: str
    duration_minutes: int
    start: float
    end: float
    allow_multiple_displays: bool
    user: dict[str, Any]
    #: The stored claims (rules, scoreConfig, proctoring, ...); None for an LTI launch.
    claims: dict[str, Any] | None = None
    warnings: tuple[ClaimWarning, ...] = ()


def parse_date(payload: dict[str, Any], name: str) -> float:
    value = payload.get(name)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment.timestamp()
    raise ClaimError(
        name,
        "must be an ISO 8601 date-time with a time zone offset or 'Z', "
        f"e.g. 2026-11-25T09:00:00Z; got {value!r}",
    )


def check_exam_id(value: str) -> str:
    """``examId`` as a policy accepts it (ClaimError naming the claim otherwise)."""
    try:
        parse_policy({"exam_id": value})
    except PolicyError:
        raise ClaimError(
            "examId",
            "must be 1 to 128 characters: letters, digits and . _ : - "
            "(starting with a letter or digit)",
        ) from None
    return value


def _required_text(checked: dict[str, Any], name: str) -> str:
    value = str(checked[name])
    if not value.strip():
        raise ClaimError(name, "must be a non-empty string")
    return value


def decode_start_token(
    token: str, secrets: Sequence[str], now: float, strict: bool = False
) -> StartClaims:
    """Verify and validate an integration JWT; raise a domain error naming what is wrong.
    ``secrets``: the integration's current secret, and the previous one during a rotation;
    ``strict``: the integration's ``strict_claims``."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise Invalid("malformed_jwt", "'jwt' must be a compact JWS (three dot-separated parts)")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:  # DecodeError, and headers pyjwt refuses (crit, kid)
        raise Invalid("malformed_jwt", f"the JWT cannot be decoded: {exc}") from None
    if header.get("alg") != "HS256":
        raise Unauthorized(
            "wrong_algorithm",
            f"the JWT must be signed with HS256, got alg {header.get('alg')!r}",
        )
    try:
        payload = decode_with_any(
            token,
            secrets,
            algorithms=["HS256"],
            leeway=LEEWAY_SECONDS,
            options={"verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized(
            "jwt_expired", "the JWT has expired (claim 'exp')", claim="exp"
        ) from None
    except jwt.ImmatureSignatureError as exc:
        claim = "iat" if "iat" in str(exc) else "nbf"
        raise Unauthorized(
            "jwt_not_yet_valid", f"the JWT is not valid yet (claim {claim!r})", claim=claim
        ) from None
    except jwt.InvalidSignatureError:
        raise Unauthorized(
            "bad_signature", "the JWT signature does not match the integration's secret"
        ) from None
    except jwt.InvalidTokenError as exc:
        raise Invalid("malformed_jwt", f"the JWT is invalid: {exc}") from None
    return validate_claims(payload, now, strict)


def check_lifetime(exp: Any, max_seconds: int, what: str) -> None:
    """A server-to-server credential's ``exp``: a number at most ``max_seconds`` ahead (a
    long-lived credential is a leaked secret waiting to happen)."""
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise Unauthorized("invalid_credential", f"the {what}'s 'exp' must be a number")
    if exp - time.time() > max_seconds:
        raise Unauthorized(
            "invalid_credential", f"the {what} may be valid for at most {max_seconds} s"
        )


def decode_with_any(token: str, secrets: Sequence[str], **options: Any) -> dict[str, Any]:
    """``jwt.decode`` with the first of ``secrets`` whose signature matches (the rest of the
    checks are the same for each); the last signature error when none does."""
    error: jwt.InvalidSignatureError | None = None
    for secret in secrets:
        try:
            payload: dict[str, Any] = jwt.decode(token, secret, **options)
        except jwt.InvalidSignatureError as exc:
            error = exc
            continue
        return payload
    raise error or jwt.InvalidSignatureError("no secret to verify with")


def validate_claims(payload: dict[str, Any], now: float, strict: bool = False) -> StartClaims:
    """Check the payload claim by claim (after the signature was verified). ``strict``: claims
    asking for what openproctor does not do are refused instead of warned about."""
    checked = claims_module.check(payload)
    warnings = claims_module.not_done(payload, checked)
    if strict and warnings:
        raise UnsupportedClaim(warnings)
    user_id = _required_text(checked, "userId")
    session_id = _required_text(checked, "sessionId")
    start, end = parse_date(payload, "startDate"), parse_date(payload, "endDate")
    if end <= start:
        raise ClaimError("endDate", "must be after startDate")
    if now < start - LEEWAY_SECONDS:
        raise Forbidden(
            "exam_not_open",
            "the exam window has not opened yet (claim 'startDate')",
            claim="startDate",
        )
    if now > end + LEEWAY_SECONDS:
        raise Forbidden(
            "exam_closed", "the exam window has closed (claim 'endDate')", claim="endDate"
        )
    user = {
        "userId": user_id,
        **{
            name: checked.get(name, "")
            for name in ("lastName", "firstName", "thirdName", "email", "language")
        },
        "accountId": _required_text(checked, "accountId"),
        "accountName": _required_text(checked, "accountName"),
        "courseName": checked.get("courseName", ""),
        "sessionUrl": checked.get("sessionUrl", ""),
        "userAgreementUrl": checked.get("userAgreementUrl", ""),
    }
    return StartClaims(
        user_id=user_id,
        session_id=session_id,
        exam_id=check_exam_id(_required_text(checked, "examId")),
        exam_name=_required_text(checked, "examName"),
        duration_minutes=checked["duration"],
        start=start,
        end=end,
        allow_multiple_displays=bool(checked.get("allowMultipleDisplays", False)),
        user=user,
        claims=claims_module.stored(checked),
        warnings=tuple(warnings),
    )


def mint_start_token(
    secret: str,
    *,
    user_id: str,
    exam_id: str,
    session_id: str,
    exam_name: str = "Demo exam",
    duration: int = 60,
    valid_minutes: int = 15,
    first_name: str = "Test",
    last_name: str = "Student",
    now: float | None = None,
    claims: Mapping[str, Any] | None = None,
) -> str:
    """An integration JWT with the DESIGN.md payload, signed as an LMS backend would (the demo's
    fake LMS, ``openproctor token``, the tests, ``openproctor.testing``). ``claims`` replaces or
    adds claims; a claim given as ``...`` is left out."""
    start = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    payload = {
        "userId": user_id,
        "lastName": last_name,
        "firstName": first_name,
        "thirdName": "",
        "language": "en",
        "accountId": "demo",
        "accountName": "Demo University",
        "duration": duration,
        "startDate": start.isoformat(),
        "endDate": (start + timedelta(minutes=duration + 30)).isoformat(),
        "examId": exam_id,
        "examName": exam_name,
        "proctoring": "offline",
        "schedule": False,
        "allowMultipleDisplays": False,
        "identification": "skip",
        "sessionId": session_id,
        "sessionUrl": "https://lms.example.edu/exam",
        "iat": int(start.timestamp()),
        "exp": int((start + timedelta(minutes=valid_minutes)).timestamp()),
    }
    payload.update(claims or {})
    return jwt.encode({k: v for k, v in payload.items() if v is not ...}, secret, algorithm="HS256")
