"""docs/lms-setup.md, followed step by step against lti1p3platform: the page's commands are run as
written (with the $NAMES filled in), the dashboard fields it names are the ones filled in, and
then a student and an instructor launch. If the page and the product drift apart, this fails."""

from __future__ import annotations

import io
import re
import shlex
import string
from html import unescape
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from openproctor.core import parse_policy
from openproctor.server.cli import main

from ...lti_platform import INSTRUCTOR, LaunchSpec
from .conftest import LTI_TOOL, PASSWORD, csrf_of, launch, learner, sign_in

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "lms-setup.md"
EXAM_URL = "https://lms.example.edu/courses/1/quizzes/7/take"


def section(number: int) -> str:
    text = GUIDE.read_text()
    return text.split(f"\n## {number}. ", 1)[1].split("\n## ", 1)[0]


def commands(number: int) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", section(number), re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def table(number: int) -> list[tuple[str, str]]:
    rows = [line for line in section(number).splitlines() if line.startswith("| ")]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows[1:]]  # no header
    return [(left, right) for left, right in cells]


@pytest.fixture
def values(platform, jwks_server) -> dict[str, str]:
    return {
        "INTEGRATION": "canvas",
        "INSTITUTION": "uni-a",
        "LMS_ORIGIN": platform.base,
        "ADMIN": "lms-admin",
        "ISSUER": platform.issuer,
        "CLIENT_ID": platform.client_id,
        "DEPLOYMENT_ID": platform.deployment_id,
        "AUTH_URL": platform.base + "/auth",
        "JWKS_URL": jwks_server[0],
        "TOKEN_URL": platform.base + "/token",
        "EXAM_URL": EXAM_URL,
    }


@pytest.fixture
def cli_env(settings, monkeypatch):
    """The CLI on the same database and master keys as the server under test."""
    monkeypatch.setenv("OPENPROCTOR_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OPENPROCTOR_SECRET_FILE", str(settings.secret_file))
    monkeypatch.delenv("OPENPROCTOR_SECRET_KEYS", raising=False)
    return monkeypatch


def run(line: str, values: dict[str, str], monkeypatch) -> None:
    argv = shlex.split(string.Template(line).substitute(values))
    assert argv[0] == "openproctor", line
    if "--password-stdin" in argv:
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(argv[1:]) == 0, line


def label_targets(html: str) -> dict[str, str]:
    """Each form label's text and the name of the field it labels."""
    names = dict(re.findall(r'<(?:input|textarea|select) id="([^"]+)" name="([^"]+)"', html))
    return {
        unescape(text).strip(): names[target]
        for target, text in re.findall(r'<label for="([^"]+)">([^<]+)</label>', html)
        if target in names
    }


def check_launches(client: TestClient, platform) -> None:
    student = launch(client, platform, learner())
    assert student.status_code == 303, student.text
    assert student.headers["location"].startswith(EXAM_URL + "#openproctor_token=")
    teacher = launch(client, platform, LaunchSpec(user="teacher-1", roles=[INSTRUCTOR]))
    assert teacher.status_code == 303 and teacher.headers["location"].startswith("/dashboard")


def test_the_guide_through_the_dashboard(app, values, cli_env, platform):
    for line in commands(1):  # the operator's commands, as written
        run(line, values, cli_env)
    app.state.openproctor.platform_keys.refetch_cooldown = 0
    with TestClient(app, base_url=LTI_TOOL) as client:
        assert sign_in(client, values["ADMIN"]).status_code == 303
        page = client.get("/dashboard/lti")
        assert page.status_code == 200
        # Step 2: every dashboard value the guide names is on the page, with its URL.
        shown = dict(re.findall(r"<dt>([^<]+)</dt><dd><code>([^<]+)</code>", page.text))
        wanted = {
            "Login (OIDC initiation) URL": "/lti/login",
            "Launch (target link and redirect) URL": "/lti/launch",
            "Deep linking URL": "/lti/launch",
            "Public key set (JWKS) URL": "/lti/jwks",
        }
        for _, label in table(2):
            assert shown[label] == LTI_TOOL + wanted[label]
        # Step 3: the fields the guide names, filled with what the LMS shows.
        fields = label_targets(page.text)
        typed = [
            values["ISSUER"],
            values["CLIENT_ID"],
            values["DEPLOYMENT_ID"],
            values["AUTH_URL"],
            values["JWKS_URL"],
            values["TOKEN_URL"],
            values["EXAM_URL"],
        ]
        form = {"csrf": csrf_of(page.text), "integration": values["INTEGRATION"]}
        form["policy_override"] = "true"
        for (_, label), value in zip(table(3), typed, strict=True):
            form[fields[label]] = value
        registered = client.post("/dashboard/lti", data=form, follow_redirects=False)
        assert registered.status_code == 303, registered.text
        assert values["ISSUER"] in client.get("/dashboard/lti").text
        client.cookies.clear()
        check_launches(client, platform)


def test_the_guide_through_the_command_line(app, values, cli_env, platform):
    for line in commands(1) + commands(3):
        run(line, values, cli_env)
    app.state.openproctor.platform_keys.refetch_cooldown = 0
    with TestClient(app, base_url=LTI_TOOL) as client:
        check_launches(client, platform)


def test_the_error_codes_the_guide_names_exist():
    server = GUIDE.parents[1] / "server"
    source = "".join(p.read_text() for p in [*server.glob("lti/*.py"), server / "storage/lti.py"])
    codes = re.findall(r"`([a-z]+_[a-z_]+)`", section(5))
    assert codes
    for code in codes:
        assert f'"{code}"' in source, code


def test_platform_registration_errors_and_isolation(web, accounts, integration, store, platform):

    sign_in(web, "ada")
    page = web.get("/dashboard/lti")
    form = {
        "csrf": csrf_of(page.text),
        "integration": "lms1",
        "issuer": platform.issuer,
        "client_id": "c1",
        "deployment_ids": "d1",
        "auth_url": "ftp://nope",
        "jwks_url": "https://lms.example.edu/jwks",
    }
    bad = web.post("/dashboard/lti", data=form)
    assert bad.status_code == 400 and 'id="auth_url-error"' in bad.text
    assert "must be an http(s) URL" in bad.text
    both = web.post(
        "/dashboard/lti",
        data={**form, "auth_url": "https://lms.example.edu/auth", "public_jwk": '{"kty":"RSA"}'},
    )
    assert both.status_code == 400 and "give exactly one" in both.text
    foreign = web.post("/dashboard/lti", data={**form, "integration": "lms-b"})
    assert foreign.status_code == 400 and "your institution" in foreign.text
    ok = web.post(
        "/dashboard/lti",
        data={**form, "auth_url": "https://lms.example.edu/auth"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert store.lti.list_registrations()[0].deployment_ids == ("d1",)
    web.cookies.clear()
    sign_in(web, "bob")  # another institution's admin
    other = web.get("/dashboard/lti")
    assert platform.issuer not in other.text
    removed = web.post("/dashboard/lti/1/remove", data={"csrf": csrf_of(other.text)})
    assert removed.status_code == 404
    assert len(store.lti.list_registrations()) == 1


def test_the_registration_url_of_section_6(app, values, cli_env, store, capsys):
    for line in commands(1) + commands(6):
        run(line, values, cli_env)
    url = capsys.readouterr().out.strip().splitlines()[-2]
    assert re.search(r"/lti/register/[\w-]{32}$", url), url
    with TestClient(app, base_url=LTI_TOOL) as client:
        sign_in(client, values["ADMIN"])
        page = client.get("/dashboard/lti").text
    assert "Make a registration URL" in section(6) and "Make a registration URL" in page


def test_the_gate_of_section_7(app, values, cli_env, store):
    """The dashboard field and the password fields the guide names are the product's."""
    for line in commands(1):
        run(line, values, cli_env)
    store.policies.save("uni-a", parse_policy({"exam_id": "CS101-quiz"}), "test")
    with TestClient(app, base_url=LTI_TOOL) as client:
        sign_in(client, values["ADMIN"])
        page = client.get("/dashboard/policies/CS101-quiz").text
    guide = section(7)
    assert "**Access code**" in guide and ">Access code (for LMS quizzes" in page
    loader = (GUIDE.parents[1] / "loader" / "loader.js").read_text()
    names = re.findall(r"(?:Moodle's|Canvas's)\s+`(\w+)`", guide)
    assert names == ["quizpassword", "access_code"]
    for name in names:
        assert f"input[name={name}]" in loader, name
    assert "data-access-code-field" in guide and "data-access-code-field" in loader
