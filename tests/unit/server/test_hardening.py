"""The findings of the server review, one test (or a few) each, named after the finding.

Each of these failed before its fix; docs/threat-model.md points here for every class of attack.
"""

from __future__ import annotations

import io
import json
import logging
import re
import stat
import time
from dataclasses import replace
from pathlib import Path

import httpx2 as httpx
import jwt as pyjwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.testclient import TestClient

from openproctor.core import parse_policy
from openproctor.server import Settings, create_app
from openproctor.server.cli import main
from openproctor.server.errors import OpenproctorError
from openproctor.server.evidence import attested_digest
from openproctor.server.observability import EscapeControlCharacters
from openproctor.server.reports import Episode
from openproctor.server.security.outbound import AddressRefused, OutboundError, OutboundGuard
from openproctor.server.storage import Storage
from openproctor.server.storage.audit import AuditLog
from openproctor.server.web import charts
from openproctor.server.web.http import status_of
from openproctor.server.webhooks import SIGNATURE_HEADER, verify_signature

from ...lti_platform import INSTRUCTOR, LaunchSpec
from ...support import free_port
from .conftest import (
    LMS_ORIGIN,
    PASSWORD,
    SECRET,
    StudentClient,
    credential,
    csrf_of,
    launch,
    learner,
    register_platform,
    sign_in,
    start_jwt,
)

# -- 1. a student's own key cannot take the dashboard down -------------------------------------


def test_an_event_stamped_after_the_deadline_is_refused(student, store):
    s = student()
    assert s.post([s.opening()]).status_code == 200
    forged = s.signer.sign(9007199254740991, "heartbeat", {})
    response = s.post([forged])
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "event_after_deadline" and error["seq"] == 1
    row = store.sessions.get(s.session_id)
    assert row.next_seq == 1 and row.status == "active"  # refused, not stored
    limit = error["limit_ms"]  # the deadline (60 min exam) plus the 30 min grace
    assert 89 * 60_000 < limit <= 90 * 60_000 + 1000


def test_the_limit_is_the_deadline_plus_the_grace_period(student, store):
    for over, status in ((0, 200), (1, 422)):
        s = student(f"limit-{over}")
        row = store.sessions.get(s.session_id)
        limit = int((row.deadline - row.started_at + 30 * 60) * 1000)
        opening = s.opening()
        late = s.signer.sign(limit + over, "heartbeat", {})
        assert s.post([opening, late]).status_code == status


def test_a_session_cannot_store_more_events_than_its_cap(app, student, store):
    app.state.openproctor.ingest.max_events = 5
    s = student()
    assert s.post([s.opening(), *s.heartbeats(3)]).status_code == 200
    refused = s.post(s.heartbeats(2))
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "session_event_limit"
    assert refused.json()["error"]["limit"] == 5
    assert store.sessions.get(s.session_id).next_seq == 4


def test_the_timeline_has_bounded_ticks_and_bars_whatever_the_data():
    huge = 9007199254740991
    episodes = [Episode("tab_switch", t, t + 10) for t in range(0, 50_000 * 1000, 1000)]
    svg = str(charts.timeline([(0, 1.0), (huge, 0.5)], episodes, huge, 0.7))
    assert len(re.findall(r" min</text>", svg)) <= 12
    assert svg.count("<rect") <= 400
    assert len(svg) < 100_000


def test_the_event_table_is_paged(app, student, web, accounts):
    s = student()
    opening = s.opening()
    beats = [s.sign("heartbeat", {}, dt=1000) for _ in range(699)]
    assert s.post([opening, *beats[:499]]).status_code == 200
    assert s.post(beats[499:]).status_code == 200
    sign_in(web, "alice")
    first = web.get(f"/dashboard/sessions/{s.session_id}")
    assert first.status_code == 200
    assert first.text.count("<td>heartbeat</td>") == 499
    assert "Events 0 to 499 of 700" in first.text
    second = web.get(f"/dashboard/sessions/{s.session_id}?from=500")
    assert second.text.count("<td>heartbeat</td>") == 200
    assert "Events 500 to 699 of 700" in second.text
    assert web.get(f"/dashboard/sessions/{s.session_id}?from=99999999999").status_code == 200


# -- 2. deep linking may create an exam, not overwrite another's policy -------------------------

TA = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


def _deep_link_form(tool, platform, roles, context="course-42"):
    page = launch(
        tool,
        platform,
        LaunchSpec(user="staff-1", roles=roles, kind="deep_linking", context=context),
    )
    assert page.status_code == 200, page.text
    return page.text.split('name="context" value="', 1)[1].split('"', 1)[0]


def _submit(tool, context, exam_id="ALG-final", **fields):
    form = {
        "context": context,
        "exam_id": exam_id,
        "title": "Final",
        "trust_threshold": "0.6",
        "log_retention_days": "30",
        "duration": "90",
        "flags_enabled": ["tab_switch"],
        **fields,
    }
    return tool.post("/lti/deep-linking", data=form)


def _production(store, exam_id="ALG-final"):
    found = store.policies.current("uni-a", exam_id)
    return found[1], found[2].trust_threshold, found[2].log_retention_days


def test_a_teaching_assistant_cannot_overwrite_an_exams_policy(tool, platform, store):
    assert _submit(tool, _deep_link_form(tool, platform, [INSTRUCTOR])).status_code == 200
    assert _production(store) == (1, 0.6, 30)
    attack = _submit(
        tool,
        _deep_link_form(tool, platform, [TA]),
        trust_threshold="0.01",
        flags_enabled=["idle"],
        log_retention_days="1",
    )
    assert attack.status_code == 400 and 'id="exam_id-error"' in attack.text
    assert "only an administrator or the instructor of its course" in attack.text
    assert _production(store) == (1, 0.6, 30)
    assert store.policies.current("uni-a", "ALG-final", "staging") is None


def test_the_courses_instructor_changes_an_exam_into_staging_and_it_is_audited(
    tool, platform, store
):
    assert _submit(tool, _deep_link_form(tool, platform, [INSTRUCTOR])).status_code == 200
    change = _submit(tool, _deep_link_form(tool, platform, [INSTRUCTOR]), trust_threshold="0.5")
    assert change.status_code == 200, change.text
    assert _production(store) == (1, 0.6, 30)  # promotion is a separate step
    staging = store.policies.current("uni-a", "ALG-final", "staging")
    assert staging is not None and staging[2].trust_threshold == 0.5
    entries = AuditLog(store.engine).entries("uni-a")
    assert [e["action"] for e in entries] == ["policy.staged", "exam.created"]
    assert entries[0]["target"] == "exam:ALG-final" and "instructor" in entries[0]["actor"]
    assert entries[0]["detail"]["previous_version"] == 1


def test_an_instructor_of_another_course_cannot_change_the_exam(tool, platform, store):
    assert _submit(tool, _deep_link_form(tool, platform, [INSTRUCTOR])).status_code == 200
    other = _deep_link_form(tool, platform, [INSTRUCTOR], context="course-other")
    refused = _submit(tool, other, trust_threshold="0.01")
    assert refused.status_code == 400 and 'id="exam_id-error"' in refused.text
    assert '<option value="ALG-final"' not in refused.text  # not offered to another course
    assert _production(store) == (1, 0.6, 30)


def test_an_institution_administrator_may_stage_any_exam(tool, platform, store):
    assert _submit(tool, _deep_link_form(tool, platform, [INSTRUCTOR])).status_code == 200
    admin = _deep_link_form(tool, platform, [LIS + "institution/person#Administrator"], "elsewhere")
    assert _submit(tool, admin, trust_threshold="0.4").status_code == 200
    assert store.policies.current("uni-a", "ALG-final", "staging")[2].trust_threshold == 0.4


# -- 8. LTI roles: exact administrator URIs, course-scoped instructors ------------------------


@pytest.mark.parametrize(
    ("roles", "status", "role"),
    [
        (["urn:x:anything#Administrator"], 403, None),
        ([LIS + "membership#Administrator"], 303, "instructor"),
        ([TA], 303, "assistant"),
        ([LIS + "system/person#Administrator"], 303, "admin"),
        ([INSTRUCTOR], 303, "instructor"),
    ],
)
def test_lti_roles_map_exactly(tool, platform, store, roles, status, role):
    response = launch(tool, platform, LaunchSpec(user="staff-1", roles=roles))
    assert response.status_code == status, response.text
    if role is not None:
        page = tool.get("/dashboard")
        assert f" · {role} · uni-a" in page.text


def test_an_instructor_of_an_unrelated_course_reads_nothing_of_another_courses_exam(
    tool, platform, store
):
    assert _submit(tool, _deep_link_form(tool, platform, [INSTRUCTOR])).status_code == 200
    launch(tool, platform, LaunchSpec(user="other", roles=[INSTRUCTOR], context="course-other"))
    assert tool.get("/dashboard/policies/ALG-final").status_code == 404
    assert "ALG-final" not in tool.get("/dashboard/policies").text
    assert "ALG-final" not in tool.get("/dashboard/reports").text


def test_accommodations_are_shown_to_admins_and_the_courses_instructors_only(
    tool, platform, store, web, accounts
):
    policy = parse_policy(
        {
            "exam_id": "ALG-final",
            "accommodations": {"cand-991": {"exempt_flags": ["focus_loss"], "note": "dyslexia"}},
        }
    )
    store.policies.save("uni-a", policy, "test", context_id="course-42")
    launch(tool, platform, LaunchSpec(user="teacher", roles=[INSTRUCTOR]))
    assert "dyslexia" in tool.get("/dashboard/policies/ALG-final").text
    launch(tool, platform, LaunchSpec(user="assistant", roles=[TA]))
    assert "dyslexia" not in tool.get("/dashboard/policies/ALG-final").text
    sign_in(web, "alice")  # a local reviewer
    page = web.get("/dashboard/policies/ALG-final")
    assert page.status_code == 200 and "dyslexia" not in page.text and "cand-991" not in page.text
    sign_in(web, "ada")  # an administrator
    assert "dyslexia" in web.get("/dashboard/policies/ALG-final").text


def test_a_course_instructor_edits_and_promotes_on_the_dashboard_an_assistant_does_not(
    tool, platform, store
):
    store.policies.save(
        "uni-a", parse_policy({"exam_id": "ALG-final"}), "t", context_id="course-42"
    )
    launch(tool, platform, LaunchSpec(user="assistant", roles=[TA]))
    page = tool.get("/dashboard/policies/ALG-final")
    assert 'id="save"' not in page.text
    form = {
        "csrf": csrf_of(page.text),
        "trust_threshold": "0.5",
        "log_retention_days": "30",
        "heartbeat_seconds": "15",
        "flags_enabled": ["tab_switch"],
    }
    assert tool.post("/dashboard/policies/ALG-final", data=form).status_code == 403
    launch(tool, platform, LaunchSpec(user="teacher", roles=[INSTRUCTOR]))
    page = tool.get("/dashboard/policies/ALG-final")
    form["csrf"] = csrf_of(page.text)
    saved = tool.post("/dashboard/policies/ALG-final", data=form, follow_redirects=False)
    assert saved.status_code == 303
    staging = store.policies.current("uni-a", "ALG-final", "staging")
    promoted = tool.post(
        "/dashboard/policies/ALG-final/promote",
        data={"csrf": form["csrf"], "version": str(staging[1])},
        follow_redirects=False,
    )
    assert promoted.status_code == 303
    assert store.policies.current("uni-a", "ALG-final")[2].trust_threshold == 0.5


# -- 11. a link's exam_url receives the session token: only registered origins ---------------


def test_a_custom_exam_url_elsewhere_is_refused(tool, platform, store):
    response = launch(
        tool, platform, learner(custom={"exam_url": "https://attacker.example/steal"})
    )
    assert response.status_code == 403 and "exam_url_not_allowed" in response.text
    assert "#openproctor_token" not in response.headers.get("location", "")
    allowed = launch(tool, platform, learner(user="l2", custom={"exam_url": LMS_ORIGIN + "/q/1"}))
    assert allowed.status_code == 303
    assert allowed.headers["location"].startswith(LMS_ORIGIN + "/q/1#openproctor_token=")


def test_deep_linking_refuses_an_exam_url_elsewhere(tool, platform):
    response = _submit(
        tool,
        _deep_link_form(tool, platform, [INSTRUCTOR]),
        exam_url="https://attacker.example/steal",
    )
    assert response.status_code == 400 and 'id="exam_url-error"' in response.text


# -- 3. reviewer sessions are revoked on the server -----------------------------------------


def test_a_removed_reviewers_cookie_stops_working_at_once(web, accounts):
    assert sign_in(web, "ada").status_code == 303
    assert web.get("/dashboard/webhooks").status_code == 200  # an admin page
    accounts.remove("ada")
    for path in ("/dashboard/webhooks", "/dashboard"):
        response = web.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/dashboard/login"


def test_a_cookie_copied_before_sign_out_is_dead_after_it(app, web, accounts):
    sign_in(web, "alice")
    copied = web.cookies.get("openproctor_reviewer")
    with TestClient(app, base_url="https://testserver") as thief:
        thief.cookies.set("openproctor_reviewer", copied)
        assert thief.get("/dashboard").status_code == 200
        page = web.get("/dashboard")
        web.post("/dashboard/logout", data={"csrf": csrf_of(page.text)})
        replay = thief.get("/dashboard", follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"] == "/dashboard/login"


def test_a_role_change_applies_to_open_sessions(web, accounts, store):

    from openproctor.server.storage import schema

    sign_in(web, "ada")
    assert web.get("/dashboard/webhooks").status_code == 200
    with store.engine.begin() as conn:
        r = schema.reviewers
        conn.execute(r.update().where(r.c.username == "ada").values(role="reviewer"))
    assert web.get("/dashboard/webhooks").status_code == 403


# -- 4. the sign-in throttle cannot be raced, and does not lock out a whole address -----------


def test_parallel_wrong_passwords_are_reserved_before_hashing(accounts, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from openproctor.server import reviewers

    checked = []
    real = reviewers.check_password
    monkeypatch.setattr(reviewers, "check_password", lambda p, h: checked.append(1) or real(p, h))

    def attempt(_: int) -> str:
        try:
            accounts.authenticate("alice", "wrong password!", "203.0.113.9")
        except OpenproctorError as exc:
            return str(status_of(exc))
        return "checked"

    with ThreadPoolExecutor(25) as pool:
        outcomes = list(pool.map(attempt, range(25)))
    assert len(checked) <= reviewers.PAIR_LIMIT
    assert outcomes.count("checked") == len(checked)
    assert all(o in ("checked", "429", "503") for o in outcomes)
    with pytest.raises(OpenproctorError) as locked:
        accounts.authenticate("alice", PASSWORD, "203.0.113.9")
    assert status_of(locked.value) == 429


def test_failures_for_other_usernames_do_not_lock_out_a_reviewer(accounts):
    for name in ("mallory", "eve", "trent", "oscar", "peggy", "victor"):
        assert accounts.authenticate(name, "guess guess guess", "198.51.100.7") is None
    assert accounts.authenticate("alice", PASSWORD, "198.51.100.7") is not None


def test_an_address_has_a_softer_limit_of_its_own(accounts, monkeypatch):
    from openproctor.server import reviewers

    monkeypatch.setattr(reviewers, "CLIENT_LIMIT", 8)
    for n in range(8):
        assert accounts.authenticate(f"user{n}", "guess guess guess", "192.0.2.1") is None
    with pytest.raises(OpenproctorError) as locked:
        accounts.authenticate("alice", PASSWORD, "192.0.2.1")
    assert status_of(locked.value) == 429
    assert accounts.authenticate("alice", PASSWORD, "192.0.2.2") is not None


# -- 5. and 6. one address guard for every call out ------------------------------------------


class Resolver:
    """A resolver answering from a script: the first answer, then the next, ..."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_the_guard_connects_to_the_address_it_checked(monkeypatch):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    rebinding = Resolver(["93.184.216.34"], ["127.0.0.1"])  # public for the check, then local
    guard = OutboundGuard(resolver=rebinding, transport=httpx.MockTransport(handler))
    assert (
        guard.request("POST", "https://hooks.example.org/x?y=1", content=b"{}").status_code == 204
    )
    (request,) = seen
    assert request.url.host == "93.184.216.34" and request.url.path == "/x"
    assert request.url.query == b"y=1"
    assert request.headers["host"] == "hooks.example.org"
    assert request.extensions["sni_hostname"] == "hooks.example.org"
    assert rebinding.calls == 1


@pytest.mark.parametrize(
    ("url", "answers", "reason"),
    [
        ("http://127.0.0.1:9/x", [], "private or local"),
        ("http://[::1]:9/x", [], "private or local"),
        ("http://[::ffff:127.0.0.1]/x", [], "private or local"),
        ("http://10.0.0.8/x", [], "private or local"),
        ("http://169.254.169.254/latest", [], "private or local"),
        ("https://inside.example/x", [["10.1.2.3"]], "private or local"),
        ("https://mixed.example/x", [["93.184.216.34", "127.0.0.1"]], "private or local"),
        ("https://nowhere.example/x", [[]], "does not resolve"),
        ("ftp://files.example/x", [["93.184.216.34"]], "only http and https"),
        ("https://user:pw@hooks.example/x", [["93.184.216.34"]], "credentials"),
    ],
)
def test_the_guard_refuses_what_it_must(url, answers, reason):
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    resolver = Resolver(*(answers or [["93.184.216.34"]]))
    guard = OutboundGuard(resolver=resolver, transport=httpx.MockTransport(handler))
    with pytest.raises(AddressRefused) as refused:
        guard.request("GET", url)
    assert reason in refused.value.reason


def test_the_guard_never_follows_a_redirect_and_bounds_the_answer():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/big":
            return httpx.Response(200, content=b"x" * 2000)
        return httpx.Response(302, headers={"location": "http://127.0.0.1/admin"})

    guard = OutboundGuard(
        resolver=Resolver(["93.184.216.34"]), transport=httpx.MockTransport(handler), max_bytes=1000
    )
    assert guard.request("GET", "https://a.example/").status_code == 302
    with pytest.raises(OutboundError, match="exceeds 1000 bytes"):
        guard.request("GET", "https://a.example/big")


def test_a_webhook_reaches_its_pinned_address_over_a_real_connection(app, store, integration):
    from ...support import Receiver

    receiver = Receiver()
    try:
        port = receiver.server.server_address[1]
        state = app.state.openproctor
        guard = OutboundGuard(allow_private=True, resolver=Resolver(["127.0.0.1"]))
        sender = replace(state.webhook_sender, guard=guard)
        state.webhooks.add("uni-a", f"http://receiver.test:{port}/hook", None, "test")
        _flag(app)
        assert sender.deliver_due()["delivered"] == 1
        headers, _ = receiver.requests[0]
        assert headers["host"] == f"receiver.test:{port}"
    finally:
        receiver.close()


def test_a_webhook_to_a_rebinding_or_unresolvable_name_is_refused(app, store, integration):
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    state = app.state.openproctor
    state.webhooks.add("uni-a", "https://rebind.example/hook", None, "test")
    state.webhooks.add("uni-a", "https://gone.example/hook", None, "test")
    answers = {"rebind.example": ["127.0.0.1"], "gone.example": []}
    guard = OutboundGuard(resolver=lambda h, p: answers[h], transport=httpx.MockTransport(handler))
    _flag(app)
    assert replace(state.webhook_sender, guard=guard).deliver_due()["retrying"] == 2
    errors = {d["url"]: d["last_error"] for d in state.webhooks.deliveries("uni-a")}
    assert "private or local" in errors["https://rebind.example/hook"]
    assert "does not resolve" in errors["https://gone.example/hook"]


def test_the_webhook_signature_covers_the_delivery_id(app, store, integration):
    from ...support import Receiver

    receiver = Receiver()
    try:
        state = app.state.openproctor
        _, secret = state.webhooks.add("uni-a", receiver.url, None, "test")
        _flag(app)
        state.webhook_sender.deliver_due()
        headers, body = receiver.requests[0]
        signature = headers[SIGNATURE_HEADER]
        assert f"id={headers['openproctor-delivery']}," in signature
        assert verify_signature(secret, signature, body)
        other = signature.replace(f"id={headers['openproctor-delivery']},", "id=999,")
        assert not verify_signature(secret, other, body)
    finally:
        receiver.close()


def _flag(app) -> None:
    with TestClient(app) as client:
        grant = client.post(
            "/api/v1/sessions", json={"integrationName": "lms1", "jwt": start_jwt("flag-1")}
        ).json()
        s = StudentClient(client, grant)
        events = [s.opening()]
        events += [s.sign("tab_switch", {"duration_ms": 60_000, "count": 1}) for _ in range(6)]
        assert s.post(events).status_code == 200


def _kid_launch(tool, platform):
    import jwt as pyjwt

    def change(form):
        claims = pyjwt.decode(form["id_token"], options={"verify_signature": False})
        token = pyjwt.encode(claims, platform.private_pem, "RS256", headers={"kid": "unknown"})
        return {**form, "id_token": token}

    return launch(tool, platform, learner(), change)


@pytest.mark.parametrize("listening", [True, False])
def test_an_lti_key_set_on_a_private_address_is_never_fetched(
    app, store, integration, platform, listening
):
    from ...lti_platform import serve_jwks

    with serve_jwks(platform) as (url, fetches):
        if not listening:
            url = f"http://127.0.0.1:{free_port()}/jwks"  # a closed port
        state = app.state.openproctor
        state.platform_keys.guard = OutboundGuard(allow_private=False)
        register_platform(store, integration, platform, url, exam_url=LMS_ORIGIN + "/exam")
        with TestClient(app, base_url="https://testserver") as tool:
            response = _kid_launch(tool, platform)
        assert response.status_code == 502
        assert '<code id="error-code">platform_keys_unavailable</code>' in response.text
        assert fetches[0] == 0


@pytest.mark.parametrize(
    "body", [b"<html>not json</html>", b'{"keys": []}', b'{"keys": "x"}', b"\xff\xfe", b"[]"]
)
def test_an_unusable_key_set_is_a_clear_lti_error(app, store, integration, platform, body):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    state = app.state.openproctor
    state.platform_keys.guard = OutboundGuard(
        resolver=Resolver(["93.184.216.34"]), transport=httpx.MockTransport(handler)
    )
    register_platform(
        store, integration, platform, "https://keys.example/jwks", exam_url=LMS_ORIGIN + "/exam"
    )
    with TestClient(app, base_url="https://testserver") as tool:
        response = _kid_launch(tool, platform)
    assert response.status_code == 502, response.text
    assert '<code id="error-code">platform_keys_unavailable</code>' in response.text


# -- 7. openproctor verify attests every field and says when the server was not checked -----


@pytest.fixture
def bundle_and_keys(student, client):
    s = student()
    events = [s.opening(), s.sign("tab_switch", {"duration_ms": 2000, "count": 1})]
    events.append(s.end())
    assert s.post(events).status_code == 200
    bundle = client.get(s.grant["record_url"].replace("?", "/evidence.json?", 1)).json()
    return bundle, client.get("/lti/jwks").json()


def _run_verify(tmp_path, bundle, *extra, capsys):
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    code = main(["verify", str(path), *extra])
    return code, capsys.readouterr().out


def test_a_bundle_fabricated_with_its_own_key_is_not_verified(bundle_and_keys, tmp_path, capsys):
    bundle, server_jwks = bundle_and_keys
    kid = server_jwks["keys"][0]["kid"]
    fake = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = pyjwt.decode(bundle["attestation"], options={"verify_signature": False})
    made_up = {**bundle, "server_result": {**bundle["server_result"], "score_milli": 1000}}
    claims.update(score_milli=1000, bundle_sha256=attested_digest(made_up))
    made_up["attestation"] = pyjwt.encode(claims, fake, "RS256", headers={"kid": kid})
    public = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(fake.public_key()))
    made_up["attestation_keys"] = {"keys": [{**public, "kid": kid, "alg": "RS256"}]}
    code, out = _run_verify(tmp_path, made_up, capsys=capsys)
    assert code == 1  # the score no longer matches the log
    made_up["server_result"] = bundle["server_result"]
    claims.update(score_milli=bundle["server_result"]["score_milli"])
    claims["bundle_sha256"] = attested_digest(made_up)
    made_up["attestation"] = pyjwt.encode(claims, fake, "RS256", headers={"kid": kid})
    code, out = _run_verify(tmp_path, made_up, capsys=capsys)
    assert code == 3 and "THE SERVER'S IDENTITY WAS NOT CHECKED" in out
    jwks = tmp_path / "server-jwks.json"
    jwks.write_text(json.dumps(server_jwks))
    code, out = _run_verify(tmp_path, made_up, "--jwks", str(jwks), capsys=capsys)
    assert code == 1 and "NOT VERIFIED" in out


@pytest.mark.parametrize(
    "edit",
    [
        lambda b: b["server_result"].update(status="finished_ok"),
        lambda b: b["server_result"].update(integrity_reason="bad_mac: forged"),
        lambda b: b["server_result"]["breakdown"].clear(),
        lambda b: b["exam"].update(name="Another exam"),
        lambda b: b.update(policy_version=7),
        lambda b: b.update(started_at=b["started_at"] - 3600),
        lambda b: b.update(finished_at=None),
    ],
)
def test_every_field_of_the_bundle_is_attested(bundle_and_keys, tmp_path, capsys, edit):
    bundle, server_jwks = bundle_and_keys
    jwks = tmp_path / "server-jwks.json"
    jwks.write_text(json.dumps(server_jwks))
    assert _run_verify(tmp_path, bundle, "--jwks", str(jwks), capsys=capsys)[0] == 0
    edit(bundle)
    code, out = _run_verify(tmp_path, bundle, "--jwks", str(jwks), capsys=capsys)
    assert code == 1 and "does not match this bundle (bundle_sha256)" in out


def test_verify_shows_the_servers_integrity_verdict(student, client, tmp_path, capsys):
    s = student()
    assert s.post([s.opening()]).status_code == 200
    forged = s.sign("heartbeat", {}).to_dict()
    forged["t"] += 1
    assert s.post([forged]).status_code == 422
    bundle = client.get(s.grant["record_url"].replace("?", "/evidence.json?", 1)).json()
    jwks = tmp_path / "server-jwks.json"
    jwks.write_text(client.get("/lti/jwks").text)
    code, out = _run_verify(tmp_path, bundle, "--jwks", str(jwks), capsys=capsys)
    assert code == 0
    assert "the server's verdict: integrity failed" in out and "INTEGRITY FAILED: bad_mac" in out


# -- 9. integration secrets rotate, and stored secrets move to a new master key ---------------


def test_an_integration_secret_rotates_with_a_grace_period(client, integration, store, capsys):
    app_keyring = client.app.state.openproctor.keyring
    new_secret = "rotated-secret-" + "x" * 32
    store.integrations.rotate_secret("lms1", app_keyring.encrypt(new_secret), 3600, actor="test")
    old = client.post(
        "/api/v1/sessions", json={"integrationName": "lms1", "jwt": start_jwt("rot-old")}
    )
    assert old.status_code == 201  # the LMS backend has a grace period to switch
    new = client.post(
        "/api/v1/sessions",
        json={"integrationName": "lms1", "jwt": start_jwt("rot-new", secret=new_secret)},
    )
    assert new.status_code == 201
    status = client.get(
        f"/api/v1/sessions/{new.json()['session_id']}",
        headers={"authorization": f"Bearer {credential(secret=new_secret)}"},
    )
    assert status.status_code == 200
    store.integrations.rotate_secret("lms1", app_keyring.encrypt(new_secret + "2"), 0, actor="t")
    late = client.post(
        "/api/v1/sessions", json={"integrationName": "lms1", "jwt": start_jwt("rot-late")}
    )
    assert late.status_code == 401 and late.json()["error"]["code"] == "bad_signature"
    actions = [e["action"] for e in AuditLog(store.engine).entries("uni-a")]
    assert actions.count("integration.secret_rotated") == 2


def test_the_rotate_secret_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENPROCTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'r.sqlite3'}")
    monkeypatch.setenv("OPENPROCTOR_SECRET_FILE", str(tmp_path / "secret.key"))
    monkeypatch.delenv("OPENPROCTOR_SECRET_KEYS", raising=False)
    assert main(["integration", "add", "lms", "--institution", "uni-a"]) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["integration", "rotate-secret", "lms", "--grace-hours", "48"]) == 0
    out = capsys.readouterr().out
    second = out.strip().splitlines()[-1]
    assert second != first and len(second) >= 32 and "(48 h)" in out
    assert main(["integration", "rotate-secret", "nope"]) == 1
    with pytest.raises(SystemExit, match="--grace-hours must be from 0 to 720"):
        main(["integration", "rotate-secret", "lms", "--grace-hours", "9999"])


def test_rekey_moves_every_stored_secret_to_the_newest_master_key(tmp_path, monkeypatch, capsys):
    old, new = "o" * 43, "n" * 43
    monkeypatch.setenv("OPENPROCTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'k.sqlite3'}")
    monkeypatch.setenv("OPENPROCTOR_SECRET_KEYS", old)
    assert main(["integration", "add", "lms", "--institution", "uni-a", "--secret", SECRET]) == 0
    assert main(["webhook", "add", "https://hooks.uni-a.edu/x", "--institution", "uni-a"]) == 0
    assert main(["lti", "rotate-key"]) == 0
    monkeypatch.setenv("OPENPROCTOR_SECRET_KEYS", f"{new},{old}")
    assert main(["rekey"]) == 0
    assert (
        "1 integration secret(s), 1 webhook secret(s) and 1 tool key(s)" in capsys.readouterr().out
    )
    monkeypatch.setenv("OPENPROCTOR_SECRET_KEYS", new)  # the old master key is gone
    settings = Settings.from_env(secret_file=tmp_path / "unused")
    app = create_app(settings, migrate=True, purge_every=None)
    with TestClient(app) as client:
        started = client.post(
            "/api/v1/sessions", json={"integrationName": "lms", "jwt": start_jwt("rekeyed")}
        )
        assert started.status_code == 201, started.text
        assert client.get("/lti/jwks").json()["keys"]
        hook = app.state.openproctor.webhooks.claim_due(0)  # nothing due: decrypt on demand
        assert hook == []
        (row,) = (
            app.state.openproctor.store.engine.connect()
            .execute(sa.text("SELECT secret_enc FROM webhooks"))
            .all()
        )
        assert app.state.openproctor.keyring.decrypt(bytes(row[0])).startswith("whsec_")
    entries = AuditLog(app.state.openproctor.store.engine).entries()
    assert any(e["action"] == "secrets.reencrypted" for e in entries)


# -- 10. the reachable 500s of the review, each now a 4xx naming the problem -----------------


def _hs256(claims: dict, secret: str = SECRET, **header) -> str:
    import base64

    def part(value) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing = f"{part({'alg': 'HS256', 'typ': 'JWT', **header})}.{part(claims)}"
    mac = pyjwt.get_algorithm_by_name("HS256").sign(signing.encode(), secret.encode())
    return signing + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "header", [{"crit": ["exp"]}, {"kid": 7}, {"kid": {"a": 1}}, {"crit": "b64"}]
)
def test_hostile_jwt_headers_are_refused_not_crashed_on(client, integration, header):
    claims = pyjwt.decode(start_jwt("h-1"), options={"verify_signature": False})
    response = client.post(
        "/api/v1/sessions", json={"integrationName": "lms1", "jwt": _hs256(claims, **header)}
    )
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"]["code"] in ("malformed_jwt", "wrong_algorithm")


@pytest.mark.parametrize("claim", ["userId", "examName", "sessionId", "firstName", "courseName"])
@pytest.mark.parametrize("value", ["bad\ud800", "nul\x00", "x" * 600])
def test_hostile_text_in_claims_is_a_clear_400(client, integration, claim, value):
    claims = pyjwt.decode(start_jwt("t-1"), options={"verify_signature": False})
    response = client.post(
        "/api/v1/sessions",
        json={"integrationName": "lms1", "jwt": _hs256({**claims, claim: value})},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["claim"] == claim


def test_a_string_exp_on_the_integrator_credential_is_refused(client, student):
    s = student()
    now = int(time.time())
    token = _hs256({"iss": "lms1", "iat": now, "exp": "9" * 20})
    response = client.get(
        f"/api/v1/sessions/{s.session_id}", headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_credential"


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("sub", "s" * 300),
        ("sub", "bad\ud800"),
        ("https://purl.imsglobal.org/spec/lti/claim/context", {"id": "c" * 300}),
        ("https://purl.imsglobal.org/spec/lti/claim/resource_link", {"id": "nul\x00"}),
        ("https://purl.imsglobal.org/spec/lti-ap/claim/attempt_number", "2"),
    ],
)
def test_hostile_lti_identifiers_are_a_clear_error_page(tool, platform, claim, value):
    def change(form):
        claims = pyjwt.decode(form["id_token"], options={"verify_signature": False})
        claims[claim] = value
        token = pyjwt.encode(
            claims, platform.private_pem, "RS256", headers={"kid": "platform-key-1"}
        )
        return {**form, "id_token": token}

    response = launch(tool, platform, learner(), change)
    assert response.status_code == 400, response.text
    assert '<code id="error-code">invalid_claim</code>' in response.text


def test_hostile_lti_header_kid_is_a_clear_error_page(tool, platform):
    def change(form):
        claims = pyjwt.decode(form["id_token"], options={"verify_signature": False})
        import base64

        head = base64.urlsafe_b64encode(b'{"alg":"RS256","kid":5}').rstrip(b"=").decode()
        rest = pyjwt.encode(claims, platform.private_pem, "RS256").split(".", 1)[1]
        return {**form, "id_token": f"{head}.{rest}"}

    response = launch(tool, platform, learner(), change)
    assert response.status_code == 400
    assert '<code id="error-code">malformed_id_token</code>' in response.text


def test_nul_in_a_decision_comment_or_a_url_is_refused(web, accounts, student):
    s = student()
    s.post([s.opening()])
    sign_in(web, "ada")
    page = web.get(f"/dashboard/sessions/{s.session_id}")
    form = {"csrf": csrf_of(page.text), "outcome": "cleared", "comment": "fine\x00"}
    response = web.post(f"/dashboard/sessions/{s.session_id}/decisions", data=form)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_text"
    assert web.get("/dashboard?exam=a%00b").status_code == 400
    assert web.get("/dashboard/sessions/ops_%00").status_code == 400


def test_a_reviewer_name_longer_than_its_column_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENPROCTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'n.sqlite3'}")
    monkeypatch.setenv("OPENPROCTOR_SECRET_FILE", str(tmp_path / "secret.key"))
    monkeypatch.delenv("OPENPROCTOR_SECRET_KEYS", raising=False)
    assert main(["integration", "add", "lms", "--institution", "uni-a"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    code = main(["reviewer", "add", "r" * 255, "--institution", "uni-a", "--password-stdin"])
    assert code == 1 and "at most 100 characters" in capsys.readouterr().err


# -- 12. one institution cannot break or probe another's LTI registrations ------------------


def test_another_institution_registering_the_same_issuer_learns_nothing_and_breaks_nothing(
    tool, platform, store, web, accounts
):
    mine = store.lti.find_registration(platform.issuer, platform.client_id)
    sign_in(web, "bob")  # uni-b's administrator
    page = web.get("/dashboard/lti")
    form = {
        "csrf": csrf_of(page.text),
        "integration": "lms-b",
        "issuer": platform.issuer,
        "client_id": platform.client_id,
        "deployment_ids": platform.deployment_id,
        "auth_url": platform.base + "/auth",
        "jwks_url": "https://keys.example/jwks",
    }
    added = web.post("/dashboard/lti", data=form, follow_redirects=False)
    assert added.status_code == 303  # no 409: nothing says uni-a has this platform
    again = web.post("/dashboard/lti", data=form)
    assert again.status_code == 409 and "this integration already has" in again.text
    # uni-a's platform uses its registration's own login URL: unaffected.
    spec = learner(user="still-works")
    url = platform.login_url(spec).replace("/lti/login?", f"/lti/login/{mine.id}?")
    started = tool.get(url, follow_redirects=False)
    assert started.status_code == 302
    data = platform.authorize(started.headers["location"])
    response = tool.post(
        "/lti/launch",
        data={"id_token": data["id_token"], "state": data["state"]},
        follow_redirects=False,
    )
    assert response.status_code == 303 and "#openproctor_token=" in response.headers["location"]
    # The shared URL cannot choose, and says what to do.
    shared = tool.get(platform.login_url(learner(user="x")), follow_redirects=False)
    assert shared.status_code == 400 and "ambiguous_platform" in shared.text
    assert "/lti/login/ID" in shared.text


def test_a_registrations_login_url_accepts_only_its_own_platform(tool, platform, store):
    mine = store.lti.find_registration(platform.issuer, platform.client_id)
    url = platform.login_url(learner()).replace("/lti/login?", f"/lti/login/{mine.id}?")
    wrong = url.replace("iss=https%3A%2F%2Flms.example.edu", "iss=https%3A%2F%2Fevil.example")
    assert wrong != url
    response = tool.get(wrong, follow_redirects=False)
    assert response.status_code == 403 and "unknown_platform" in response.text
    assert tool.get(url.replace(f"/lti/login/{mine.id}?", "/lti/login/999?")).status_code == 403


# -- 13. the SQLite database and its WAL are readable by their owner only -------------------


def test_the_sqlite_files_are_owner_only(tmp_path):
    database = tmp_path / "db" / "openproctor.sqlite3"
    store = Storage(f"sqlite:///{database}")
    store.migrate()
    store.integrations.add("lms", "uni-a", b"x", [])
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        assert path.exists(), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    store.close()


def test_an_existing_world_readable_database_is_tightened(tmp_path, caplog):
    database = tmp_path / "old.sqlite3"
    database.touch(mode=0o644)
    database.chmod(0o644)
    Storage(f"sqlite:///{database}").close()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert "now owner-only" in caplog.text


# -- 14. a logged value cannot forge a log line ---------------------------------------------


def test_control_characters_in_logged_values_are_escaped(tmp_path):
    from .test_processes import register, server

    database_url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    secret_file = tmp_path / "secret.key"
    register(database_url, secret_file)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    forged = "2026-12-02 09:00:00 INFO openproctor.server forged line"
    env = {"OPENPROCTOR_LOG_LEVEL": "info"}
    with server(database_url, secret_file, port, env, log_level="info"):
        answer = httpx.post(
            f"{base}/lti/launch",
            data={"error": "x", "error_description": f"\n{forged}\r\n"},
            timeout=10,
        )
        assert answer.status_code == 400
        assert httpx.get(f"{base}/healthz%0A{forged.replace(' ', '%20')}", timeout=10).status_code
    printed = (tmp_path / f"server-{port}.log").read_text()
    assert "platform_error" in printed  # the refusal was logged ...
    lines = printed.splitlines()
    assert not any(line.startswith("2026-12-02 09:00:00") for line in lines)  # ... on one line
    assert "\\n2026-12-02 09:00:00 INFO" in printed and "forged line\\r\\n" in printed


def test_the_log_filter_escapes_every_control_character():
    record = logging.LogRecord("x", logging.INFO, "f", 1, "a %s\n", ("b\x1b[2J\u2028c",), None)
    EscapeControlCharacters().filter(record)
    assert record.getMessage() == "a b\\x1b[2J\\u2028c\\n"


# -- 15. what a proctoring service is expected to send and refuse ---------------------------


def test_every_response_says_nosniff_and_https_ones_hsts(app, client, web):
    for response in (
        client.get("/healthz"),
        client.get("/nowhere"),
        client.post("/api/v1/sessions", content=b"{", headers={"content-type": "application/json"}),
        client.get("/static/app.css"),
        client.get("/lti/jwks"),
        client.get("/sdk/v1/loader.js"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff", response.url
        assert "strict-transport-security" not in response.headers
    secure = web.get("/dashboard/login")
    assert secure.headers["strict-transport-security"].startswith("max-age=31536000")


def test_urls_and_the_attestation_issuer_never_come_from_the_host_header(
    settings, store, integration
):
    public = "https://proctor.uni-a.edu"
    app = create_app(replace(settings, public_origin=public), store=store, purge_every=None)
    with TestClient(app, base_url="https://evil.example") as evil:
        assert evil.get("/lti/config.json").json()["oidc_initiation_url"] == public + "/lti/login"
        s = StudentClient(
            evil,
            evil.post(
                "/api/v1/sessions", json={"integrationName": "lms1", "jwt": start_jwt("h-1")}
            ).json(),
        )
        s.post([s.opening(), s.end()])
        bundle = evil.get(s.grant["record_url"].replace("?", "/evidence.json?", 1)).json()
    claims = pyjwt.decode(bundle["attestation"], options={"verify_signature": False})
    assert claims["iss"] == public and "evil.example" not in json.dumps(bundle)


def test_serve_refuses_to_start_without_a_public_origin(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENPROCTOR_DATABASE_URL", f"sqlite:///{tmp_path / 's.sqlite3'}")
    monkeypatch.delenv("OPENPROCTOR_PUBLIC_ORIGIN", raising=False)
    with pytest.raises(SystemExit, match="public origin"):
        main(["serve", "--secret-file", str(tmp_path / "k")])
    with pytest.raises(SystemExit, match="must look like"):
        main(
            [
                "serve",
                "--public-origin",
                "https://x.example/path",
                "--secret-file",
                str(tmp_path / "k"),
            ]
        )


def test_metrics_answer_only_locally_or_with_the_token(settings, store, client):
    assert client.get("/metrics").status_code == 200  # this machine, directly
    proxied = client.get("/metrics", headers={"x-forwarded-for": "203.0.113.7"})
    assert proxied.status_code == 403 and proxied.json()["error"]["code"] == "metrics_not_public"
    app = create_app(replace(settings, metrics_token="m" * 32), store=store, purge_every=None)
    with TestClient(app) as scraper:
        assert scraper.get("/metrics").status_code == 401
        wrong = scraper.get("/metrics", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = scraper.get("/metrics", headers={"authorization": "Bearer " + "m" * 32})
        assert ok.status_code == 200 and "openproctor_request_seconds" in ok.text
