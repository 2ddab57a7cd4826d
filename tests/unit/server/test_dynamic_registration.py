"""LTI Dynamic Registration against platform sides scripted from ../shared/LTI-NOTES.md
(tests/lti_services.py): Moodle's (messages as strings, a single-use token, plain-text errors,
a deployment id in the answer), Canvas's (the token on the configuration's fetch, messages as
objects, unknown scopes or messages refused, narrowed scopes, no deployment id) and a
proctoring platform's; then the registered platform launches (lti1p3platform)."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from openproctor.server.cli import main
from openproctor.server.storage import schema

from ...lti_services import ACS_SCOPE, RegisteringPlatform, serve
from .conftest import EXAM_URL, TOOL, csrf_of, launch, learner, sign_in

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"


@pytest.fixture
def tool(app) -> Iterator[TestClient]:
    app.state.openproctor.platform_keys.refetch_cooldown = 0
    with TestClient(app, base_url=TOOL) as client:
        yield client


def lms(flavour: str, platform, jwks_server, **options) -> RegisteringPlatform:
    return RegisteringPlatform(
        flavour,
        platform.issuer,
        jwks_server[0],
        client_id=platform.client_id,
        deployment_id=options.pop("deployment_id", platform.deployment_id),
        authorization_endpoint=platform.base + "/auth",
        **options,
    )


def registration_url(app, accounts, integration, exam_url: str = "") -> str:
    """The administrator makes the URL on the dashboard (shown once)."""
    web = TestClient(app, base_url=TOOL)
    sign_in(web, "ada")
    page = web.get("/dashboard/lti")
    made = web.post(
        "/dashboard/lti/registration-url",
        data={"csrf": csrf_of(page.text), "link_integration": "lms1", "link_exam_url": exam_url},
    )
    assert made.status_code == 201, made.text
    return re.search(r'id="registration-url">([^<]+)<', made.text).group(1)


def opened_by(tool, url: str, side: RegisteringPlatform, token: str | None = None):
    """The LMS opens the URL with its configuration and token."""
    query = {"openid_configuration": side.configuration_url}
    query["registration_token"] = side.token if token is None else token
    return tool.get(url.removeprefix(TOOL) + "?" + urlencode(query))


def test_moodle_registers_with_one_url_and_then_launches(
    tool, app, store, accounts, integration, platform, jwks_server
):
    url = registration_url(app, accounts, integration, exam_url=EXAM_URL)
    with serve(lms("moodle", platform, jwks_server)) as moodle:
        done = opened_by(tool, url, moodle)
        assert done.status_code == 200, done.text
        assert 'src="/static/lti-close.js"' in done.text and "activates it" in done.text
        # The page may be framed by the LMS that opened it.
        assert moodle.base in done.headers["content-security-policy"]
        (body,) = moodle.registrations
        tool_config = body[TOOL_CONFIGURATION]
        # Moodle lists no proctoring messages: only deep linking is registered beside the link.
        assert [m["type"] for m in tool_config["messages"]] == ["LtiDeepLinkingRequest"]
        assert body["initiate_login_uri"] == TOOL + "/lti/login"
        assert body["redirect_uris"] == [TOOL + "/lti/launch"]
        assert body["jwks_uri"] == TOOL + "/lti/jwks"
        assert tool_config["domain"] == "testserver" and ACS_SCOPE not in body["scope"]
        assert set(body["scope"].split()) == {
            "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
            "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        }
        # Stored under the administrator's institution, with Moodle's deployment id.
        (registration,) = store.lti.list_registrations()
        assert registration.integration_id == integration.id
        assert registration.client_id == platform.client_id
        assert registration.deployment_ids == (platform.deployment_id,)
        assert registration.auth_url == platform.base + "/auth"
        assert registration.token_url == moodle.base + "/token"
        assert registration.exam_url == EXAM_URL
        # The URL is spent.
        again = opened_by(tool, url, moodle)
        assert again.status_code == 400 and "registration_link_used" in again.text
    student = launch(tool, platform, learner())
    assert student.status_code == 303, student.text
    assert student.headers["location"].startswith(EXAM_URL + "#openproctor_token=")


def test_canvas_needs_its_token_on_the_configuration_and_may_narrow_scopes(
    tool, app, store, accounts, integration, platform, jwks_server
):
    score = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
    side = lms("canvas", platform, jwks_server, deployment_id=None, narrowed=(score,))
    url = registration_url(app, accounts, integration)
    with serve(side) as canvas:
        done = opened_by(tool, url, canvas)
        assert done.status_code == 200, done.text
        (fetch, _) = canvas.received
        assert fetch.headers["authorization"] == f"Bearer {canvas.token}"
        assert 'id="narrowed"' in done.text and score in done.text
        assert "learned from the first launch" in done.text
    (registration,) = store.lti.list_registrations()
    assert registration.deployment_ids == ()
    # The first launch teaches the deployment; another deployment is then refused.
    assert launch(tool, platform, learner(custom={"exam_url": EXAM_URL})).status_code == 303
    assert store.lti.list_registrations()[0].deployment_ids == (platform.deployment_id,)
    platform.registration.set_deployment_id("another-deployment")
    refused = tool.get(platform.login_url(learner()), follow_redirects=False)
    assert refused.status_code == 403 and "unknown_deployment" in refused.text


def test_a_proctoring_platform_gets_the_proctoring_messages_and_the_acs_scope(
    tool, app, store, accounts, integration, platform, jwks_server
):
    url = registration_url(app, accounts, integration)
    with serve(lms("proctoring", platform, jwks_server)) as side:
        assert opened_by(tool, url, side).status_code == 200
        (body,) = side.registrations
    messages = [m["type"] for m in body[TOOL_CONFIGURATION]["messages"]]
    assert messages == ["LtiStartProctoring", "LtiEndAssessment"]
    assert body["scope"] == ACS_SCOPE


def test_a_refusal_is_shown_to_the_administrator_and_the_url_still_works(
    tool, app, store, accounts, integration, platform, jwks_server
):
    url = registration_url(app, accounts, integration)
    with serve(lms("moodle", platform, jwks_server)) as moodle:
        wrong = opened_by(tool, url, moodle, token="not-the-token")
        assert wrong.status_code == 502 and "platform_refused" in wrong.text
        assert "HTTP 401: invalid token" in wrong.text
        assert store.lti.list_registrations() == []
        assert opened_by(tool, url, moodle).status_code == 200


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        (
            lambda url, side: (
                url.replace("/lti/register/", "/lti/register/x")
                + "?openid_configuration=https://lms.example.edu/config"
            ),
            404,
            "unknown_registration_link",
        ),
        (lambda url, side: url + "?registration_token=t", 400, "missing_parameter"),
        (
            lambda url, side: url + "?openid_configuration=javascript:alert(1)",
            400,
            "invalid_parameter",
        ),
        (
            lambda url, side: url + "?openid_configuration=http://127.0.0.1:9/closed",
            502,
            "platform_unavailable",
        ),
    ],
)
def test_bad_registration_requests_are_clear_errors(
    tool, app, accounts, integration, platform, jwks_server, change, status, code
):
    url = registration_url(app, accounts, integration).removeprefix(TOOL)
    response = tool.get(change(url, None))
    assert response.status_code == status and code in response.text, response.text[-900:]


def test_an_expired_url_is_refused(tool, app, store, accounts, integration, platform, jwks_server):
    url = registration_url(app, accounts, integration)
    with store.engine.begin() as conn:
        conn.execute(sa.update(schema.lti_registration_links).values(expires_at=time.time() - 1))
    with serve(lms("moodle", platform, jwks_server)) as moodle:
        response = opened_by(tool, url, moodle)
    assert response.status_code == 400 and "registration_link_expired" in response.text


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ({"id_token_signing_alg_values_supported": ["HS256"]}, "RS256"),
        ({"token_endpoint_auth_methods_supported": ["client_secret_basic"]}, "private_key_jwt"),
        ({"registration_endpoint": "ftp://x"}, "registration_endpoint is not a URL"),
        ({"issuer": ""}, "lacks its issuer"),
    ],
)
def test_an_unusable_platform_configuration_names_the_field(
    tool, app, accounts, integration, platform, jwks_server, broken, message
):
    url = registration_url(app, accounts, integration)
    side = lms("canvas", platform, jwks_server)
    original = side.configuration
    side.configuration = lambda: {**original(), **broken}  # type: ignore[method-assign]
    with serve(side) as canvas:
        response = opened_by(tool, url, canvas)
    assert response.status_code == 400 and message in response.text
    assert "invalid_platform_configuration" in response.text


def test_the_command_line_makes_a_url_too(app, store, integration, settings, monkeypatch):
    monkeypatch.setenv("OPENPROCTOR_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OPENPROCTOR_SECRET_FILE", str(settings.secret_file))
    monkeypatch.setenv("OPENPROCTOR_PUBLIC_ORIGIN", "https://proctor.uni-a.edu")
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["lti", "register-url", "--integration", "lms1"]) == 0
    url = out.getvalue().splitlines()[0]
    assert re.fullmatch(r"https://proctor\.uni-a\.edu/lti/register/[\w-]{32}", url)
    code = url.rsplit("/", 1)[1]
    from openproctor.server.lti.dynamic_registration import code_hash

    link = store.lti.registration_link(code_hash(code))
    assert link is not None and link["integration_id"] == integration.id
    assert code not in str(link)  # only its hash is stored


def test_moodles_single_use_token_is_refused_the_second_time(
    tool, app, store, accounts, integration, platform, jwks_server
):
    first, second = (registration_url(app, accounts, integration) for _ in range(2))
    with serve(lms("moodle", platform, jwks_server)) as moodle:
        assert opened_by(tool, first, moodle).status_code == 200
        again = opened_by(tool, second, moodle)  # the same registration token
    assert again.status_code == 502 and "token_already_used" in again.text
    assert len(store.lti.list_registrations()) == 1
