"""A test LMS: an LTI 1.3 platform built on ``lti1p3platform`` (a platform implementation we
did not write). It runs the OIDC third-party login, signs id_tokens with its own RSA key, serves
its key set, and checks what our tool sends back (deep-linking responses, LtiStartAssessment)
against the tool's published JWKS.

Used in-process by the unit tests and as a real HTTP server by the browser test.
"""

from __future__ import annotations

import http.server
import json
import secrets
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration

AP = "https://purl.imsglobal.org/spec/lti-ap/claim/"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


def rsa_pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


class KeyedRegistration(Registration):  # type: ignore[misc]
    """lti1p3platform's registration, with a ``kid`` on its key (as real platforms send)."""

    kid = "platform-key-1"
    _loaded: Any = None

    def get_kid(self) -> str:
        return self.kid

    def get_platform_private_key(self) -> Any:
        """The key loaded once: pyjwt takes a key object, and parsing the PEM on every launch
        (it checks the RSA key) cost about 50 ms each."""
        pem = super().get_platform_private_key()
        if self._loaded is None or self._loaded[0] != pem:  # a test may set another key
            self._loaded = (pem, serialization.load_pem_private_key(pem.encode(), password=None))
        return self._loaded[1]

    def get_jwks(self) -> list[dict[str, Any]]:
        return [{**jwk, "kid": self.kid} for jwk in super().get_jwks()]


class _Conf(LTI1P3PlatformConfAbstract):  # type: ignore[misc]
    def init_platform_config(self, **kwargs: Any) -> None:
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        return self._registration


class _Login(OIDCLoginAbstract):  # type: ignore[misc]
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> str:
        return url


class _Launch(LTIAdvantageMessageLaunchAbstract):  # type: ignore[misc]
    def __init__(self, query: dict[str, str], conf: _Conf) -> None:
        super().__init__(None, conf)
        self._query = query

    def get_preflight_response(self) -> dict[str, Any]:
        return self._query

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return launch_data


@dataclass
class LaunchSpec:
    """What the LMS launches: who, which link, which message."""

    user: str
    roles: list[str]
    kind: str = "resource"  # resource | deep_linking | start_proctoring | end_assessment
    resource_link: str = "quiz-7"
    title: str = "Midterm quiz"
    context: str = "course-42"
    custom: dict[str, str] = field(default_factory=dict)
    attempt: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


class Platform:
    """One LMS (issuer) with one registration of the tool under test."""

    def __init__(
        self,
        tool_base: str,
        issuer: str = "https://lms.example.edu",
        client_id: str = "openproctor-client",
        deployment_id: str = "deployment-1",
        base: str = "https://lms.example.edu",
    ) -> None:
        self.tool_base = tool_base
        self.base = base
        self.private_pem, self.public_pem = rsa_pem_pair()
        self.registration = (
            KeyedRegistration()
            .set_iss(issuer)
            .set_client_id(client_id)
            .set_deployment_id(deployment_id)
            .set_launch_url(tool_base + "/lti/launch")
            .set_deeplink_launch_url(tool_base + "/lti/launch")
            .set_oidc_login_url(tool_base + "/lti/login")
            .set_platform_public_key(self.public_pem)
            .set_platform_private_key(self.private_pem)
            .set_tool_key_set_url(tool_base + "/lti/jwks")
        )
        self.conf = _Conf(registration=self.registration)
        self.hints: dict[str, LaunchSpec] = {}
        self.received: list[dict[str, Any]] = []

    @property
    def issuer(self) -> str:
        return str(self.registration.get_iss())

    @property
    def client_id(self) -> str:
        return str(self.registration.get_client_id())

    @property
    def deployment_id(self) -> str:
        return str(self.registration.get_deployment_id())

    def jwks(self) -> dict[str, Any]:
        return {"keys": self.registration.get_jwks()}

    def login_url(self, spec: LaunchSpec) -> str:
        """Step 1: the LMS sends the browser to the tool's OIDC login initiation."""
        hint = secrets.token_urlsafe(8)
        self.hints[hint] = spec
        login = _Login(None, self.conf)
        login.set_lti_message_hint(hint=hint)
        return str(login.initiate_login(spec.user))

    def authorize(self, auth_url: str) -> dict[str, Any]:
        """Step 2: the LMS's OIDC authorisation endpoint answers the tool's redirect with the
        signed id_token (what the browser then posts to the tool): launch_url, id_token, state."""
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(auth_url).query))
        spec = self.hints[query["lti_message_hint"]]
        launch = _Launch(query, self.conf)
        launch.set_user_data(spec.user, spec.roles, full_name=f"User {spec.user}")
        launch.set_launch_context_claim(spec.context, context_title="Algorithms 101")
        if spec.kind != "deep_linking":
            launch.set_resource_link_claim(spec.resource_link, title=spec.title)
        if spec.custom:
            launch.set_custom_parameters_claim(spec.custom)
        if spec.kind == "deep_linking":
            launch.set_dl(self.base + "/deep-link-return", extra_data={"opaque": "dl-data-1"})
        if spec.kind in ("start_proctoring", "end_assessment"):
            message = (
                "LtiStartProctoring" if spec.kind == "start_proctoring" else "LtiEndAssessment"
            )
            launch.set_extra_claims(
                {
                    "https://purl.imsglobal.org/spec/lti/claim/message_type": message,
                    AP + "attempt_number": spec.attempt,
                    AP + "session_data": "platform-session-" + spec.user,
                    AP + "start_assessment_url": self.base + "/start-assessment",
                }
            )
        if spec.extra:
            launch.set_extra_claims(spec.extra)
        return dict(launch.lti_launch())

    def check_tool_message(self, jwt_text: str, tool_jwks: dict[str, Any]) -> dict[str, Any]:
        """Verify a message the tool sent back with the tool's published key set."""
        self.registration.set_tool_key_set(tool_jwks)
        claims = self.conf.tool_validate_and_decode(jwt_text)
        self.received.append(claims)
        return dict(claims)

    def deep_link_items(self, jwt_text: str, tool_jwks: dict[str, Any]) -> list[dict[str, Any]]:
        self.registration.set_tool_key_set(tool_jwks)
        return list(self.conf.validate_deeplinking_resp({"JWT": jwt_text}))


@contextmanager
def serve_jwks(platform: Platform) -> Iterator[tuple[str, list[int]]]:
    """The platform's key set on a real loopback HTTP server; yields its URL and a one-item
    list counting fetches (the tool must fetch, cache, and refetch on an unknown kid)."""
    fetches = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetches[0] += 1
            body = json.dumps(platform.jwks()).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/jwks", fetches
    finally:
        server.shutdown()
        server.server_close()
