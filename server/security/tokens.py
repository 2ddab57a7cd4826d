"""Validation of the integration JWT that starts a session (the Constructor-style payload).

pyjwt checks the signature with the algorithm pinned to HS256 (so ``alg: none``, RS256 and key
confusion are refused) and the registered dates (``exp``, ``nbf``, ``iat`` when present); then one
small function per claim checks the payload, each failure naming the claim.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from openproctor.core import PolicyError
from openproctor.core.policy import parse_policy

from ..errors import Forbidden, Invalid, Unauthorized
from . import validation

LEEWAY_SECONDS = 60

REQUIRED = (
    "userId",
    "accountId",
    "accountName",
    "examId",
    "examName",
    "duration",
    "schedule",
    "proctoring",
    "startDate",
    "endDate",
    "sessionId",
)
OPTIONAL = (
    "lastName",
    "firstName",
    "thirdName",
    "language",
    "allowMultipleDisplays",
    "identification",
    "sessionUrl",
    "courseName",
    "email",
    "userAgreementUrl",
)
REGISTERED = ("exp", "nbf", "iat", "iss", "aud", "jti", "sub")


class ClaimError(Invalid):
    """A claim of the integration JWT is missing or invalid (names the claim)."""

    def __init__(self, claim: str, message: str) -> None:
        super().__init__("invalid_claim", f"claim {claim!r} {message}", claim=claim)


@dataclass(frozen=True)
class StartClaims:
    """The validated payload: who, which exam, when."""

    user_id: str
    session_id: str
    exam_id: str
    exam_name: str
    duration_minutes: int
    start: float
    end: float
    allow_multiple_displays: bool
    user: dict[str, Any]


def _text(payload: dict[str, Any], name: str, max_len: int, required: bool = True) -> str:
    value = payload.get(name)
    if value is None and not required:
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and name == "accountId":
        value = str(value)  # Constructor's example sends accountId as a number
    if not isinstance(value, str) or (required and not value.strip()):
        raise ClaimError(name, f"must be a non-empty string of at most {max_len} characters")
    found = validation.problem(value, max_len)
    if found is not None:
        raise ClaimError(name, found)
    return value


def _boolean(payload: dict[str, Any], name: str, default: bool | None = None) -> bool:
    value = payload.get(name, default)
    if not isinstance(value, bool):
        raise ClaimError(name, f"must be true or false, got {value!r}")
    return value


def _duration(payload: dict[str, Any]) -> int:
    value = payload.get("duration")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ClaimError("duration", f"must be a whole number of minutes, got {value!r}")
    if validation.minutes_problem(value) is not None:
        raise ClaimError("duration", f"must be from 1 to {validation.MAX_MINUTES} minutes")
    return value


def _date(payload: dict[str, Any], name: str) -> float:
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


def _proctoring(payload: dict[str, Any]) -> None:
    value = payload.get("proctoring")
    if value in ("offline", "auto"):
        return
    if value == "online":
        raise ClaimError(
            "proctoring",
            "'online' (a live human proctor) is not offered: "
            "openproctor records metadata for review; use 'offline' "
            "or 'auto'",
        )
    raise ClaimError("proctoring", f"must be 'offline' or 'auto', got {value!r}")


def _identification(payload: dict[str, Any]) -> None:
    value = payload.get("identification", "skip")
    if value != "skip":
        raise ClaimError(
            "identification",
            f"must be 'skip' (or left out), got {value!r}: "
            "openproctor never collects ID documents or face images",
        )


def _language(payload: dict[str, Any]) -> str:
    value = payload.get("language", "")
    if value and (not isinstance(value, str) or re.fullmatch(r"[a-z]{2}", value) is None):
        raise ClaimError("language", f"must be a 2-letter ISO 639-1 code, got {value!r}")
    return str(value)


def _url(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name, "")
    if value and validation.url_problem(value, fragment=True) is not None:
        raise ClaimError(name, f"must be an http(s) URL of at most 2048 characters, got {value!r}")
    return str(value)


def _exam_id(payload: dict[str, Any]) -> str:
    value = _text(payload, "examId", 128)
    try:
        parse_policy({"exam_id": value})
    except PolicyError:
        raise ClaimError(
            "examId",
            "must be 1 to 128 characters: letters, digits and . _ : - "
            "(starting with a letter or digit)",
        ) from None
    return value


def decode_start_token(token: str, secrets: Sequence[str], now: float) -> StartClaims:
    """Verify and validate an integration JWT; raise a domain error naming what is wrong.
    ``secrets``: the integration's current secret, and the previous one during a rotation."""
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
    return validate_claims(payload, now)


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


def validate_claims(payload: dict[str, Any], now: float) -> StartClaims:
    """Check the payload claim by claim (after the signature was verified)."""
    for name in payload:
        if name not in REQUIRED + OPTIONAL + REGISTERED:
            raise ClaimError(
                name,
                "is not a known claim (allowed: "
                + ", ".join(REQUIRED + OPTIONAL + REGISTERED)
                + ")",
            )
    for name in REQUIRED:
        if name not in payload:
            raise ClaimError(name, "is required")
    user_id = _text(payload, "userId", 255)
    session_id = _text(payload, "sessionId", 230)
    start, end = _date(payload, "startDate"), _date(payload, "endDate")
    if end <= start:
        raise ClaimError("endDate", "must be after startDate")
    duration = _duration(payload)
    _proctoring(payload)
    _identification(payload)
    _boolean(payload, "schedule")
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
        "lastName": _text(payload, "lastName", 255, required=False),
        "firstName": _text(payload, "firstName", 255, required=False),
        "thirdName": _text(payload, "thirdName", 255, required=False),
        "email": _text(payload, "email", 255, required=False),
        "language": _language(payload),
        "accountId": _text(payload, "accountId", 255),
        "accountName": _text(payload, "accountName", 255),
        "courseName": _text(payload, "courseName", 450, required=False),
        "sessionUrl": _url(payload, "sessionUrl"),
        "userAgreementUrl": _url(payload, "userAgreementUrl"),
    }
    return StartClaims(
        user_id=user_id,
        session_id=session_id,
        exam_id=_exam_id(payload),
        exam_name=_text(payload, "examName", 500),
        duration_minutes=duration,
        start=start,
        end=end,
        allow_multiple_displays=_boolean(payload, "allowMultipleDisplays", False),
        user=user,
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
) -> str:
    """An integration JWT with the DESIGN.md payload, signed as an LMS backend would (the demo's
    fake LMS, ``openproctor token``, the tests)."""
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
    return jwt.encode(payload, secret, algorithm="HS256")
