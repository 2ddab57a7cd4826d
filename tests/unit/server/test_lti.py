"""LTI 1.3 end to end against lti1p3platform (a platform we did not write): learner, instructor,
deep linking and proctoring launches, then one test per attack on the launch."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from starlette.testclient import TestClient

from openproctor.server.lti.launch import OPENPROCTOR_CLAIM

from ...lti_platform import INSTRUCTOR, LaunchSpec, Platform, rsa_pem_pair, serve_jwks
from .conftest import EXAM_URL, TOOL, launch, learner, login, register_platform


def token_from(location: str) -> str:
    assert "#openproctor_token=" in location
    return location.split("#openproctor_token=", 1)[1]


def autopost(html: str) -> tuple[str, str]:
    """The action and the JWT field of an auto-submitting form page."""
    action = html.split('action="', 1)[1].split('"', 1)[0]
    value = html.split('name="JWT" value="', 1)[1].split('"', 1)[0]
    return action, value


# -- the launches that work --------------------------------------------------------------------


def test_learner_launch_starts_a_session_and_sends_the_student_to_the_exam(tool, platform, store):
    spec = learner(custom={"trust_threshold": "0.55", "duration": "45"})
    response = launch(tool, platform, spec)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(EXAM_URL + "#openproctor_token=")
    token = token_from(location)
    session_id = jwt.decode(token, options={"verify_signature": False})["sub"]
    row = store.sessions.get(session_id)
    assert row.user_id == "learner-1" and row.context_id == "course-42"
    assert row.exam_id == "lti-quiz-7" and row.exam_name == "Midterm quiz"
    assert json.loads(row.policy_json)["trust_threshold"] == 0.55
    assert row.deadline - row.started_at == pytest.approx(45 * 60, abs=2)
    # The token in the fragment is what the loader resumes the session with.
    grant = tool.post(
        f"/api/v1/sessions/{session_id}/resume",
        json={},
        headers={"authorization": f"Bearer {token}"},
    )
    assert grant.status_code == 200 and grant.json()["session_id"] == session_id
    # The spent login cookie is removed.
    assert not [c for c in tool.cookies.jar if c.name.startswith("op_lti_")]


def test_a_second_launch_of_the_same_link_resumes_the_session(tool, platform):
    first = token_from(launch(tool, platform, learner()).headers["location"])
    second = token_from(launch(tool, platform, learner()).headers["location"])
    sub = [jwt.decode(t, options={"verify_signature": False})["sub"] for t in (first, second)]
    assert sub[0] == sub[1]
    other = token_from(launch(tool, platform, learner(user="learner-2")).headers["location"])
    assert jwt.decode(other, options={"verify_signature": False})["sub"] != sub[0]


def test_custom_parameters_are_validated_by_name(tool, platform):
    response = launch(tool, platform, learner(custom={"trust_threshold": "high"}))
    assert response.status_code == 400
    assert "trust_threshold" in response.text and "invalid_custom_parameter" in response.text
    response = launch(tool, platform, learner(custom={"duration": "0"}))
    assert response.status_code == 400 and "duration" in response.text


def test_a_link_without_an_exam_page_is_a_clear_error(app, store, integration, platform):
    with serve_jwks(platform) as (url, _):
        register_platform(store, integration, platform, url)
        with TestClient(app, base_url=TOOL) as client:
            response = launch(client, platform, learner())
    assert response.status_code == 400 and "exam_url" in response.text


def test_instructor_launch_opens_the_dashboard_for_that_course(tool, platform, store):
    launch(tool, platform, learner())  # a session in course-42
    launch(tool, platform, learner(user="learner-9", context="course-other"))
    response = launch(tool, platform, LaunchSpec(user="teacher-1", roles=[INSTRUCTOR]))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/dashboard")
    queue = tool.get("/dashboard?exam=")
    assert queue.status_code == 200
    assert queue.text.count('data-session="') == 1  # course-42 only
    assert "instructor" in queue.text and "course-42" in queue.text


def test_deep_linking_creates_a_policy_and_returns_a_signed_resource_link(tool, platform, store):
    page = launch(
        tool, platform, LaunchSpec(user="teacher-1", roles=[INSTRUCTOR], kind="deep_linking")
    )
    assert page.status_code == 200 and 'name="context"' in page.text
    context = page.text.split('name="context" value="', 1)[1].split('"', 1)[0]
    form = {
        "context": context,
        "exam_id": "ALG-101-final",
        "title": "Final exam",
        "trust_threshold": "1.5",
        "log_retention_days": "60",
        "duration": "90",
        "flags_enabled": ["tab_switch", "copy_paste"],
    }
    invalid = tool.post("/lti/deep-linking", data=form)
    assert invalid.status_code == 400 and 'id="trust_threshold-error"' in invalid.text
    form["trust_threshold"] = "0.6"
    answer = tool.post("/lti/deep-linking", data=form)
    assert answer.status_code == 200, answer.text
    action, signed = autopost(answer.text)
    assert action == platform.base + "/deep-link-return"
    items = platform.deep_link_items(signed, tool.get("/lti/jwks").json())
    assert items[0]["type"] == "ltiResourceLink" and items[0]["title"] == "Final exam"
    # The link names the exam; its policy stays on the server, where a promotion changes it
    # (a copy in the link would override every later promotion).
    assert items[0]["custom"] == {"exam_id": "ALG-101-final", "duration": "90"}
    claims = (
        platform.received[-1]
        if platform.received
        else jwt.decode(signed, options={"verify_signature": False})
    )
    assert claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == {"opaque": "dl-data-1"}
    assert claims["aud"] == platform.issuer and claims["iss"] == platform.client_id
    stored = store.policies.current("uni-a", "ALG-101-final")
    assert stored is not None and stored[2].trust_threshold == 0.6
    assert sorted(stored[2].flags_enabled) == ["copy_paste", "tab_switch"]
    # The form is single use.
    again = tool.post("/lti/deep-linking", data=form)
    assert again.status_code == 400 and "unknown_context" in again.text


def test_deep_linking_is_for_instructors_only(tool, platform):
    response = launch(tool, platform, learner(kind="deep_linking"))
    assert response.status_code == 403 and "wrong_role" in response.text


def test_proctoring_start_then_end(tool, platform, store):
    response = launch(tool, platform, learner(kind="start_proctoring", attempt=2))
    assert response.status_code == 200, response.text
    action, signed = autopost(response.text)
    assert action == platform.base + "/start-assessment"
    claims = platform.check_tool_message(signed, tool.get("/lti/jwks").json())
    ap = "https://purl.imsglobal.org/spec/lti-ap/claim/"
    assert claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] == "LtiStartAssessment"
    assert claims[ap + "session_data"] == "platform-session-learner-1"
    assert claims[ap + "attempt_number"] == 2
    # The resource link is echoed unaltered (Open edX compares it).
    assert claims["https://purl.imsglobal.org/spec/lti/claim/resource_link"] == {
        "id": "quiz-7",
        "title": "Midterm quiz",
    }
    session = claims[OPENPROCTOR_CLAIM]
    assert session["loader_url"] == TOOL + "/sdk/v1/loader.js"
    row = store.sessions.get(session["session_id"])
    assert row.status == "active" and row.external_id.endswith(":attempt-2")
    end = launch(tool, platform, learner(kind="end_assessment", attempt=2))
    assert end.status_code == 200 and "has ended" in end.text
    assert store.sessions.get(session["session_id"]).status == "finished"
    missing = launch(tool, platform, learner(kind="end_assessment", attempt=3))
    assert missing.status_code == 404


def test_tool_jwks_and_key_rotation(tool, app):
    first = tool.get("/lti/jwks").json()["keys"]
    assert len(first) == 1 and first[0]["alg"] == "RS256" and "d" not in first[0]
    new_kid = app.state.openproctor.lti_keys.rotate()
    keys = tool.get("/lti/jwks").json()["keys"]
    assert {k["kid"] for k in keys} == {first[0]["kid"], new_kid}  # the old one in its grace
    signed = app.state.openproctor.lti_keys.sign({"x": 1})
    assert jwt.get_unverified_header(signed)["kid"] == new_kid


def test_the_platform_rotating_its_key_is_picked_up(tool, platform, jwks_server):
    assert launch(tool, platform, learner()).status_code == 303
    fetched = jwks_server[1][0]
    assert launch(tool, platform, learner(user="u2")).status_code == 303
    assert jwks_server[1][0] == fetched  # cached
    platform.private_pem, platform.public_pem = rsa_pem_pair()
    platform.registration.set_platform_private_key(platform.private_pem)
    platform.registration.set_platform_public_key(platform.public_pem)
    platform.registration.kid = "platform-key-2"
    assert launch(tool, platform, learner(user="u3")).status_code == 303
    assert jwks_server[1][0] == fetched + 1  # one refetch for the unknown kid


# -- one test per attack -----------------------------------------------------------------------


def resign(
    platform: Platform,
    token: str,
    change: Callable[[dict[str, Any]], None] = lambda c: None,
    headers: dict[str, Any] | None = None,
) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    change(claims)
    return jwt.encode(
        claims,
        platform.private_pem,
        algorithm="RS256",
        headers=headers or {"kid": platform.registration.kid},
    )


def refused(response, code: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert f'<code id="error-code">{code}</code>' in response.text, response.text


def with_token(platform: Platform, **kw: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(form: dict[str, Any]) -> dict[str, Any]:
        return {**form, "id_token": resign(platform, form["id_token"], **kw)}

    return change


def test_attack_replayed_launch(tool, platform):
    data = login(tool, platform, learner())
    form = {"id_token": data["id_token"], "state": data["state"]}
    cookies = dict(tool.cookies)
    assert tool.post("/lti/launch", data=form, follow_redirects=False).status_code == 303
    tool.cookies.update(cookies)
    refused(tool.post("/lti/launch", data=form, follow_redirects=False), "replayed")


def test_attack_replayed_nonce_with_a_fresh_state(tool, platform):
    old = login(tool, platform, learner())
    assert tool.post("/lti/launch", data=old, follow_redirects=False).status_code == 303
    fresh = login(tool, platform, learner())
    form = {"id_token": old["id_token"], "state": fresh["state"]}
    refused(tool.post("/lti/launch", data=form, follow_redirects=False), "wrong_nonce")


def test_attack_missing_or_wrong_state(tool, platform):
    refused(
        launch(tool, platform, learner(), lambda f: {"id_token": f["id_token"]}), "missing_state"
    )
    refused(launch(tool, platform, learner(), lambda f: {**f, "state": "forged"}), "unknown_state")


def test_attack_state_from_another_browser(tool, platform):
    data = login(tool, platform, learner())
    tool.cookies.clear()
    response = tool.post("/lti/launch", data=data, follow_redirects=False)
    refused(response, "state_cookie_missing", 401)
    # The fallback: the same login in a new top-level window, where the cookie is first-party.
    relaunch = response.text.split('id="relaunch" href="', 1)[1].split('"', 1)[0]
    params = parse_qs(urlsplit(relaunch.replace("&amp;", "&")).query)
    assert params["iss"] == [platform.issuer] and params["login_hint"] == ["learner-1"]
    # A victim's cookie for another login does not validate this state either.
    mine = login(tool, platform, learner())
    stolen = {**mine, "state": data["state"]}
    refused(
        tool.post("/lti/launch", data=stolen, follow_redirects=False), "state_cookie_missing", 401
    )


def test_attack_wrong_aud(tool, platform):
    refused(
        launch(
            tool,
            platform,
            learner(),
            with_token(platform, change=lambda c: c.update(aud="other-tool")),
        ),
        "wrong_aud",
    )


def test_attack_wrong_iss(tool, platform):
    refused(
        launch(
            tool,
            platform,
            learner(),
            with_token(platform, change=lambda c: c.update(iss="https://evil.example")),
        ),
        "wrong_iss",
    )


def test_attack_unknown_deployment(tool, platform):
    dep = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"
    refused(
        launch(
            tool,
            platform,
            learner(),
            with_token(platform, change=lambda c: c.update({dep: "dep-x"})),
        ),
        "unknown_deployment",
        403,
    )


def test_attack_expired_token(tool, platform):
    old = int(time.time()) - 7200
    refused(
        launch(
            tool,
            platform,
            learner(),
            with_token(platform, change=lambda c: c.update(iat=old, exp=old + 300)),
        ),
        "expired",
    )


def test_attack_alg_none(tool, platform):
    def none(form: dict[str, Any]) -> dict[str, Any]:
        claims = jwt.decode(form["id_token"], options={"verify_signature": False})
        return {**form, "id_token": jwt.encode(claims, None, algorithm="none")}

    refused(launch(tool, platform, learner(), none), "wrong_algorithm")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_attack_hs256_signed_with_the_platforms_public_key(tool, platform):
    def confused(form: dict[str, Any]) -> dict[str, Any]:
        claims = jwt.decode(form["id_token"], options={"verify_signature": False})
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "platform-key-1"}).encode())
        body = _b64(json.dumps(claims).encode())
        mac = hmac.new(platform.public_pem.encode(), f"{head}.{body}".encode(), hashlib.sha256)
        return {**form, "id_token": f"{head}.{body}.{_b64(mac.digest())}"}

    refused(launch(tool, platform, learner(), confused), "wrong_algorithm")


def test_attack_unknown_kid(app, tool, platform, jwks_server):
    before = jwks_server[1][0]
    refused(
        launch(tool, platform, learner(), with_token(platform, headers={"kid": "nope"})),
        "unknown_kid",
    )
    assert jwks_server[1][0] >= before + 1  # it looked again before refusing
    # With the production cooldown, a flood of forged kids costs the platform no more fetches.
    app.state.openproctor.platform_keys.refetch_cooldown = 30
    app.state.openproctor.platform_keys.forget()
    assert launch(tool, platform, learner()).status_code == 303
    fetched = jwks_server[1][0]
    for _ in range(3):
        refused(
            launch(tool, platform, learner(), with_token(platform, headers={"kid": "nope"})),
            "unknown_kid",
        )
    assert jwks_server[1][0] == fetched


def test_attack_tampered_signature(tool, platform):
    def tamper(form: dict[str, Any]) -> dict[str, Any]:
        head, body, sig = form["id_token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        claims["sub"] = "someone-else"
        return {**form, "id_token": f"{head}.{_b64(json.dumps(claims).encode())}.{sig}"}

    refused(launch(tool, platform, learner(), tamper), "bad_signature")


def test_attack_wrong_message_type(tool, platform):
    kind = "https://purl.imsglobal.org/spec/lti/claim/message_type"
    refused(
        launch(
            tool,
            platform,
            learner(),
            with_token(platform, change=lambda c: c.update({kind: "LtiSubmissionReviewRequest"})),
        ),
        "wrong_message_type",
    )


def test_login_refuses_unknown_platforms_and_foreign_targets(tool, platform):
    spec = learner()
    url = platform.login_url(spec)
    foreign = url.replace(
        "https%3A%2F%2Ftestserver%2Flti%2Flaunch", "https%3A%2F%2Fevil.example%2F"
    )
    refused(tool.get(foreign), "wrong_target_link_uri")
    unknown = url.replace("https%3A%2F%2Flms.example.edu", "https%3A%2F%2Fother-lms.example")
    refused(tool.get(unknown), "unknown_platform", 403)


def test_refusals_are_logged_without_the_token(tool, platform, caplog):
    caplog.set_level(logging.INFO)
    data = login(tool, platform, learner())
    forged = resign(platform, data["id_token"], change=lambda c: c.update(aud="x"))
    tool.post("/lti/launch", data={**data, "id_token": forged}, follow_redirects=False)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "wrong_aud" in text
    for secret in (forged, forged.split(".")[2], data["state"]):
        assert secret not in text
