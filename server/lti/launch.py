"""A launch: verification of a platform's ``id_token`` (every check, one error each), what the
launch says (roles, course, link), and the signed messages the tool sends back (deep-linking
response, ``LtiStartAssessment``).

Built on pyjwt (``PyJWKClient`` fetches and caches a platform's key set, refetching on an
unknown ``kid``) and cryptography (RSA keys); no JWT or JWK crypto is written here.
docs/lti.md says why this and not pylti1p3.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt

from ..errors import Forbidden, Invalid
from ..security import validation
from ..security.keys import same_text
from ..storage.rows import Registration

if TYPE_CHECKING:
    from .keys import PlatformKeys, ToolKeys

log = logging.getLogger("openproctor.server.lti")

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
AP = "https://purl.imsglobal.org/spec/lti-ap/claim/"
#: Our extension claim in LtiStartAssessment: what the assessment page needs to run the SDK.
OPENPROCTOR_CLAIM = "https://openproctor.org/lti/claim/session"

AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
#: The control actions this tool sends, when the platform lists them (lti/acs.py).
ACS_ACTIONS = ("flag", "terminate", "pause", "resume")
PROCTORING_MESSAGES = ("LtiStartProctoring", "LtiEndAssessment")
MESSAGE_TYPES = (
    "LtiResourceLinkRequest",
    "LtiDeepLinkingRequest",
    "LtiStartProctoring",
    "LtiEndAssessment",
)
LEEWAY_SECONDS = 60
#: The policy settings a launch may carry (custom parameters, proctoring_settings).
POLICY_SETTINGS = (
    "trust_threshold",
    "flags_enabled",
    "log_retention_days",
    "allow_mobile",
    "weights",
    "heartbeat_seconds",
)
LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
#: Exact role URIs only (docs/lti.md has the table): a custom role that merely ends in
#: "#Administrator" is no administrator.
ADMIN_ROLES = (LIS + "institution/person#Administrator", LIS + "system/person#Administrator")
INSTRUCTOR_ROLES = (LIS + "membership#Instructor", LIS + "membership#Administrator")
ASSISTANT_ROLES = (
    LIS + "membership/Instructor#TeachingAssistant",
    LIS + "membership#ContentDeveloper",
)
STAFF_ROLES = ADMIN_ROLES + INSTRUCTOR_ROLES + ASSISTANT_ROLES
LEARNER_ROLES = (
    "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",
    "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student",
)


@dataclass(frozen=True)
class Launch:
    """A verified LTI message from a platform."""

    registration: Registration
    claims: dict[str, Any]

    @property
    def message_type(self) -> str:
        return str(self.claims[LTI + "message_type"])

    @property
    def deployment_id(self) -> str:
        return str(self.claims[LTI + "deployment_id"])

    @property
    def subject(self) -> str:
        return str(self.claims.get("sub") or "")

    @property
    def roles(self) -> list[str]:
        roles = self.claims.get(LTI + "roles", [])
        return [r for r in roles if isinstance(r, str)] if isinstance(roles, list) else []

    @property
    def role(self) -> str | None:
        """What this launch is for, by precedence (docs/lti.md, "Roles"): ``admin``,
        ``instructor``, then ``learner`` (so a Learner who is also a TeachingAssistant, Open
        edX's Community TA, takes the exam), then ``assistant``; None for no known role."""
        roles = self.roles
        for role, uris in (
            ("admin", ADMIN_ROLES),
            ("instructor", INSTRUCTOR_ROLES),
            ("learner", LEARNER_ROLES),
            ("assistant", ASSISTANT_ROLES),
        ):
            if any(r in uris for r in roles):
                return role
        return None

    @property
    def staff_role(self) -> str | None:
        """The dashboard role this launch signs in with: admin, instructor, assistant, or
        None for a launch that is a learner's or has no known role."""
        role = self.role
        return role if role in ("admin", "instructor", "assistant") else None

    @property
    def is_staff(self) -> bool:
        return self.staff_role is not None

    @property
    def is_learner(self) -> bool:
        return self.role == "learner"

    @property
    def resource_link(self) -> dict[str, Any]:
        link = self.claims.get(LTI + "resource_link")
        return link if isinstance(link, dict) else {}

    @property
    def context(self) -> dict[str, Any]:
        context = self.claims.get(LTI + "context")
        return context if isinstance(context, dict) else {}

    @property
    def custom(self) -> dict[str, Any]:
        custom = self.claims.get(LTI + "custom")
        return custom if isinstance(custom, dict) else {}

    @property
    def return_url(self) -> str | None:
        """``launch_presentation.return_url``, when it is an http(s) URL."""
        presentation = self.claims.get(LTI + "launch_presentation")
        url = presentation.get("return_url") if isinstance(presentation, dict) else None
        return url if isinstance(url, str) and validation.url_problem(url) is None else None

    @property
    def locale(self) -> str:
        """``launch_presentation.locale`` (a BCP 47 tag such as ``de-DE``), or ""."""
        presentation = self.claims.get(LTI + "launch_presentation")
        found = presentation.get("locale") if isinstance(presentation, dict) else None
        return found[:35] if isinstance(found, str) else ""

    @property
    def proctoring_settings(self) -> dict[str, str]:
        """Our policy settings in ``proctoring_settings.data``, where the platform put them
        there: a JSON object, or ``name=value`` pairs separated by ``;`` or new lines. Any
        other data (another tool's format) is no policy and yields nothing."""
        settings = self.claims.get(AP + "proctoring_settings")
        data = settings.get("data") if isinstance(settings, dict) else None
        if not isinstance(data, str) or not data.strip():
            return {}
        try:
            parsed = json.loads(data)
        except ValueError:
            pairs = [p.split("=", 1) for p in re.split(r"[;\n]", data) if "=" in p]
            parsed = {name.strip(): value.strip() for name, value in pairs}
        if not isinstance(parsed, dict):
            return {}
        return {k: v for k, v in parsed.items() if k in POLICY_SETTINGS and isinstance(v, str)}

    @property
    def end_error(self) -> tuple[str, str]:
        """LtiEndAssessment's ``errormsg`` and ``errorlog`` (also under the names with stray
        spaces that lib-lti1p3-core writes), as displayable text; empty when absent."""
        found = {key.strip(): value for key, value in self.claims.items()}
        return (
            validation.displayable(found.get(AP + "errormsg") or "", 1000),
            validation.displayable(found.get(AP + "errorlog") or "", 2000),
        )

    def exam_id(self) -> str:
        """The custom ``exam_id``, else one derived from the resource link (stable per link)."""
        if self.custom.get("exam_id"):
            return str(self.custom["exam_id"])
        cleaned = re.sub(r"[^A-Za-z0-9._:\-]", "-", str(self.resource_link.get("id", "")))
        return ("lti-" + cleaned)[:128]


def verify_id_token(
    token: str,
    registration: Registration,
    platform_keys: PlatformKeys,
    nonce: str,
    now: float | None = None,
) -> Launch:
    """Verify a platform's id_token for ``registration`` and the login's ``nonce``.

    Signature (RS256 only: ``alg: none`` and HS256-with-the-public-key are refused before any
    key is used), ``iss``, ``aud``/``azp``, ``exp``/``iat``, nonce, deployment id, version,
    message type, and the resource link where the message type needs one.
    """
    header = unverified_header(token)
    if header.get("alg") != "RS256":
        raise Invalid(
            "wrong_algorithm", f"the id_token must be signed with RS256, not {header.get('alg')!r}"
        )
    key = platform_keys.key_for(registration, token)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=registration.client_id,
            issuer=registration.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "nonce"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Invalid("expired", "the id_token has expired") from exc
    except jwt.InvalidAudienceError as exc:
        raise Invalid(
            "wrong_aud", "the id_token's aud is not this tool's client id for the platform"
        ) from exc
    except jwt.InvalidIssuerError as exc:
        raise Invalid("wrong_iss", "the id_token's iss is not the registered platform") from exc
    except jwt.InvalidSignatureError as exc:
        raise Invalid("bad_signature", "the id_token's signature does not verify") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise Invalid("missing_claim", f"the id_token lacks the {exc.claim!r} claim") from exc
    except jwt.InvalidTokenError as exc:
        raise Invalid("invalid_id_token", f"the id_token is invalid: {exc}") from exc
    if now is not None and claims["iat"] > now + LEEWAY_SECONDS:
        raise Invalid("invalid_id_token", "the id_token was issued in the future")
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and "azp" not in claims:
        raise Invalid("wrong_azp", "an id_token with several audiences must name azp")
    if "azp" in claims and claims["azp"] != registration.client_id:
        raise Invalid("wrong_azp", "the id_token's azp is not this tool's client id")
    if not same_text(nonce, str(claims["nonce"])):
        raise Invalid("wrong_nonce", "the id_token's nonce is not the one this login issued")
    if claims.get(LTI + "version") != "1.3.0":
        raise Invalid("wrong_version", "the LTI version claim must be 1.3.0")
    deployment = claims.get(LTI + "deployment_id")
    if not isinstance(deployment, str) or not deployment:
        raise Invalid("missing_claim", "the id_token lacks the deployment_id claim")
    # A platform registered dynamically without a deployment id learns it from its first
    # launch (the launch route stores it); every other launch must name a known one.
    if registration.deployment_ids and deployment not in registration.deployment_ids:
        raise Forbidden(
            "unknown_deployment", f"deployment {deployment!r} is not registered for this platform"
        )
    _check_identifiers(claims)
    launch = Launch(registration, claims)
    if claims.get(LTI + "message_type") not in MESSAGE_TYPES:
        raise Invalid(
            "wrong_message_type",
            f"message type {claims.get(LTI + 'message_type')!r} is not supported; this tool "
            "handles " + ", ".join(MESSAGE_TYPES),
        )
    if launch.message_type != "LtiDeepLinkingRequest" and not launch.resource_link.get("id"):
        raise Invalid("missing_claim", "the launch lacks the resource_link claim (with an id)")
    if launch.message_type != "LtiDeepLinkingRequest" and not launch.subject:
        raise Invalid("missing_claim", "the launch lacks the 'sub' claim (an anonymous launch)")
    return launch


def _check_identifiers(claims: dict[str, Any]) -> None:
    """The claims that become stored identifiers: strings of valid text, at most 255 long."""
    link = claims.get(LTI + "resource_link")
    context = claims.get(LTI + "context")
    found = {
        "sub": claims.get("sub"),
        "deployment_id": claims.get(LTI + "deployment_id"),
        "resource_link.id": link.get("id") if isinstance(link, dict) else None,
        "context.id": context.get("id") if isinstance(context, dict) else None,
    }
    for name, value in found.items():
        if value is None:
            continue
        problem = (
            "must be a string" if not isinstance(value, str) else validation.problem(value, 255)
        )
        if problem is not None:
            raise Invalid("invalid_claim", f"the id_token's {name} claim {problem}")
    attempt = claims.get(AP + "attempt_number")
    if attempt is not None and (
        isinstance(attempt, bool) or not isinstance(attempt, int) or not 1 <= attempt <= 10**9
    ):
        raise Invalid("invalid_claim", "the id_token's attempt_number must be a whole number ≥ 1")


def unverified_header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise Invalid("malformed_id_token", f"the id_token is not a JWT: {exc}") from exc


# -- messages the tool sends ---------------------------------------------------------------------


def _tool_message(launch: Launch, message_type: str, lifetime: int = 300) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": launch.registration.client_id,
        "aud": launch.registration.issuer,
        "iat": now,
        "exp": now + lifetime,
        "nonce": secrets.token_urlsafe(16),
        LTI + "deployment_id": launch.deployment_id,
        LTI + "message_type": message_type,
        LTI + "version": "1.3.0",
    }


def deep_linking_response(
    keys: ToolKeys,
    launch: Launch,
    title: str,
    custom: dict[str, str],
    launch_url: str,
) -> tuple[str, str]:
    """The signed LtiDeepLinkingResponse and the URL to post it to (form field ``JWT``)."""
    settings = launch.claims.get(DL + "deep_linking_settings") or {}
    claims = _tool_message(launch, "LtiDeepLinkingResponse")
    claims[DL + "content_items"] = [
        {"type": "ltiResourceLink", "title": title, "url": launch_url, "custom": custom}
    ]
    if "data" in settings:
        claims[DL + "data"] = settings["data"]
    claims[DL + "msg"] = f"Proctored exam '{title}' added"
    return keys.sign(claims), str(settings["deep_link_return_url"])


def start_assessment(
    keys: ToolKeys, launch: Launch, session: dict[str, Any], loader_url: str
) -> tuple[str, str]:
    """The signed LtiStartAssessment and the platform's ``start_assessment_url``."""
    claims = _tool_message(launch, "LtiStartAssessment")
    claims["sub"] = launch.subject
    # Echoed unaltered (Open edX compares them); verified_user is left out on purpose: this
    # tool verifies no identity (docs/lti.md).
    claims[LTI + "resource_link"] = launch.claims[LTI + "resource_link"]
    claims[AP + "session_data"] = launch.claims.get(AP + "session_data", "")
    claims[AP + "attempt_number"] = launch.claims.get(AP + "attempt_number")
    claims[AP + "end_assessment_return"] = True
    claims[OPENPROCTOR_CLAIM] = {
        "session_id": session["session_id"],
        "token": session["token"],
        "loader_url": loader_url,
    }
    return keys.sign(claims), str(launch.claims[AP + "start_assessment_url"])
