"""The start token's claims as Constructor documents them (../docs/constructor-migration.md).

Every documented claim is accepted with its documented type; a wrong type is refused naming
the claim. Claims that ask for something openproctor does not do by design (an ID check, a
camera, a locked-down browser, a live proctor, a booking calendar) are stored and answered with
a warning naming the claim and what was not done, so no institution believes it happened; an
integration with ``strict_claims`` refuses them instead. Unknown claims: ignored with a warning,
or refused under ``strict_claims``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import Invalid
from . import validation


class ClaimError(Invalid):
    """A claim of the integration JWT is missing or invalid (names the claim)."""

    def __init__(self, claim: str, message: str) -> None:
        super().__init__("invalid_claim", f"claim {claim!r} {message}", claim=claim)


class UnsupportedClaim(Invalid):
    """Under ``strict_claims``: the token asks for something openproctor does not do."""

    def __init__(self, warnings: list[ClaimWarning]) -> None:
        first = warnings[0]
        super().__init__(
            "unsupported_claim",
            f"claim {first.claim!r}: {first.message} (this integration has strict_claims on, "
            "so such tokens are refused)",
            claim=first.claim,
            warnings=[w.to_dict() for w in warnings],
        )


@dataclass(frozen=True)
class ClaimWarning:
    """A claim openproctor accepted but did not act on, in words."""

    claim: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"claim": self.claim, "message": self.message}


# -- the types of the documented claims ------------------------------------------------------

Check = Callable[[str, Any], Any]


def text(max_len: int, numbers: bool = False) -> Check:
    def check(name: str, value: Any) -> str:
        if numbers and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # Constructor's examples send accountId as a number
        if not isinstance(value, str):
            raise ClaimError(name, f"must be a string of at most {max_len} characters")
        found = validation.problem(value, max_len)
        if found is not None:
            raise ClaimError(name, found)
        return value

    return check


def optional_text(max_len: int) -> Check:
    """A string, or null (the Moodle plugin sends ``email: null`` unless emails are shared)."""
    inner = text(max_len)
    return lambda name, value: "" if value is None else inner(name, value)


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ClaimError(name, f"must be true or false, got {value!r}")
    return value


def one_of(*allowed: str) -> Check:
    def check(name: str, value: Any) -> str:
        if value not in allowed or not isinstance(value, str):
            raise ClaimError(name, f"must be one of {', '.join(allowed)}; got {value!r}")
        return value

    return check


def integer(low: int, high: int) -> Check:
    def check(name: str, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ClaimError(name, f"must be a whole number from {low} to {high}, got {value!r}")
        return value

    return check


def number(low: float, high: float) -> Check:
    def check(name: str, value: Any) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not low <= value <= high
        ):
            raise ClaimError(name, f"must be a number from {low:g} to {high:g}, got {value!r}")
        return float(value)

    return check


def url(max_len: int = validation.MAX_URL_CHARS) -> Check:
    def check(name: str, value: Any) -> str:
        if value in ("", None):
            return ""
        if not isinstance(value, str) or validation.url_problem(value, fragment=True):
            raise ClaimError(
                name, f"must be an http(s) URL of at most {max_len} characters, got {value!r}"
            )
        if len(value) > max_len:
            raise ClaimError(name, f"must be at most {max_len} characters")
        return value

    return check


def language(name: str, value: Any) -> str:
    """ISO 639-1, optionally with a region as the Moodle plugin sends (``de-ch``, ``zh-cn``)."""
    if value in ("", None):
        return ""
    if not isinstance(value, str) or not re.fullmatch(r"[a-z]{2}(-[a-z]{2,4})?", value):
        raise ClaimError(
            name, f"must be a 2-letter ISO 639-1 code (optionally with a region), got {value!r}"
        )
    return value


def strings(max_items: int, max_len: int, one: bool = True) -> Check:
    """A list of short strings, or (``one``) a single string (the Secure Browser's process
    lists, whose type no docs page gives)."""

    def check(name: str, value: Any) -> list[str]:
        items = [value] if isinstance(value, str) and one else value
        if not isinstance(items, list) or len(items) > max_items:
            raise ClaimError(name, f"must be a list of at most {max_items} strings")
        for item in items:
            if not isinstance(item, str) or validation.problem(item, max_len) is not None:
                raise ClaimError(name, f"must hold strings of at most {max_len} characters")
        return list(items)

    return check


def text_or_number(name: str, value: Any) -> str | int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    checked: str = text(64)(name, value)
    return checked


def obj(fields: Mapping[str, Check], what: str, max_keys: int = 64) -> Check:
    """An object whose known keys are checked (``claim.key`` named when wrong); unknown keys
    are kept out of what is stored and reported by :func:`unknown_keys`."""

    def check(name: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or len(value) > max_keys:
            raise ClaimError(name, f"must be an object of {what} (at most {max_keys} keys)")
        return {
            key: fields[key](f"{name}.{key}", item) for key, item in value.items() if key in fields
        }

    return check


def booleans(name: str, value: Any) -> dict[str, bool]:
    """``visibleWarnings``: warning names to true or false."""
    if not isinstance(value, dict) or len(value) > 64:
        raise ClaimError(name, "must be an object of warning names to true or false")
    for key, item in value.items():
        if not isinstance(key, str) or not re.fullmatch(r"[a-z_]{1,64}", key):
            raise ClaimError(name, f"has a key that is not a warning name: {key!r}")
        boolean(f"{name}.{key}", item)
    return dict(value)


RULES: Mapping[str, bool] = {
    "allow_to_use_websites": False,
    "allow_to_use_books": False,
    "allow_to_use_paper": True,
    "allow_to_use_messengers": False,
    "allow_to_use_calculator": True,
    "allow_to_use_excel": False,
    "allow_to_use_human_assistant": False,
    "allow_absence_in_frame": False,
    "allow_voices": False,
    "allow_wrong_gaze_direction": False,
}
#: scoreConfig's multipliers in both documented spellings (snake_case first), and the threshold.
SCORE_MULTIPLIERS: Mapping[str, str] = {
    "extra_user": "extraUserInFrame",
    "user_replaced": "substitutionUser",
    "absent_user": "noUserInFrame",
    "look_away": "avertEyes",
    "active_window_changed": "changeActiveWindowOnComputer",
    "forbidden_device": "forbiddenDevice",
    "voice": "voiceDetected",
    "phone": "phone",
}
CHEATER_LEVEL = ("cheater_level", "cheaterLevel")

_RULE_FIELDS: dict[str, Check] = {key: boolean for key in RULES}
_RULE_FIELDS["custom_rules"] = text(5000)
_SCORE_FIELDS: dict[str, Check] = {key: integer(0, 100) for key in CHEATER_LEVEL}
_SCORE_FIELDS.update({key: number(0, 10) for pair in SCORE_MULTIPLIERS.items() for key in pair})
_BIOMETRIC_FIELDS: dict[str, Check] = {
    "enabled": boolean,
    "photo_url": url(),
    "skip_fail": boolean,
    "flow": text(64),
    "theme": text(64),
    "esia_oid": text(255),
    "hash_snils": text(255),
}

#: Every claim accepted, with its type. Required ones are in REQUIRED.
CLAIMS: Mapping[str, Check] = {
    "userId": text(255),
    "email": optional_text(255),
    "lastName": optional_text(255),
    "firstName": optional_text(255),
    "thirdName": optional_text(255),
    "language": language,
    "accountId": text(255, numbers=True),
    "accountName": text(255),
    "courseName": optional_text(450),
    "examId": text(128),
    "examName": text(500),
    "userAgreementUrl": url(),
    "duration": integer(1, validation.MAX_MINUTES),
    "schedule": boolean,
    "proctoring": one_of("online", "offline", "auto", "identification"),
    "startDate": text(64),
    "endDate": text(64),
    "sessionId": text(230),
    "sessionUrl": url(),
    "identification": one_of("passport", "face", "face_and_passport", "skip"),
    "rules": obj(_RULE_FIELDS, "exam rules (true or false; custom_rules a string)"),
    "scoreConfig": obj(_SCORE_FIELDS, "score multipliers (0 to 10) and cheater_level (0 to 100)"),
    "visibleWarnings": booleans,
    "auxiliaryCamera": boolean,
    "trial": boolean,
    "biometricIdentification": obj(_BIOMETRIC_FIELDS, "biometric identification settings"),
    # Sent by Examus's Moodle plugin and public SDK demos (not on a docs page).
    "auxiliaryCameraMode": one_of("video", "photo"),
    "ldb": boolean,
    "allowMultipleDisplays": boolean,
    "faceHuntingEnabled": boolean,
    "allowMobileDevices": boolean,
    "allowVirtualEnvironment": boolean,
    "checkIdPhotoQuality": boolean,
    "webCameraMainView": one_of("front", "side"),
    "desktopAppForbiddenProcesses": strings(500, 255),
    "desktopAppAllowedProcesses": strings(500, 255),
    "secureBrowser": boolean,
    "secureBrowserLevel": text_or_number,
    # Constructor's SDK setting, accepted here too: signed by the LMS, unlike the page's copy.
    "disabledWorkers": strings(20, 64, one=False),
}
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
REGISTERED = ("exp", "nbf", "iat", "iss", "aud", "jti", "sub")
#: Who the candidate is: kept with the session (never shown to the browser), not in ``claims``.
PERSONAL = ("userId", "email", "lastName", "firstName", "thirdName")
#: Stored in the session's ``claims`` (the rest lives in its own columns or in ``user``).
STORED = tuple(
    name
    for name in CLAIMS
    if name not in (*PERSONAL, "examId", "examName", "sessionId", "startDate", "endDate")
)
#: Parts of ``biometricIdentification`` never stored: a photo's address and national ids.
NOT_STORED = ("photo_url", "esia_oid", "hash_snils")


def check(payload: Mapping[str, Any], required: tuple[str, ...] = REQUIRED) -> dict[str, Any]:
    """Every known claim checked and converted (``ClaimError`` names the first wrong one);
    unknown claims are left out (see :func:`not_done`)."""
    for name in required:
        if name not in payload:
            raise ClaimError(name, "is required")
    return {name: CLAIMS[name](name, value) for name, value in payload.items() if name in CLAIMS}


def stored(claims: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the checked claims a session keeps (docs/constructor-migration.md)."""
    kept = {name: claims[name] for name in STORED if name in claims}
    if "biometricIdentification" in kept:
        kept["biometricIdentification"] = {
            k: v for k, v in kept["biometricIdentification"].items() if k not in NOT_STORED
        }
    return kept


# -- what was asked for and not done -----------------------------------------------------------

NO_CAMERA = "openproctor records no camera, microphone or screen"
NO_LOCKDOWN = "openproctor runs in the student's own browser and requires no locked-down browser"


def not_done(payload: Mapping[str, Any], claims: Mapping[str, Any]) -> list[ClaimWarning]:
    """The warnings of a checked payload: each claim that asks for what openproctor does not
    do, each unknown claim or key, in the payload's order."""
    found: list[ClaimWarning] = []

    def say(claim: str, message: str) -> None:
        found.append(ClaimWarning(claim, message))

    for name in payload:
        if name not in CLAIMS and name not in REGISTERED:
            say(name, "is not a claim openproctor knows; it was ignored")
    identification = claims.get("identification", "skip")
    if identification != "skip":
        say(
            "identification",
            f"asks for {identification!r}: no ID document or face check was done "
            "(openproctor never collects ID documents or face images)",
        )
    proctoring = claims.get("proctoring")
    if proctoring == "online":
        say(
            "proctoring",
            "asks for 'online': no live proctor watched (openproctor has no live monitor yet); "
            "the session is recorded for review afterwards, as with 'offline'",
        )
    elif proctoring == "identification":
        say(
            "proctoring",
            "asks for 'identification': no live identity check was done; the session is "
            "scored automatically, as with 'auto'",
        )
    if claims.get("schedule"):
        say(
            "schedule",
            "is true: no slot was booked (openproctor has no exam calendar); the session "
            "started at once, within startDate and endDate",
        )
    if claims.get("auxiliaryCamera"):
        say("auxiliaryCamera", f"is true: no phone camera was joined ({NO_CAMERA})")
    biometric = claims.get("biometricIdentification", {})
    if biometric.get("enabled"):
        say(
            "biometricIdentification",
            "is enabled: no biometric identification was done (photo_url was neither fetched "
            "nor stored)",
        )
    for name in ("faceHuntingEnabled", "checkIdPhotoQuality"):
        if claims.get(name):
            say(name, f"is true: no face images are taken ({NO_CAMERA})")
    if "webCameraMainView" in claims or "auxiliaryCameraMode" in claims:
        name = "webCameraMainView" if "webCameraMainView" in claims else "auxiliaryCameraMode"
        say(name, f"sets a video mode: nothing is filmed ({NO_CAMERA})")
    for name in ("ldb", "secureBrowser"):
        if claims.get(name):
            say(name, f"is true: {NO_LOCKDOWN}")
    if "secureBrowserLevel" in claims and not claims.get("secureBrowser"):
        say("secureBrowserLevel", f"is set: {NO_LOCKDOWN}")
    if claims.get("allowVirtualEnvironment") is False:
        say("allowVirtualEnvironment", "is false: virtual machines are not detected")
    for name in ("desktopAppForbiddenProcesses", "desktopAppAllowedProcesses"):
        if claims.get(name):
            say(name, "lists processes: a browser cannot see other applications' processes")
    for worker in claims.get("disabledWorkers", []):
        if worker != "ping":
            say(f"disabledWorkers.{worker}", "is not a check openproctor has; it was ignored")
    _object_warnings(payload, claims, say)
    return found


def _object_warnings(
    payload: Mapping[str, Any], claims: Mapping[str, Any], say: Callable[[str, str], None]
) -> None:
    for name, fields in (
        ("rules", _RULE_FIELDS),
        ("scoreConfig", _SCORE_FIELDS),
        ("biometricIdentification", _BIOMETRIC_FIELDS),
    ):
        for key in payload.get(name, {}) if name in claims else ():
            if key not in fields:
                say(f"{name}.{key}", "is not a key openproctor knows; it was ignored")
    for key in claims.get("scoreConfig", {}):
        snake = next((s for s, c in SCORE_MULTIPLIERS.items() if key in (s, c)), None)
        if snake is not None and snake != "active_window_changed":
            say(
                f"scoreConfig.{key}",
                "has no browser-side equivalent (it scores what a camera or microphone sees); "
                "it was ignored",
            )
    if "visibleWarnings" in claims:
        say(
            "visibleWarnings",
            "was stored, but the SDK shows the student no warnings yet: the exam page shows "
            "what it wants from session.on('state')",
        )
