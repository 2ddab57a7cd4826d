"""Registering a platform: the checks on what an administrator typed (CLI or dashboard, one
error naming the field each) and each registration's own login URL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..errors import Invalid
from ..security import validation
from .launch import POLICY_SETTINGS


def login_path(registration_id: int) -> str:
    """One registration's own OIDC login initiation path (give it to that platform): immune to
    other institutions registering the same issuer."""
    return f"/lti/login/{registration_id}"


def check_platform_settings(
    *,
    issuer: str,
    client_id: str,
    deployment_ids: Sequence[str],
    auth_url: str,
    jwks_url: str | None,
    public_jwk: str | None,
    token_url: str | None,
    exam_url: str | None,
) -> dict[str, Any]:
    """Validate what an administrator typed for a platform (CLI or dashboard): each problem is
    an Invalid error naming the field. Returns the values ``add_registration`` takes."""

    def fail(name: str, message: str) -> Invalid:
        return Invalid("invalid_registration", message, field=name)

    fields = {"issuer": issuer, "client_id": client_id, "auth_url": auth_url}
    fields.update(jwks_url=jwks_url or "", token_url=token_url or "", exam_url=exam_url or "")
    fields.update(public_jwk=public_jwk or "", deployment_id="".join(deployment_ids))
    for name, value in fields.items():
        found = validation.problem(value, multiline=name == "public_jwk")
        if found is not None:
            raise fail(name, found)
    for name, value in (("issuer", issuer), ("client_id", client_id)):
        if not value.strip() or len(value) > 255:
            raise fail(name, "is required (at most 255 characters)")
    deployments = [d.strip() for d in deployment_ids if d.strip()]
    if any(len(d) > 255 for d in deployments):
        raise fail("deployment_id", "each deployment id must be at most 255 characters")
    if not deployments:
        raise fail("deployment_id", "give at least one deployment id")
    urls = {"auth_url": auth_url, "jwks_url": jwks_url, "token_url": token_url}
    urls["exam_url"] = exam_url
    for name, url in urls.items():
        found = validation.url_problem(url) if url else None
        if found is not None:
            raise fail(name, f"{url!r} {found}")
    if not auth_url:
        raise fail("auth_url", "is required (the platform's OIDC authorisation URL)")
    if bool(jwks_url) == bool(public_jwk):
        raise fail("jwks_url", "give exactly one: the platform's key set URL or its public JWK")
    jwk = None
    if public_jwk:
        try:
            jwk = json.loads(public_jwk)
        except json.JSONDecodeError:
            raise fail("public_jwk", "must be a JWK in JSON") from None
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or "d" in jwk:
            raise fail("public_jwk", "must be an RSA public key (kty RSA, no 'd')")
    return {
        "issuer": issuer.strip(),
        "client_id": client_id.strip(),
        "deployment_ids": deployments,
        "auth_url": auth_url,
        "jwks_url": jwks_url or None,
        "public_jwk": jwk,
        "token_url": token_url or None,
        "exam_url": exam_url or None,
    }


def tool_settings(base: str) -> dict[str, Any]:
    """The tool's URLs and capabilities, for the platform's registration form."""
    return {
        "title": "openproctor",
        "oidc_initiation_url": base + "/lti/login",
        "target_link_uri": base + "/lti/launch",
        "redirect_uris": [base + "/lti/launch"],
        "public_jwk_url": base + "/lti/jwks",
        "deep_linking_url": base + "/lti/launch",
        "messages": [
            "LtiResourceLinkRequest",
            "LtiDeepLinkingRequest",
            "LtiStartProctoring",
            "LtiEndAssessment",
        ],
        "custom_parameters": [
            "exam_id",
            "exam_url",
            "duration",
            "allow_multiple_displays",
            *POLICY_SETTINGS,
            "integrity_gradebook",
        ],
    }
