"""Session start from the integration JWT: validation, resume, replay, origins, limits."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from openproctor.core import genesis

from .conftest import LMS_ORIGIN, SECRET, start_jwt


def start(client, token, **headers):
    return client.post(
        "/api/v1/sessions", json={"integrationName": "lms1", "jwt": token}, headers=headers
    )


def test_start_returns_a_scoped_session(client, integration):
    response = start(client, start_jwt())
    assert response.status_code == 201
    grant = response.json()
    assert grant["session_id"].startswith("ops_") and not grant["resumed"]
    assert grant["chain"] == {"next_seq": 0, "last_mac": genesis(grant["session_id"]), "last_t": 0}
    assert grant["policy"]["exam_id"] == "CS101-final" and grant["policy_version"] == 1
    assert grant["heartbeat_ms"] == 15000 and len(grant["signing_key"]) == 64
    assert grant["token_expires_at"] > time.time()
    # The log is pseudonymous: nothing of the LMS identity goes to the browser.
    assert "student-1" not in json.dumps(grant)
    assert SECRET not in json.dumps(grant)


def test_same_session_same_user_resumes(client, integration):
    first = start(client, start_jwt()).json()
    again = start(client, start_jwt())
    assert again.status_code == 200
    assert again.json()["session_id"] == first["session_id"] and again.json()["resumed"]
    assert again.json()["signing_key"] == first["signing_key"]


def test_same_session_other_user_is_refused(client, integration):
    start(client, start_jwt())
    response = start(client, start_jwt(user_id="student-2"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "session_taken"
    assert response.json()["error"]["claim"] == "sessionId"


def _forge(header: dict, payload: dict, signature: bytes = b"") -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join(
        [part(json.dumps(header).encode()), part(json.dumps(payload).encode()), part(signature)]
    )


def _payload() -> dict:
    return jwt.decode(start_jwt(), options={"verify_signature": False})


def test_alg_none_is_refused(client, integration):
    response = start(client, _forge({"alg": "none", "typ": "JWT"}, _payload()))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "wrong_algorithm"


@pytest.mark.parametrize("alg", ["HS512", "HS384"])
def test_other_hmac_algorithms_are_refused(client, integration, alg):
    response = start(client, jwt.encode(_payload(), SECRET, algorithm=alg))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "wrong_algorithm"


def test_rs256_token_is_refused(client, integration):
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = start(client, jwt.encode(_payload(), key, algorithm="RS256"))
    assert response.status_code == 401 and response.json()["error"]["code"] == "wrong_algorithm"


def test_wrong_secret_is_refused(client, integration):
    response = start(client, jwt.encode(_payload(), "another-secret-" * 5, "HS256"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_signature"


def test_expired_and_not_yet_valid_tokens(client, integration):
    payload = {**_payload(), "exp": int(time.time()) - 600}
    response = start(client, jwt.encode(payload, SECRET, "HS256"))
    assert response.status_code == 401 and response.json()["error"]["claim"] == "exp"
    payload = {**_payload(), "nbf": int(time.time()) + 600}
    response = start(client, jwt.encode(payload, SECRET, "HS256"))
    assert response.status_code == 401 and response.json()["error"]["code"] == "jwt_not_yet_valid"


def test_exam_window(client, integration):
    future = start_jwt(now=time.time() + 3600)
    response = start(client, future)
    assert response.status_code in (401, 403)  # iat in the future is refused by pyjwt first
    payload = {**_payload(), "startDate": "2020-01-01T09:00:00Z", "endDate": "2020-01-01T11:00:00Z"}
    response = start(client, jwt.encode(payload, SECRET, "HS256"))
    assert response.status_code == 403 and response.json()["error"]["code"] == "exam_closed"
    payload = {**_payload(), "startDate": "2099-01-01T09:00:00Z", "endDate": "2099-01-01T11:00:00Z"}
    response = start(client, jwt.encode(payload, SECRET, "HS256"))
    assert response.status_code == 403 and response.json()["error"]["claim"] == "startDate"


@pytest.mark.parametrize(
    ("change", "claim", "says"),
    [
        ({"userId": ""}, "userId", "non-empty string"),
        ({"userId": 42}, "userId", "must be a string"),
        ({"duration": "60"}, "duration", "whole number"),
        ({"duration": 0}, "duration", "from 1 to"),
        ({"startDate": "yesterday"}, "startDate", "ISO 8601"),
        ({"startDate": "2026-11-25T09:00:00"}, "startDate", "time zone offset"),
        ({"proctoring": "ai"}, "proctoring", "online, offline, auto"),
        ({"identification": "retina"}, "identification", "face_and_passport"),
        ({"schedule": "no"}, "schedule", "true or false"),
        ({"allowMultipleDisplays": 1}, "allowMultipleDisplays", "true or false"),
        ({"language": "english"}, "language", "ISO 639-1"),
        ({"examId": "has spaces"}, "examId", "letters, digits"),
        ({"sessionUrl": "javascript:alert(1)"}, "sessionUrl", "http(s) URL"),
        ({"sessionId": "x" * 231}, "sessionId", "at most 230"),
    ],
)
def test_each_bad_claim_is_named(client, integration, change, claim, says):
    payload = {**_payload(), **change}
    response = start(client, jwt.encode(payload, SECRET, "HS256"))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_claim" and error["claim"] == claim
    assert says in error["message"]


@pytest.mark.parametrize("claim", ["userId", "sessionId", "examId", "startDate", "duration"])
def test_missing_required_claims(client, integration, claim):
    payload = _payload()
    del payload[claim]
    response = start(client, jwt.encode(payload, SECRET, "HS256"))
    assert response.status_code == 400
    assert response.json()["error"]["message"] == f"claim {claim!r} is required"


def test_account_id_may_be_a_number_as_in_constructors_example(client, integration):
    payload = {**_payload(), "accountId": 123}
    assert start(client, jwt.encode(payload, SECRET, "HS256")).status_code == 201


def test_allow_multiple_displays_disables_that_flag(client, integration):
    payload = {**_payload(), "allowMultipleDisplays": True}
    grant = start(client, jwt.encode(payload, SECRET, "HS256")).json()
    assert "multiple_displays" not in grant["policy"]["flags_enabled"]


def test_policy_version_and_accommodations(client, integration, store):
    from openproctor.core import parse_policy

    policy = parse_policy(
        {
            "exam_id": "CS101-final",
            "trust_threshold": 0.8,
            "accommodations": {
                "student-1": {"exempt_flags": ["focus_loss"]},
                "student-9": {"exempt_flags": ["idle"]},
            },
        }
    )
    store.policies.save("uni-a", parse_policy({"exam_id": "CS101-final"}), "t")
    store.policies.save("uni-a", policy, "t")
    grant = start(client, start_jwt()).json()
    assert grant["policy_version"] == 2 and grant["policy"]["trust_threshold"] == 0.8
    # Only this candidate's accommodation reaches the browser, keyed by the pseudonymous id.
    assert grant["policy"]["accommodations"] == {
        grant["session_id"]: {"exempt_flags": ["focus_loss"], "note": ""}
    }


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"integrationName": "nope", "jwt": "a.b.c"}, 404, "unknown_integration"),
        ({"integrationName": "lms1"}, 400, "missing_field"),
        ({"integrationName": "lms1", "jwt": "not-a-jwt"}, 400, "malformed_jwt"),
        ([1, 2], 400, "invalid_body"),
    ],
)
def test_bad_bodies(client, integration, body, status, code):
    response = client.post("/api/v1/sessions", json=body)
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_body_limits_and_media_type(client, integration):
    response = client.post(
        "/api/v1/sessions",
        content=b"{" + b" " * 20000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    response = client.post(
        "/api/v1/sessions",
        content=b"jwt=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    response = client.post(
        "/api/v1/sessions",
        content=b'{"a": 1, "a": 2}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


def test_cors_only_for_registered_origins(client, integration):
    preflight = {"origin": LMS_ORIGIN, "access-control-request-method": "POST"}
    response = client.options("/api/v1/sessions", headers=preflight)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == LMS_ORIGIN
    response = client.options(
        "/api/v1/sessions", headers={**preflight, "origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    ok = start(client, start_jwt(), origin=LMS_ORIGIN)
    assert ok.status_code == 201 and ok.headers["access-control-allow-origin"] == LMS_ORIGIN
    refused = start(client, start_jwt("other"), origin="https://evil.example")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "origin_not_allowed"


def test_origin_of_another_integration_is_refused(client, integration, store, app):
    keyring = app.state.openproctor.keyring
    store.integrations.add("lms2", "uni-b", keyring.encrypt(SECRET), ["https://other-lms.example"])
    response = start(client, start_jwt(), origin="https://other-lms.example")
    assert response.status_code == 403 and response.json()["error"]["code"] == "origin_not_allowed"


def test_integration_secret_is_encrypted_at_rest(store, integration):
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        dump = conn.execute(sa.text("SELECT * FROM integrations")).all()
    assert SECRET.encode() not in repr(dump).encode()
    assert SECRET not in repr(integration)
