"""Constructor drop-in: the guide's start token, every documented claim's type, strict claims,
rules and scoreConfig on the policy (checked against hand-computed scores), the
simple-integration API (exams, finish, status, the start form) and the result callback to a
real local receiver."""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import jwt
import pytest

from openproctor.core import PolicyError, parse_policy
from openproctor.server import constructor
from openproctor.server.cli import main
from openproctor.server.security.outbound import OutboundGuard

from ...support import Receiver, constructor_guide_payload
from .conftest import LMS_ORIGIN, SECRET, StudentClient, credential, csrf_of, sign_in

API = "/api/v2/integration/simple/lms1"


def guide_payload(**changes: Any) -> dict[str, Any]:
    return constructor_guide_payload(LMS_ORIGIN + "/opentest#test/b3875623", **changes)


def sign(payload: dict[str, Any]) -> str:
    return jwt.encode(payload, SECRET, algorithm="HS256")


def start(client, payload: dict[str, Any]):
    return client.post("/api/v1/sessions", json={"integrationName": "lms1", "jwt": sign(payload)})


def api_auth(secret: str = SECRET, valid: int = 30) -> dict[str, str]:
    """Constructor's server-to-server header: JWT over just exp."""
    token = jwt.encode({"exp": int(time.time()) + valid}, secret, algorithm="HS256")
    return {"authorization": f"JWT {token}"}


def plain_payload(**changes: Any) -> dict[str, Any]:
    """A token asking for nothing openproctor does not do."""
    plain = {
        "identification": "skip",
        "biometricIdentification": ...,
        "scoreConfig": ...,
        "visibleWarnings": ...,
    }
    return guide_payload(**{**plain, **changes})


# -- 1. the documented token --------------------------------------------------------------------


def test_the_guides_example_starts_metadata_only_and_says_so(
    client, integration, store, web, accounts
):
    response = start(client, guide_payload())
    assert response.status_code == 201, response.text
    grant = response.json()
    said = {w["claim"]: w["message"] for w in grant["warnings"]}
    assert "no ID document or face check was done" in said["identification"]
    assert "no biometric identification" in said["biometricIdentification"]
    assert "no browser-side equivalent" in said["scoreConfig.extra_user"]
    assert "scoreConfig.active_window_changed" not in said  # that one is honoured
    assert "visibleWarnings" in said
    assert grant["policy"]["trust_threshold"] == 0.2  # cheater_level 80
    # The same warnings where the institution looks: the API and the dashboard.
    status = client.get(
        f"/api/v1/sessions/{grant['session_id']}",
        headers={"authorization": f"Bearer {credential()}"},
    ).json()
    assert status["warnings"] == grant["warnings"]
    sign_in(web, "alice")
    page = web.get(f"/dashboard/sessions/{grant['session_id']}").text
    assert 'id="claim-warnings"' in page and "no ID document or face check was done" in page
    # Stored as documented, except a photo's address.
    row = store.sessions.get(grant["session_id"])
    assert row.claims["rules"] == {"allow_to_use_paper": False, "allow_to_use_calculator": False}
    assert row.claims["biometricIdentification"] == {
        "enabled": True,
        "skip_fail": False,
        "flow": "test-flow",
    }
    assert "face.png" not in row.claims_json and row.user["accountId"] == "123"


def test_strict_claims_refuse_what_is_not_done(client, integration, store):
    store.integrations.configure("lms1", "test", strict_claims=True)
    response = start(client, guide_payload())
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unsupported_claim" and error["claim"] == "identification"
    assert "strict_claims" in error["message"]
    assert {w["claim"] for w in error["warnings"]} >= {"identification", "visibleWarnings"}
    assert store.sessions.find(integration.id, "828331bda025") is None
    assert start(client, plain_payload()).status_code == 201


def test_unknown_claims_are_ignored_with_a_warning_or_refused_when_strict(
    client, integration, store
):
    response = start(client, plain_payload(webcam=True))
    assert response.status_code == 201
    assert response.json()["warnings"] == [
        {"claim": "webcam", "message": "is not a claim openproctor knows; it was ignored"}
    ]
    store.integrations.configure("lms1", "test", strict_claims=True)
    refused = start(client, plain_payload(sessionId="another", webcam=True))
    assert refused.status_code == 400 and refused.json()["error"]["claim"] == "webcam"


@pytest.mark.parametrize(
    ("claim", "wrong"),
    [
        ("userId", 1232134),
        ("email", 7),
        ("lastName", ["Smith"]),
        ("firstName", False),
        ("thirdName", {}),
        ("language", "english"),
        ("accountId", True),
        ("accountName", None),
        ("courseName", "x" * 451),
        ("examId", 42),
        ("examName", ""),
        ("userAgreementUrl", "ftp://school.org/eula"),
        ("duration", "120"),
        ("schedule", "false"),
        ("proctoring", "human"),
        ("startDate", "2026-03-27"),
        ("endDate", 1612994131),
        ("sessionId", 828331),
        ("sessionUrl", "javascript:alert(1)"),
        ("identification", "retina"),
        ("rules", ["allow_to_use_paper"]),
        ("rules.allow_to_use_websites", "yes"),
        ("rules.custom_rules", 5),
        ("scoreConfig", 80),
        ("scoreConfig.cheater_level", 101),
        ("scoreConfig.extra_user", 11),
        ("scoreConfig.active_window_changed", "2"),
        ("visibleWarnings", True),
        ("visibleWarnings.warning_timeout", "no"),
        ("auxiliaryCamera", 0),
        ("trial", "yes"),
        ("biometricIdentification", "on"),
        ("biometricIdentification.enabled", 1),
        ("biometricIdentification.photo_url", "not a url"),
        ("auxiliaryCameraMode", "audio"),
        ("ldb", "true"),
        ("allowMultipleDisplays", 1),
        ("faceHuntingEnabled", None),
        ("allowMobileDevices", "no"),
        ("allowVirtualEnvironment", 0),
        ("checkIdPhotoQuality", "x"),
        ("webCameraMainView", "back"),
        ("desktopAppForbiddenProcesses", {"a": 1}),
        ("desktopAppAllowedProcesses", [1, 2]),
        ("secureBrowser", "yes"),
        ("secureBrowserLevel", ["high"]),
        ("disabledWorkers", "ping"),
    ],
)
def test_every_documented_claim_with_a_wrong_type_is_named(client, integration, claim, wrong):
    payload = guide_payload()
    name, _, key = claim.partition(".")
    if key:
        payload[name] = {**payload.get(name, {}), key: wrong}
    else:
        payload[name] = wrong
    response = start(client, payload)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_claim" and error["claim"] == claim, error


def test_every_documented_claim_is_known():
    """The claim table covers §2 of CONSTRUCTOR-NOTES (and the Moodle plugin's extras)."""
    from openproctor.server.security import claims

    documented = set(guide_payload()) - {"exp"} | {"email", "trial", "auxiliaryCameraMode", "ldb"}
    assert documented <= set(claims.CLAIMS)


# -- 2. rules and scoreConfig on the policy, checked by hand ------------------------------------


def _tab_switch_session(client, payload) -> tuple[StudentClient, dict[str, Any]]:
    response = start(client, payload)
    assert response.status_code == 201, response.text
    s = StudentClient(client, response.json())
    events = [s.opening(), s.sign("tab_switch", {"duration_ms": 6000, "count": 1}, dt=1000)]
    events += s.heartbeats(4)  # t = 61,000 ms: no gap, one tab switch of 6 s
    answer = s.post(events)
    assert answer.status_code == 200, answer.text
    status = client.get(
        f"/api/v1/sessions/{s.session_id}", headers={"authorization": f"Bearer {credential()}"}
    ).json()
    return s, status


def test_a_rule_that_allows_websites_stops_counting_tab_switches(client, integration):
    _, status = _tab_switch_session(client, plain_payload(rules={"allow_to_use_websites": True}))
    assert status["score"] == 1.0
    (line,) = [b for b in status["breakdown"] if b["flag"] == "tab_switch"]
    assert not line["counted"] and line["why_not_counted"] == "not enabled in the policy"


def test_score_config_weighs_window_changes_and_sets_the_threshold(client, integration):
    _, status = _tab_switch_session(
        client,
        plain_payload(scoreConfig={"active_window_changed": 2.0, "cheater_level": 60}),
    )
    by_hand = math.exp(-2.0 * (0.05 + 2.0 * 6000 / 61000))
    assert status["score"] == pytest.approx(by_hand)
    assert status["thresholds"] == {"attention": 0.85, "trust": 0.4}
    assert status["band"] == "green" if by_hand >= 0.85 else "yellow"
    assert constructor.thresholds(
        constructor.apply_claims(
            parse_policy({"exam_id": "x"}), {"scoreConfig": {"cheaterLevel": 60}}
        )
    ) == {"attention": 15, "rejected": 60}


def test_disabled_ping_in_the_signed_token_stops_counting_heartbeat_gaps(client, integration):
    response = start(client, plain_payload(disabledWorkers=["ping", "gaze"]))
    assert "sdk_gap" not in response.json()["policy"]["flags_enabled"]
    assert [w["claim"] for w in response.json()["warnings"]] == ["disabledWorkers.gaze"]
    s = StudentClient(client, response.json())
    assert s.post([s.opening(), s.sign("heartbeat", {}, dt=600_000)]).status_code == 200
    status = client.get(
        f"/api/v1/sessions/{s.session_id}", headers={"authorization": f"Bearer {credential()}"}
    ).json()
    assert status["score"] == 1.0  # a ten-minute silence, not counted


def test_camel_case_score_keys_are_accepted_too(client, integration):
    _, status = _tab_switch_session(
        client, plain_payload(scoreConfig={"changeActiveWindowOnComputer": 0.0})
    )
    assert status["score"] == 1.0


def test_bands_follow_the_two_thresholds():
    policy = parse_policy({"exam_id": "x", "trust_threshold": 0.5, "attention_threshold": 0.8})
    assert [policy.band(s) for s in (0.9, 0.8, 0.79, 0.5, 0.49)] == [
        "green",
        "green",
        "yellow",
        "yellow",
        "red",
    ]
    with pytest.raises(PolicyError, match="at least trust_threshold"):
        parse_policy({"exam_id": "x", "trust_threshold": 0.9, "attention_threshold": 0.8})
    # An older policy with a high trust threshold still parses: attention follows it.
    assert parse_policy({"exam_id": "x", "trust_threshold": 0.95}).attention == 0.95


# -- 3. the simple-integration API --------------------------------------------------------------


def test_the_exam_api_writes_a_staging_version(client, integration, store):
    body = {
        "accountId": 123,
        "accountName": "Corporate university",
        "examId": "a3875623",
        "courseName": "Physics",
        "examName": "Final test",
        "duration": 120,
        "schedule": False,
        "auxiliaryCamera": False,
        "proctoring": "offline",
        "identification": "skip",
        "trial": False,
        "rules": {"allow_to_use_excel": True},
        "startDate": "2026-03-27T00:00:00Z",
        "endDate": "2026-03-30T12:55:00Z",
        "scoreConfig": {"cheaterLevel": 70, "changeActiveWindowOnComputer": 3},
        "visibleWarnings": {"warning_timeout": False},
    }
    response = client.post(f"{API}/exams/", json=body, headers=api_auth())
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["environment"] == "staging" and answer["examId"] == "a3875623"
    assert [w["claim"] for w in answer["warnings"]] == ["visibleWarnings"]
    _, version, policy = store.policies.current("uni-a", "a3875623", "staging")
    assert version == answer["policy_version"]
    assert "focus_loss" not in policy.flags_enabled and "tab_switch" in policy.flags_enabled
    assert policy.weights["tab_switch"] == 3.0 and policy.trust_threshold == 0.3
    assert store.policies.current("uni-a", "a3875623") is None  # production waits for a person
    # Sent again, the weights are set again, not multiplied.
    again = client.post(f"{API}/exams/", json=body, headers=api_auth()).json()
    _, _, policy = store.policies.current("uni-a", "a3875623", "staging")
    assert again["policy_version"] == version + 1 and policy.weights["tab_switch"] == 3.0
    wrong = client.post(f"{API}/exams/", json={**body, "duration": "2h"}, headers=api_auth())
    assert wrong.status_code == 400 and wrong.json()["error"]["claim"] == "duration"
    dates = client.post(f"{API}/exams/", json={**body, "endDate": "soon"}, headers=api_auth())
    assert dates.status_code == 400 and dates.json()["error"]["claim"] == "endDate"
    missing = client.post(f"{API}/exams/", json={"examId": "x"}, headers=api_auth())
    assert missing.status_code == 400 and missing.json()["error"]["claim"] == "accountId"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_token"),
        ({"authorization": "Bearer " + jwt.encode({"exp": 2}, SECRET)}, "missing_token"),
        (api_auth(secret="another-secret-" * 4), "bad_signature"),
        (api_auth(valid=3600), "invalid_credential"),
        (api_auth(valid=-600), "jwt_expired"),
        ({"authorization": "JWT " + jwt.encode({"iat": 1}, SECRET)}, "invalid_credential"),
        ({"authorization": "JWT " + jwt.encode({"exp": 9e9}, SECRET, "HS512")}, "wrong_algorithm"),
        ({"authorization": "JWT not-a-token"}, "invalid_credential"),
    ],
)
def test_the_api_wants_constructors_authorization(client, integration, headers, code):
    response = client.get(f"{API}/sessions/828331bda025/status/", headers=headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == code


def test_unknown_integrations_and_sessions_are_404(client, integration):
    other = client.get("/api/v2/integration/simple/nope/sessions/x/status/", headers=api_auth())
    assert other.status_code == 404 and other.json()["error"]["code"] == "unknown_integration"
    missing = client.get(f"{API}/sessions/none/status/", headers=api_auth())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_session"
    finish = client.post(f"{API}/sessions/none/finish/", headers=api_auth())
    assert finish.status_code == 404


def test_finish_and_status(client, integration):
    s, _ = _tab_switch_session(client, plain_payload())
    status = client.get(f"{API}/sessions/828331bda025/status/", headers=api_auth()).json()
    assert status["status"] == "started" and status["sessionEnd"] is None
    assert status["accountId"] == "123" and status["sessionId"] == "828331bda025"
    assert set(status) == {"accountId", "sessionId", "status", "sessionStart", "sessionEnd"}
    url = f"{API}/sessions/828331bda025/finish/"
    bad = client.post(url, json={"sessionFinishUrl": "javascript:x"}, headers=api_auth())
    assert bad.status_code == 400 and bad.json()["error"]["claim"] == "sessionFinishUrl"
    done = client.post(url, json={"sessionFinishUrl": LMS_ORIGIN + "/done"}, headers=api_auth())
    assert done.json() == {"message": "finished"}
    assert client.post(url, headers=api_auth()).json() == {"message": "not_changed"}
    status = client.get(f"{API}/sessions/828331bda025/status/", headers=api_auth()).json()
    assert status["status"] == "finished" and status["sessionEnd"] is not None
    # Events the browser recorded before and uploads after are still stored (as with
    # /api/v1's finish); the session stays finished.
    assert s.post(s.heartbeats(1)).json()["status"] == "finished"


def test_the_start_form_opens_the_exam_page_with_proctoring(client, integration, store):
    form = {"token": sign(guide_payload())}
    response = client.post(
        "/integration/simple/lms1/start/",
        data=form,
        headers={"origin": LMS_ORIGIN},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    page, _, token = location.partition("&openproctor_token=")
    assert page == LMS_ORIGIN + "/opentest#test/b3875623"  # the page's own route stays
    row = store.sessions.find(integration.id, "828331bda025")
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == row.id
    # The page's loader resumes with that token.
    resumed = client.post(
        f"/api/v1/sessions/{row.id}/resume",
        json={"institutionKey": "uni-a"},
        headers={"authorization": f"Bearer {token}", "origin": LMS_ORIGIN},
    )
    assert resumed.status_code == 200 and resumed.json()["session_id"] == row.id


@pytest.mark.parametrize(
    ("change", "headers", "code"),
    [
        ({"sessionUrl": ...}, {}, "no_session_url"),
        ({"sessionUrl": "https://elsewhere.example.com/exam"}, {}, "session_url_not_allowed"),
        ({}, {"origin": "https://evil.example.com"}, "origin_not_allowed"),
        ({"duration": "2h"}, {}, "invalid_claim"),
    ],
)
def test_the_start_form_refuses_with_a_page(client, integration, store, change, headers, code):
    response = client.post(
        "/integration/simple/lms1/start/",
        data={"token": sign(guide_payload(**change))},
        headers=headers,
        follow_redirects=False,
    )
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("text/html")
    assert f'<code id="error-code">{code}</code>' in response.text
    assert store.sessions.find(integration.id, "828331bda025") is None
    empty = client.post("/integration/simple/lms1/start/", data={}, follow_redirects=False)
    assert "missing_field" in empty.text


# -- 4. results back to the LMS -----------------------------------------------------------------


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _deliver(app) -> dict[str, int]:
    return app.state.openproctor.lms_sender.deliver_due()


def _results(receiver) -> list[dict[str, Any]]:
    out = []
    for headers, body in receiver.requests:
        scheme, _, token = headers["authorization"].partition(" ")
        assert scheme == "JWT"
        claims = jwt.decode(token, SECRET, algorithms=["HS256"])  # signed with the secret
        assert set(claims) == {"exp"} and claims["exp"] <= time.time() + 31
        out.append(json.loads(body))
    return out


def test_results_are_sent_on_finish_and_once_final_after_a_decision(
    app, client, integration, store, receiver
):
    constructor.configure(store, "lms1", "test", review_url=receiver.url)
    s, _ = _tab_switch_session(client, guide_payload())
    assert _deliver(app)["delivered"] == 0  # nothing while the session runs
    assert (
        client.post(f"{API}/sessions/828331bda025/finish/", headers=api_auth()).status_code == 200
    )
    assert _deliver(app)["delivered"] == 1
    (result,) = _results(receiver)
    assert result["accountId"] == "123" and result["sessionId"] == "828331bda025"
    assert (
        result["conclusion"] == "unknown" and result["final"] is False
    )  # offline: a person decides
    assert result["threshold"] == {"attention": 15, "rejected": 80}
    assert result["score"] == round(100 * (1 - math.exp(-(0.05 + 2.0 * 6000 / 61000))))
    (warning,) = result["warnings"]
    assert warning["type"] == "WARNING_CHANGE_ACTIVE_WINDOW_ON_COMPUTER" and warning["cyber"]
    start_at = datetime.fromisoformat(warning["start"])
    assert datetime.fromisoformat(warning["end"]) - start_at == timedelta(seconds=6)
    assert result["warningTitles"]["WARNING_CHANGE_ACTIVE_WINDOW_ON_COMPUTER"]["en"]
    assert result["reportUrl"].endswith(f"/dashboard/sessions/{s.session_id}")
    assert "tab switched once" in result["comment"]
    assert {w["claim"] for w in result["openproctor"]["not_done"]} >= {"identification"}
    reviewers = app.state.openproctor.reviewers
    reviewers.decide(s.session_id, "needs_discussion", "ask the TA", "alice (reviewer)")
    reviewers.decide(s.session_id, "cleared", "private note", "alice (reviewer)")
    assert _deliver(app)["delivered"] == 1  # the needs_discussion result was superseded
    final = _results(receiver)[-1]
    assert final["final"] is True and final["conclusion"] == "accepted"
    assert "private note" not in json.dumps(final)  # a reviewer's comment stays ours
    reviewers.decide(s.session_id, "violation_confirmed", "", "bob")
    assert _deliver(app)["delivered"] == 0 and len(receiver.requests) == 2  # final is final
    calls = store.lms.calls("uni-a", s.session_id)
    assert [c["status"] for c in calls] == ["delivered", "superseded", "delivered"]


def test_auto_proctoring_concludes_from_the_band(app, client, integration, store, receiver):
    constructor.configure(store, "lms1", "test", review_url=receiver.url)
    _tab_switch_session(client, plain_payload(proctoring="auto"))
    client.post(f"{API}/sessions/828331bda025/finish/", headers=api_auth())
    _deliver(app)
    (result,) = _results(receiver)
    # A score of about 0.77: below the attention threshold 0.85, above trust 0.7: yellow.
    assert result["band"] == "yellow" and result["conclusion"] == "unknown"


def test_a_failed_callback_is_retried_and_the_guard_refuses_private_addresses(
    app, client, integration, store
):
    failing = Receiver(statuses=(503, 200))
    try:
        constructor.configure(store, "lms1", "test", review_url=failing.url)
        _tab_switch_session(client, plain_payload())
        client.post(f"{API}/sessions/828331bda025/finish/", headers=api_auth())
        sender = app.state.openproctor.lms_sender
        assert sender.deliver_due()["retrying"] == 1
        later = replace(sender, clock=lambda: time.time() + 3600)
        assert later.deliver_due()["delivered"] == 1 and len(failing.requests) == 2
    finally:
        failing.close()
    results = replace(app.state.openproctor.lms_sender.results, guard=OutboundGuard())
    call = {
        "session_id": store.sessions.find(integration.id, "828331bda025").id,
        "action": "result",
    }
    with pytest.raises(Exception, match="private|loopback|refused"):
        results.send(call)


def test_an_integrity_failure_is_sent_at_once(app, client, integration, store, receiver):
    constructor.configure(store, "lms1", "test", review_url=receiver.url)
    s, _ = _tab_switch_session(client, plain_payload())
    forged = s.sign("heartbeat", {}, dt=15000).to_dict()
    forged["mac"] = "0" * 64
    assert s.post([forged]).status_code >= 400
    assert _deliver(app)["delivered"] == 1
    (result,) = _results(receiver)
    assert result["openproctor"]["integrity"] == "failed" and result["conclusion"] == "unknown"
    assert result["comment"].startswith("the signed log failed verification: bad_mac")


def test_sessions_without_a_review_url_send_nothing(app, client, integration, store):
    _tab_switch_session(client, plain_payload())
    client.post(f"{API}/sessions/828331bda025/finish/", headers=api_auth())
    assert store.lms.calls("uni-a") == []


# -- settings: CLI and dashboard ----------------------------------------------------------------


def test_cli_sets_review_url_and_strict_claims(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENPROCTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    monkeypatch.setenv("OPENPROCTOR_SECRET_FILE", str(tmp_path / "secret.key"))
    assert main(["integration", "add", "lms", "--institution", "uni"]) == 0
    url = "https://lms.example.edu/proctoring/review"
    assert main(["integration", "set", "lms", "--review-url", url, "--strict-claims", "on"]) == 0
    assert f"review_url={url} strict_claims=on" in capsys.readouterr().out
    assert main(["integration", "list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["review_url"] == url and listed["strict_claims"] is True
    with pytest.raises(SystemExit):
        main(["integration", "set", "lms"])
    assert main(["integration", "set", "lms", "--review-url", ""]) == 0
    assert "review_url=- strict_claims=on" in capsys.readouterr().out


def test_the_dashboard_sets_them_for_its_own_integrations(web, accounts, store):
    sign_in(web, "ada")
    page = web.get("/dashboard/settings")
    assert 'id="integration-lms1"' in page.text and "lms-b" not in page.text
    csrf = csrf_of(page.text)
    url = "https://lms.example.edu/review"
    saved = web.post(
        "/dashboard/settings/integrations/lms1",
        data={"csrf": csrf, "review_url": url, "strict_claims": "on"},
    )
    assert saved.status_code == 200 and "Saved." in saved.text
    found = store.integrations.get("lms1")
    assert found.review_url == url and found.strict_claims
    bad = web.post(
        "/dashboard/settings/integrations/lms1", data={"csrf": csrf, "review_url": "ftp://x"}
    )
    assert bad.status_code == 400 and 'id="integration-error"' in bad.text
    assert store.integrations.get("lms1").review_url == url  # nothing stored is lost
    other = web.post("/dashboard/settings/integrations/lms-b", data={"csrf": csrf})
    assert other.status_code == 404
    sign_in(web, "alice")
    assert web.post("/dashboard/settings/integrations/lms1", data={"csrf": csrf}).status_code in (
        403,
        404,
    )
