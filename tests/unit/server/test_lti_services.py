"""Proctoring Services completed on the tool's side, the Assessment Control Service and the
gradebook (AGS), against lti1p3platform for the launches and against a platform side scripted
from ../shared/LTI-NOTES.md (tests/lti_services.py) for the services: the edx-exams cycle end
to end (empty roles, end_assessment_return, LtiEndAssessment back, an ACS terminate received,
415 then JSON), the calls' retry and refusal, tokens, line items and scores."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from starlette.testclient import TestClient

from openproctor.server.lti.launch import OPENPROCTOR_CLAIM

from ...lti_platform import INSTRUCTOR, LEARNER, LaunchSpec
from ...lti_services import PlatformServices, serve
from .conftest import EXAM_URL, LMS_ORIGIN, TOOL, StudentClient, launch, register_platform, sign_in
from .test_lti import autopost, token_from

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
TA = LIS + "membership/Instructor#TeachingAssistant"
AP = "https://purl.imsglobal.org/spec/lti-ap/claim/"
LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
RETURN_URL = "https://lms.example.edu/courses/42/exam/7?view=1"


@pytest.fixture
def services(app, platform) -> Iterator[PlatformServices]:
    jwks = app.state.openproctor.lti_keys.jwks
    with serve(PlatformServices(platform.client_id, jwks)) as running:
        yield running


@pytest.fixture
def tool(app, store, integration, platform, jwks_server, services) -> Iterator[TestClient]:
    register_platform(
        store,
        integration,
        platform,
        jwks_server[0],
        exam_url=EXAM_URL,
        token_url=services.token_url,
    )
    app.state.openproctor.platform_keys.refetch_cooldown = 0
    with TestClient(app, base_url=TOOL) as client:
        yield client


def proctoring(kind: str, roles: list[str] | None = None, **extra: Any) -> LaunchSpec:
    claims = {LTI + "launch_presentation": {"return_url": RETURN_URL}, **extra}
    return LaunchSpec(user="anon-7", roles=[] if roles is None else roles, kind=kind, extra=claims)


def acs(services: PlatformServices, *actions: str) -> dict[str, Any]:
    return {AP + "acs": {"assessment_control_url": services.acs_url, "actions": list(actions)}}


def start(tool, platform, spec: LaunchSpec) -> tuple[dict[str, Any], StudentClient]:
    """StartProctoring: the platform checks the signed LtiStartAssessment; the candidate's
    browser takes the session the claim names (as the SDK does, with its token)."""
    response = launch(tool, platform, spec)
    assert response.status_code == 200, response.text
    _, signed = autopost(response.text)
    claims = platform.check_tool_message(signed, tool.get("/lti/jwks").json())
    session = claims[OPENPROCTOR_CLAIM]
    grant = tool.post(
        f"/api/v1/sessions/{session['session_id']}/resume",
        json={},
        headers={"authorization": f"Bearer {session['token']}", "origin": LMS_ORIGIN},
    )
    assert grant.status_code == 200, grant.text
    return claims, StudentClient(tool, grant.json())


def take(student: StudentClient, flagged: bool = False, end: bool = True) -> None:
    events = [student.opening(), *student.heartbeats(2)]
    if flagged:
        events += [
            student.sign("tab_switch", {"duration_ms": 60_000, "count": 1}) for _ in range(6)
        ]
    if end:
        events.append(student.end())
    response = student.post(events, origin=LMS_ORIGIN)
    assert response.status_code == 200, response.text


def deliver(app, later: float = 0.0) -> dict[str, int]:
    sender = app.state.openproctor.lms_sender
    return replace(sender, clock=lambda: time.time() + later).deliver_due()


def calls(store, session_id: str) -> list[dict[str, Any]]:
    return sorted(store.lms.calls(None, session_id), key=lambda c: c["id"])


# -- the edx-exams cycle ------------------------------------------------------------------------


def test_the_edx_exams_cycle_end_to_end(tool, platform, services, store, app, accounts):
    # edx-exams sends roles: [] and offers only terminate.
    claims, student = start(
        tool, platform, proctoring("start_proctoring", **acs(services, "terminate"))
    )
    assert claims[AP + "end_assessment_return"] is True
    assert claims[LTI + "resource_link"] == {"id": "quiz-7", "title": "Midterm quiz"}
    assert claims[AP + "session_data"] == "platform-session-anon-7"
    assert claims[AP + "attempt_number"] == 1
    assert AP + "verified_user" not in claims
    take(student)
    # LtiEndAssessment back, with lib-lti1p3-core's space-padded claim names.
    end = launch(
        tool,
        platform,
        proctoring(
            "end_assessment",
            **{
                " " + AP + "errormsg": "Your proctored exam was submitted late.",
                " " + AP + "errorlog ": "late submission",
            },
        ),
    )
    assert end.status_code == 200, end.text
    assert "Your proctored exam was submitted late." in end.text
    assert f'href="{RETURN_URL}"'.replace("?", "?") in end.text.replace("&amp;", "&")
    row = store.sessions.get(student.session_id)
    assert row.status == "finished" and row.complete
    assert deliver(app) == {"delivered": 1, "retrying": 0, "failed": 0}
    # A token first (client credentials, private_key_jwt), then the spec's media type (415
    # from edx-exams), then JSON once more.
    (token,) = services.calls("/token")
    form = parse_qs(token.body.decode())
    assert form["scope"] == ["https://purl.imsglobal.org/spec/lti-ap/scope/control.all"]
    assertion = jwt.decode(form["client_assertion"][0], options={"verify_signature": False})
    assert assertion["iss"] == assertion["sub"] == platform.client_id
    assert assertion["aud"] == services.token_url
    first, second = services.calls("/acs")
    assert first.headers["content-type"] == "application/vnd.ims.lti-ap.v1.control+json"
    assert second.headers["content-type"] == "application/json"
    body = second.json()
    assert body["user"] == {"iss": platform.issuer, "sub": "anon-7"}
    assert body["resource_link"] == {"id": "quiz-7", "title": "Midterm quiz"}
    assert body["attempt_number"] == 1 and body["action"] == "terminate"
    assert body["reason_code"] == "1" and body["incident_severity"] == 0.0
    assert body["incident_time"].endswith("+00:00")
    (call,) = calls(store, student.session_id)
    assert (call["status"], call["result"], call["attempts"]) == ("delivered", "terminated", 1)
    # The administrator sees it.
    web = TestClient(app, base_url=TOOL)
    sign_in(web, "ada")
    page = web.get("/dashboard/lti").text
    assert f'data-call="{call["id"]}" data-status="delivered"' in page and "terminate" in page


def test_a_flagged_session_is_flagged_on_the_platform_and_ended_with_its_severity(
    tool, platform, services, store, app
):
    services.json_only = False
    _, student = start(
        tool, platform, proctoring("start_proctoring", **acs(services, "flag", "terminate"))
    )
    take(student, flagged=True, end=False)
    deliver(app)
    flag = services.calls("/acs")[-1].json()
    row = store.sessions.get(student.session_id)
    assert row.flagged and flag["action"] == "flag" and flag["reason_code"] == "tab_switch"
    assert flag["incident_severity"] == round(1 - row.score, 3) > 0.25
    assert "tab switched" in flag["reason_msg"]
    assert launch(tool, platform, proctoring("end_assessment")).status_code == 200
    assert deliver(app) == {"delivered": 0, "retrying": 0, "failed": 0}  # it waits for the log
    assert deliver(app, later=61)["delivered"] == 1
    terminate = services.calls("/acs")[-1].json()
    assert terminate["action"] == "terminate" and terminate["reason_code"] == "1"
    assert terminate["incident_severity"] == flag["incident_severity"]
    assert [c["action"] for c in calls(store, student.session_id)] == ["flag", "terminate"]


def test_a_declared_break_pauses_and_resumes_the_attempt(tool, platform, services, store, app):
    """The student's "Take a break": the platform that offers pause and resume gets them, one
    batch at a time or both in one batch, and none for a platform that does not."""
    services.json_only = False
    _, student = start(
        tool, platform, proctoring("start_proctoring", **acs(services, "pause", "resume"))
    )
    opening = [student.opening(), *student.heartbeats(1)]
    assert student.post(opening, origin=LMS_ORIGIN).status_code == 200
    assert student.post([student.sign("break_start", {})], origin=LMS_ORIGIN).status_code == 200
    deliver(app)
    pause = services.calls("/acs")[-1].json()
    assert pause["action"] == "pause" and pause["reason_code"] == "break"
    assert pause["incident_severity"] == 0.0 and "took a declared break" in pause["reason_msg"]
    away = student.sign("tab_switch", {"duration_ms": 30_000, "count": 1}, dt=31_000)
    ended = student.sign("break_end", {"duration_ms": 32_000})
    assert student.post([away, ended], origin=LMS_ORIGIN).status_code == 200
    deliver(app)
    assert services.calls("/acs")[-1].json()["action"] == "resume"
    both = [student.sign("break_start", {}), student.sign("break_end", {"duration_ms": 1000})]
    assert student.post(both + student.heartbeats(1), origin=LMS_ORIGIN).status_code == 200
    deliver(app)
    actions = [c["action"] for c in calls(store, student.session_id)]
    assert actions == ["pause", "resume", "pause", "resume"]
    assert student.post(student.heartbeats(1), origin=LMS_ORIGIN).status_code == 200
    assert len(calls(store, student.session_id)) == 4  # a plain batch queues nothing


def test_no_pause_for_a_platform_that_does_not_offer_it(tool, platform, services, store, app):
    _, student = start(tool, platform, proctoring("start_proctoring", **acs(services, "terminate")))
    events = [student.opening(), student.sign("break_start", {})]
    assert student.post(events, origin=LMS_ORIGIN).status_code == 200
    assert calls(store, student.session_id) == []


def test_only_the_actions_the_platform_advertised_are_sent(tool, platform, services, store, app):
    _, student = start(tool, platform, proctoring("start_proctoring", **acs(services, "terminate")))
    take(student, flagged=True, end=False)
    deliver(app)
    assert services.calls("/acs") == [] and calls(store, student.session_id) == []


def test_a_busy_platform_is_retried_and_a_refusal_stops(tool, platform, services, store, app):
    services.json_only = False
    services.acs_failures = [503]
    _, student = start(tool, platform, proctoring("start_proctoring", **acs(services, "terminate")))
    take(student)
    assert launch(tool, platform, proctoring("end_assessment")).status_code == 200
    assert deliver(app) == {"delivered": 0, "retrying": 1, "failed": 0}
    (call,) = calls(store, student.session_id)
    assert call["status"] == "pending" and call["last_status"] == 503
    assert call["next_attempt_at"] > time.time() + 5  # backoff
    assert deliver(app) == {"delivered": 0, "retrying": 0, "failed": 0}  # not due yet
    assert deliver(app, later=30) == {"delivered": 1, "retrying": 0, "failed": 0}
    # A platform that refuses (400) is not asked again.
    services.acs_failures = [400]
    _, other = start(
        tool,
        platform,
        replace(proctoring("start_proctoring", **acs(services, "terminate")), user="anon-8"),
    )
    take(other)
    app.state.openproctor.ingest.finish(other.session_id)
    assert deliver(app) == {"delivered": 0, "retrying": 0, "failed": 1}
    (refused,) = calls(store, other.session_id)
    assert refused["status"] == "failed" and "HTTP 400" in refused["last_error"]


def test_the_access_token_is_cached_and_renewed_after_a_401(tool, platform, services, store, app):
    services.json_only = False
    for user in ("anon-1", "anon-2"):
        _, student = start(
            tool,
            platform,
            replace(proctoring("start_proctoring", **acs(services, "terminate")), user=user),
        )
        take(student)
        app.state.openproctor.ingest.finish(student.session_id)
        if user == "anon-2":
            services.tokens.clear()  # the platform forgot the token: 401, then a new one
        assert deliver(app)["delivered"] == 1
    assert len(services.calls("/token")) == 2
    assert [r.headers.get("authorization", "")[:7] for r in services.calls("/acs")] == [
        "Bearer ",
        "Bearer ",
        "Bearer ",
    ]


# -- the gradebook ------------------------------------------------------------------------------


def gradebook_launch(
    tool, platform, services, user: str = "learner-9", opt_in: bool = True
) -> StudentClient:
    """A learner's resource-link launch carrying the AGS claim; the exam page's SDK takes the
    session with the token it receives."""
    claim = {
        AGS: {
            "scope": [
                "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
                "https://purl.imsglobal.org/spec/lti-ags/scope/score",
            ],
            "lineitems": services.lineitems_url,
        }
    }
    custom = {"integrity_gradebook": "true"} if opt_in else {}
    response = launch(
        tool, platform, LaunchSpec(user=user, roles=[LEARNER], custom=custom, extra=claim)
    )
    assert response.status_code == 303, response.text
    token = token_from(response.headers["location"])
    session_id = jwt.decode(token, options={"verify_signature": False})["sub"]
    grant = tool.post(
        f"/api/v1/sessions/{session_id}/resume",
        json={},
        headers={"authorization": f"Bearer {token}", "origin": LMS_ORIGIN},
    )
    assert grant.status_code == 200, grant.text
    return StudentClient(tool, grant.json())


def test_results_reach_the_gradebook_pending_then_graded(tool, platform, services, store, app):
    student = gradebook_launch(tool, platform, services)
    # The first launch with the claim makes the tool's own line item.
    assert deliver(app)["delivered"] == 1
    (item,) = services.line_items.values()
    assert item["label"] == "Integrity review" and item["scoreMaximum"] == 1
    assert item["resourceLinkId"] == "quiz-7" and item["tag"] == "openproctor-integrity"
    # A second learner's launch reuses it.
    other = gradebook_launch(tool, platform, services, user="learner-10")
    deliver(app)
    assert len(services.line_items) == 1
    take(student, flagged=True)
    take(other)
    assert deliver(app)["delivered"] == 2
    assert len(services.scores[1]) == 2
    by_user = {s["userId"]: s for s in services.scores[1]}
    assert by_user["learner-9"]["gradingProgress"] == "PendingManual"
    assert by_user["learner-10"]["gradingProgress"] == "FullyGraded"
    assert by_user["learner-10"]["scoreGiven"] == 1.0 and by_user["learner-10"]["scoreMaximum"] == 1
    assert by_user["learner-9"]["scoreGiven"] == round(
        store.sessions.get(student.session_id).score, 3
    )
    # The scores went to <line item>/scores with the line item's query string kept.
    assert {r.path for r in services.calls("/lineitems/1/scores")} == {
        "/lineitems/1/scores?course=42"
    }
    # The reviewer's decision: FullyGraded with the outcome as the comment.
    app.state.openproctor.reviewers.decide(student.session_id, "cleared", "looked fine", "alice")
    assert deliver(app)["delivered"] == 1
    decided = services.scores[1][-1]
    assert decided["gradingProgress"] == "FullyGraded"
    assert decided["comment"] == "Integrity review: cleared" and "looked fine" not in str(decided)
    assert decided["timestamp"] > by_user["learner-9"]["timestamp"]


def test_a_newer_score_supersedes_one_still_queued(tool, platform, services, store, app):
    student = gradebook_launch(tool, platform, services)
    take(student, flagged=True)
    app.state.openproctor.reviewers.decide(student.session_id, "violation_confirmed", "", "alice")
    deliver(app, later=61)
    statuses = [(c["action"], c["status"]) for c in calls(store, student.session_id)]
    assert statuses == [("lineitem", "delivered"), ("score", "superseded"), ("score", "delivered")]
    assert [s["gradingProgress"] for s in services.scores[1]] == ["FullyGraded"]
    assert services.scores[1][0]["comment"] == "Integrity review: violation confirmed"


def test_the_gradebook_is_opt_in_per_link(tool, platform, services, store, app):
    student = gradebook_launch(tool, platform, services, opt_in=False)
    take(student, flagged=True)
    deliver(app, later=61)
    assert calls(store, student.session_id) == [] and services.received == []


def test_a_platform_that_grants_no_lineitem_scope_fails_clearly(
    tool, platform, services, store, app
):
    services.grantable = ("https://purl.imsglobal.org/spec/lti-ags/scope/score",)
    student = gradebook_launch(tool, platform, services)
    deliver(app)
    (call,) = calls(store, student.session_id)
    # Refused (not retried for a day): the platform narrowed the scopes on purpose.
    assert call["status"] == "failed" and call["attempts"] == 1
    assert "creating the line item: HTTP 403" in call["last_error"]


def test_removing_the_platform_cancels_its_pending_calls(tool, platform, services, store, app):
    student = gradebook_launch(tool, platform, services)
    registration = store.lti.list_registrations()[0]
    store.lti.remove_registration_by_id(registration.id)
    (call,) = calls(store, student.session_id)
    assert call["status"] == "cancelled"
    assert deliver(app) == {"delivered": 0, "retrying": 0, "failed": 0}


# -- Proctoring Services: roles, rejection, settings ---------------------------------------------


@pytest.mark.parametrize(
    ("kind", "roles", "outcome"),
    [
        ("start_proctoring", [], "starts"),
        ("start_proctoring", [LEARNER], "starts"),
        ("start_proctoring", [LEARNER, TA], "starts"),  # Open edX's Community TA
        ("start_proctoring", [LIS + "institution/person#Student"], "starts"),
        ("start_proctoring", [INSTRUCTOR], "refused"),
        ("start_proctoring", [TA], "refused"),
        ("start_proctoring", [LIS + "institution/person#Administrator"], "refused"),
        ("resource", [LEARNER, TA], "exam"),
        ("resource", [LEARNER, INSTRUCTOR], "dashboard instructor"),
        ("resource", [TA], "dashboard assistant"),
        ("resource", [], "refused page"),
    ],
)
def test_the_role_table(tool, platform, kind, roles, outcome):
    response = launch(tool, platform, proctoring(kind, roles))
    if outcome == "starts":
        assert response.status_code == 200 and 'name="JWT"' in response.text
    elif outcome == "refused":
        assert response.status_code == 303
        target = urlsplit(response.headers["location"])
        query = parse_qs(target.query)
        assert target.geturl().startswith("https://lms.example.edu/courses/42/exam/7?")
        assert query["view"] == ["1"] and query["lti_errorlog"] == ["wrong_role"]
        assert "staff role cannot start" in query["lti_errormsg"][0]
    elif outcome == "exam":
        assert response.status_code == 303
        assert response.headers["location"].startswith(EXAM_URL + "#openproctor_token=")
    elif outcome.startswith("dashboard"):
        assert response.status_code == 303
        assert f" · {outcome.split()[1]} · uni-a" in tool.get("/dashboard").text
    else:
        assert response.status_code == 403 and "wrong_role" in response.text


def test_a_malformed_acs_claim_goes_back_to_the_platform(tool, platform, store):
    spec = proctoring(
        "start_proctoring",
        **{AP + "acs": {"assessment_control_url": "javascript:x", "actions": []}},
    )
    response = launch(tool, platform, spec)
    assert response.status_code == 303
    assert parse_qs(urlsplit(response.headers["location"]).query)["lti_errorlog"] == [
        "invalid_claim"
    ]


@pytest.mark.parametrize(
    ("data", "threshold", "flags"),
    [
        ("trust_threshold=0.9;flags_enabled=tab_switch,idle", 0.9, ["idle", "tab_switch"]),
        ('{"trust_threshold": "0.8"}', 0.8, None),
        ("video=on,audio=on", 0.7, None),  # another tool's settings: no policy
    ],
)
def test_proctoring_settings_carry_our_policy(tool, platform, store, data, threshold, flags):
    spec = proctoring("start_proctoring", **{AP + "proctoring_settings": {"data": data}})
    _, student = start(tool, platform, spec)
    policy = store.sessions.get(student.session_id).policy
    assert policy["trust_threshold"] == threshold
    if flags is not None:
        assert sorted(policy["flags_enabled"]) == flags


def test_invalid_proctoring_settings_are_refused_naming_the_setting(tool, platform):
    spec = proctoring(
        "start_proctoring", **{AP + "proctoring_settings": {"data": "trust_threshold=2"}}
    )
    response = launch(tool, platform, spec)
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["lti_errorlog"] == ["invalid_custom_parameter"]
    assert "trust_threshold" in query["lti_errormsg"][0]


def test_an_end_message_without_an_attempt_number_is_refused(tool, platform):
    spec = proctoring("end_assessment")
    response = launch(tool, platform, replace(spec, attempt=None))
    assert response.status_code == 303
    assert parse_qs(urlsplit(response.headers["location"]).query)["lti_errorlog"] == [
        "missing_claim"
    ]


def test_deep_linking_can_opt_the_link_in_to_the_gradebook(tool, platform, store):
    page = launch(
        tool, platform, LaunchSpec(user="teacher-1", roles=[INSTRUCTOR], kind="deep_linking")
    )
    assert 'name="integrity_gradebook"' in page.text
    context = page.text.split('name="context" value="', 1)[1].split('"', 1)[0]
    form = {"context": context, "exam_id": "ALG-7", "title": "Quiz", "duration": "30"}
    answer = tool.post("/lti/deep-linking", data={**form, "integrity_gradebook": "true"})
    assert answer.status_code == 200, answer.text
    _, signed = autopost(answer.text)
    items = platform.deep_link_items(signed, tool.get("/lti/jwks").json())
    assert items[0]["custom"] == {
        "exam_id": "ALG-7",
        "duration": "30",
        "integrity_gradebook": "true",
    }
