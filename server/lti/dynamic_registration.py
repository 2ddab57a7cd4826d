"""LTI Dynamic Registration 1.0, the tool's side: an administrator pastes one URL into the LMS;
the LMS opens it with ``openid_configuration`` and ``registration_token``; the tool reads the
platform's configuration, posts its own registration, and stores the platform under the
institution whose administrator made the URL.

The URL holds a one-time code (stored hashed, expiring), because the registration endpoint is
public: without the code nobody can attach a platform to an institution. The platform's
documents are read with the quirks of real platforms in mind (../shared/LTI-NOTES.md, section
3): message types as strings or objects, a configuration key with a trailing space, an issuer
that differs from the configuration's host (logged, not refused).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import Invalid, NotFound, UpstreamFailed
from ..security import validation
from ..security.outbound import OutboundError, OutboundGuard
from ..storage import Storage
from ..storage.rows import Registration
from . import acs, ags
from .registration import tool_settings

log = logging.getLogger("openproctor.server.lti.registration")

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
LINK_LIFETIME_SECONDS = 7 * 24 * 3600
#: What new_link makes (token_urlsafe); anything else is no link of ours.
CODE = re.compile(r"[A-Za-z0-9_-]{16,64}")
#: A registration token goes into an Authorization header: printable ASCII only.
TOKEN = re.compile(r"[\x21-\x7e]*")
#: The scopes the tool asks for, where the platform lists them.
WANTED_SCOPES = (acs.SCOPE, *ags.SCOPES)
#: The messages the tool handles; the resource link is the registration's target_link_uri.
OPTIONAL_MESSAGES = ("LtiDeepLinkingRequest", "LtiStartProctoring", "LtiEndAssessment")
CLAIMS = ["iss", "sub", "name", "given_name", "family_name"]


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def new_link(
    store: Storage, integration_id: int, created_by: str, exam_url: str | None = None
) -> str:
    """A one-time registration code for the integration (the URL is /lti/register/<code>)."""
    if exam_url and validation.url_problem(exam_url):
        raise Invalid("invalid_url", f"the exam page {exam_url!r} is not an http(s) URL")
    code = secrets.token_urlsafe(24)
    store.lti.add_registration_link(
        code_hash(code), integration_id, exam_url, created_by, time.time() + LINK_LIFETIME_SECONDS
    )
    return code


@dataclass(frozen=True)
class PlatformConfiguration:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    scopes_supported: tuple[str, ...]
    messages_supported: tuple[str, ...]
    product: str


def _trimmed(document: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).strip(): v for k, v in document.items()}


def read_configuration(document: Any) -> PlatformConfiguration:
    """Check the platform's OpenID configuration; each problem names the field."""
    if not isinstance(document, dict):
        raise Invalid("invalid_platform_configuration", "the configuration is not a JSON object")
    found = _trimmed(document)

    def url(name: str) -> str:
        value = found.get(name)
        if not isinstance(value, str) or validation.url_problem(value):
            raise Invalid(
                "invalid_platform_configuration", f"the configuration's {name} is not a URL"
            )
        return value

    issuer = found.get("issuer")
    if not isinstance(issuer, str) or not issuer or len(issuer) > 255:
        raise Invalid("invalid_platform_configuration", "the configuration lacks its issuer")
    algorithms = found.get("id_token_signing_alg_values_supported")
    if not isinstance(algorithms, list) or "RS256" not in algorithms:
        raise Invalid(
            "invalid_platform_configuration",
            "the platform does not sign id_tokens with RS256 "
            "(id_token_signing_alg_values_supported)",
        )
    methods = found.get("token_endpoint_auth_methods_supported")
    if isinstance(methods, list) and "private_key_jwt" not in methods:
        raise Invalid(
            "invalid_platform_configuration",
            "the platform's token endpoint does not take private_key_jwt",
        )
    platform = found.get(PLATFORM_CONFIGURATION)
    if not isinstance(platform, dict):
        raise Invalid(
            "invalid_platform_configuration", f"the configuration lacks {PLATFORM_CONFIGURATION}"
        )
    platform = _trimmed(platform)
    messages: list[str] = []
    for message in platform.get("messages_supported") or []:
        kind = message.get("type") if isinstance(message, dict) else message
        if isinstance(kind, str):
            messages.append("LtiResourceLinkRequest" if kind == "LtiResourceLink" else kind)
    scopes = found.get("scopes_supported")
    return PlatformConfiguration(
        issuer=issuer,
        authorization_endpoint=url("authorization_endpoint"),
        token_endpoint=url("token_endpoint"),
        jwks_uri=url("jwks_uri"),
        registration_endpoint=url("registration_endpoint"),
        scopes_supported=tuple(s for s in scopes if isinstance(s, str))
        if isinstance(scopes, list)
        else (),
        messages_supported=tuple(messages),
        product=validation.displayable(platform.get("product_family_code") or "the LMS", 100),
    )


def tool_registration(base: str, platform: PlatformConfiguration) -> dict[str, Any]:
    """What the tool registers: its URLs and keys, the messages the platform supports, and
    the scopes it lists of those the tool uses."""
    tool = tool_settings(base)
    launch = tool["target_link_uri"]
    messages = [
        {"type": kind, "target_link_uri": launch}
        for kind in OPTIONAL_MESSAGES
        if kind in platform.messages_supported
    ]
    scopes = [s for s in WANTED_SCOPES if s in platform.scopes_supported]
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": tool["oidc_initiation_url"],
        "redirect_uris": tool["redirect_uris"],
        "client_name": "openproctor",
        "jwks_uri": tool["public_jwk_url"],
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(scopes),
        TOOL_CONFIGURATION: {
            "domain": urlsplit(base).netloc,
            "target_link_uri": launch,
            "description": "Privacy-first exam proctoring: signed metadata only, every flag "
            "explained.",
            "custom_parameters": {},
            "claims": CLAIMS,
            "messages": messages,
        },
    }


@dataclass(frozen=True)
class Registered:
    registration: Registration
    platform: PlatformConfiguration
    granted_scopes: tuple[str, ...]
    asked_scopes: tuple[str, ...]


@dataclass
class DynamicRegistration:
    store: Storage
    guard: OutboundGuard

    def register(
        self, code: str, configuration_url: str, registration_token: str, base: str
    ) -> Registered:
        """The whole exchange; raises an OpenproctorError naming the problem. The code is
        spent only once the platform has accepted the registration (a platform that refused
        can be retried with the same URL), and at most once."""
        link = self.store.lti.registration_link(code_hash(code)) if CODE.fullmatch(code) else None
        now = time.time()
        if link is None:
            raise NotFound("unknown_registration_link", "this registration URL is not known")
        if link["used_at"] is not None:
            raise Invalid("registration_link_used", "this registration URL was already used")
        if link["expires_at"] <= now:
            raise Invalid("registration_link_expired", "this registration URL has expired")
        if validation.url_problem(configuration_url):
            raise Invalid("invalid_parameter", "openid_configuration must be an http(s) URL")
        if len(registration_token) > 8192 or not TOKEN.fullmatch(registration_token):
            raise Invalid(
                "invalid_parameter",
                "registration_token must be at most 8192 printable ASCII characters",
            )
        headers = {"accept": "application/json"}
        if registration_token:  # Canvas needs it on the configuration's fetch too
            headers["authorization"] = f"Bearer {registration_token}"
        document = self._json("GET", configuration_url, headers, None, "configuration")
        platform = read_configuration(document)
        if urlsplit(platform.issuer).netloc != urlsplit(configuration_url).netloc:
            log.info(
                "the platform's issuer %s differs from its configuration's host (as on Canvas)",
                platform.issuer,
            )
        body = tool_registration(base, platform)
        answer = self._json(
            "POST",
            platform.registration_endpoint,
            {**headers, "content-type": "application/json"},
            json.dumps(body).encode(),
            "registration",
        )
        client_id, deployment = _client_of(answer)
        if not self.store.lti.use_registration_link(code_hash(code), time.time()):
            raise Invalid("registration_link_used", "this registration URL was already used")
        registration = self.store.lti.add_registration(
            link["integration_id"],
            platform.issuer,
            client_id,
            [deployment] if deployment else [],
            auth_url=platform.authorization_endpoint,
            jwks_url=platform.jwks_uri,
            token_url=platform.token_endpoint,
            exam_url=link["exam_url"],
        )
        self.store.lti.link_registered(code_hash(code), registration.id)
        # The admin may narrow the scopes: the answer says which were granted.
        scope = answer.get("scope")
        granted = scope if isinstance(scope, str) else str(body["scope"])
        log.info("registered platform %s (client %s) dynamically", platform.issuer, client_id)
        return Registered(
            registration, platform, tuple(granted.split()), tuple(body["scope"].split())
        )

    def _json(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        what: str,
    ) -> dict[str, Any]:
        try:
            response = self.guard.request(method, url, headers=headers, content=content)
        except OutboundError as exc:
            log.warning("platform %s unavailable: %s", what, exc.reason)
            raise UpstreamFailed(
                "platform_unavailable", f"the platform's {what} endpoint could not be reached"
            ) from None
        if not 200 <= response.status_code < 300:
            # Moodle answers plain text ("missing required attribute X"), Canvas JSON: either
            # way the administrator needs to read it.
            said = validation.displayable(response.content[:500].decode("utf-8", "replace"), 500)
            raise UpstreamFailed(
                "platform_refused",
                f"the platform's {what} endpoint answered HTTP {response.status_code}: {said}",
            )
        try:
            found = response.json()
        except ValueError:
            found = None
        if not isinstance(found, dict):
            raise UpstreamFailed(
                "platform_refused", f"the platform's {what} endpoint did not answer JSON"
            )
        return found


def _client_of(answer: Mapping[str, Any]) -> tuple[str, str | None]:
    client_id = answer.get("client_id")
    if not isinstance(client_id, str) or not client_id or len(client_id) > 255:
        raise UpstreamFailed("platform_refused", "the platform's answer has no client_id")
    configuration = _trimmed(answer.get(TOOL_CONFIGURATION) or {})
    deployment = configuration.get("deployment_id")
    if isinstance(deployment, int) and not isinstance(deployment, bool):
        deployment = str(deployment)
    if not isinstance(deployment, str) or not deployment or len(deployment) > 255:
        deployment = None
    return client_id, deployment
