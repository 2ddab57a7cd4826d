"""Server test fixtures: the app on SQLite and on PostgreSQL, an integration, and a client that
signs real chains with openproctor.core (what the browser does)."""

from __future__ import annotations

import re
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from openproctor.core import Event, Signer
from openproctor.server import Settings, create_app
from openproctor.server.reviewers import ReviewerStore
from openproctor.server.security.tokens import mint_start_token
from openproctor.server.settings import Limits
from openproctor.server.storage import Storage

from ...lti_platform import LEARNER, LaunchSpec, Platform, serve_jwks
from ...support import ENVIRONMENT

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_URL = f"postgresql+psycopg://root@{PG_HOST}:{PG_PORT}/test"
LMS_ORIGIN = "https://lms.example.edu"
SECRET = "integration-secret-for-tests-" + "0123456789abcdef" * 3


def postgres_available() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            pass
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_available() -> bool:
    return postgres_available()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, pg_available: bool
) -> Iterator[str]:
    """A fresh, empty database of each kind (PostgreSQL: a schema of its own per test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    if not pg_available:
        pytest.skip(f"PostgreSQL is not listening on {PG_HOST}:{PG_PORT} (database 'test')")
    schema = "t_" + secrets.token_hex(6)
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_file=tmp_path / "secret.key",
        limits=Limits(batches_per_minute=1000),
        # Tests send due webhook deliveries themselves (deterministically), to a local receiver.
        webhook_poll_seconds=None,
        outbound_allow_private=True,
    )


@pytest.fixture
def app_and_store(settings: Settings) -> Iterator[tuple[Any, Storage]]:
    store = Storage(settings.database_url)
    app = create_app(settings, store=store, migrate=True, purge_every=None)
    yield app, store
    store.close()


@pytest.fixture
def app(app_and_store):
    return app_and_store[0]


@pytest.fixture
def store(app_and_store) -> Storage:
    return app_and_store[1]


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def integration(app, store):
    keyring = app.state.openproctor.keyring
    return store.integrations.add("lms1", "uni-a", keyring.encrypt(SECRET), [LMS_ORIGIN])


def start_jwt(session_id: str = "lms-session-1", user_id: str = "student-1", **extra: Any) -> str:
    return mint_start_token(
        extra.pop("secret", SECRET),
        user_id=user_id,
        exam_id=extra.pop("exam_id", "CS101-final"),
        session_id=session_id,
        **extra,
    )


@dataclass
class StudentClient:
    """A protocol-level student: starts a session, signs events, posts batches."""

    client: TestClient
    grant: dict[str, Any]
    signer: Signer = field(init=False)
    t: int = 0

    def __post_init__(self) -> None:
        self.signer = Signer(bytes.fromhex(self.grant["signing_key"]), self.grant["session_id"])

    @property
    def session_id(self) -> str:
        return self.grant["session_id"]

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.grant['token']}"}

    def sign(self, event_type: str, data: dict[str, Any], dt: int = 1000) -> Event:
        self.t += dt
        return self.signer.sign(self.t, event_type, data)

    def opening(self) -> Event:
        return self.signer.sign(
            0, "session_start", {"sdk_version": "0.1.0", **ENVIRONMENT, "heartbeat_ms": 15000}
        )

    def heartbeats(self, n: int) -> list[Event]:
        return [self.sign("heartbeat", {}, dt=15000) for _ in range(n)]

    def post(self, events: list[Event] | list[dict[str, Any]], **headers: str):
        body = [e.to_dict() if isinstance(e, Event) else e for e in events]
        return self.client.post(
            f"/api/v1/sessions/{self.session_id}/events",
            json={"events": body},
            headers={**self.auth, **headers},
        )

    def end(self, score_milli: int | None = None) -> Event:
        data: dict[str, Any] = {"count": self.signer.state.next_seq, "reason": "finished"}
        if score_milli is not None:
            data["score_milli"] = score_milli
        return self.signer.sign(self.t, "session_end", data)


@pytest.fixture
def student(client, integration):
    def make(session_id: str = "lms-session-1", user_id: str = "student-1") -> StudentClient:
        response = client.post(
            "/api/v1/sessions",
            json={"integrationName": "lms1", "jwt": start_jwt(session_id, user_id)},
        )
        assert response.status_code == 201, response.text
        return StudentClient(client, response.json())

    return make


def credential(integration_name: str = "lms1", secret: str = SECRET, valid: int = 60) -> str:
    import jwt

    now = int(time.time())
    return jwt.encode(
        {"iss": integration_name, "iat": now, "exp": now + valid}, secret, algorithm="HS256"
    )


@pytest.fixture
def student_once(student, store):
    """One started student session with its opening event stored, for fuzz loops."""
    s = student("fuzz-session")
    assert s.post([s.opening()]).status_code == 200
    return s, store


# -- the dashboard ---------------------------------------------------------------------------

PASSWORD = "correct horse battery staple"


@pytest.fixture
def accounts(store, integration, app):
    """alice reviews and ada administers uni-a; bob administers uni-b (another institution)."""
    reviewers = ReviewerStore(store)
    reviewers.add("alice", "uni-a", PASSWORD, "reviewer")
    reviewers.add("ada", "uni-a", PASSWORD, "admin")
    keyring = app.state.openproctor.keyring
    store.integrations.add("lms-b", "uni-b", keyring.encrypt(SECRET), [])
    reviewers.add("bob", "uni-b", PASSWORD, "admin")
    return reviewers


@pytest.fixture
def web(app):
    """A client on https (the reviewer cookie is Secure)."""
    with TestClient(app, base_url="https://testserver") as client:
        yield client


def sign_in(client: TestClient, username: str, password: str = PASSWORD):
    form = client.get("/dashboard/login")
    return client.post(
        "/dashboard/login",
        data={"csrf": csrf_of(form.text), "username": username, "password": password},
        follow_redirects=False,
    )


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


# -- an LTI 1.3 platform we did not write (lti1p3platform) ------------------------------------

LTI_TOOL = "https://testserver"


@pytest.fixture
def platform() -> Platform:
    return Platform(LTI_TOOL)


@pytest.fixture
def jwks_server(platform: Platform) -> Iterator[tuple[str, list[int]]]:
    """The platform's key set, served over real HTTP on 127.0.0.1."""
    with serve_jwks(platform) as served:
        yield served


# -- the tool registered with that platform, and the browser steps of a launch ---------------

TOOL = LTI_TOOL
EXAM_URL = "https://lms.example.edu/quiz/7/take"


def register_platform(store: Storage, integration, platform: Platform, jwks_url: str, **options):
    """Register the test platform for the integration (its issuer, client, deployment, login
    URL), with its keys at ``jwks_url``."""
    return store.lti.add_registration(
        integration.id,
        platform.issuer,
        platform.client_id,
        [platform.deployment_id],
        auth_url=platform.base + "/auth",
        jwks_url=jwks_url,
        **options,
    )


@pytest.fixture
def tool(app, store, integration, platform, jwks_server) -> Iterator[TestClient]:
    register_platform(store, integration, platform, jwks_server[0], exam_url=EXAM_URL)
    app.state.openproctor.platform_keys.refetch_cooldown = 0  # see the rotation tests
    with TestClient(app, base_url=TOOL) as client:
        yield client


def login(client: TestClient, platform: Platform, spec: LaunchSpec) -> dict[str, Any]:
    """Browser steps 1 and 2: the tool's login redirects to the platform, which signs."""
    response = client.get(platform.login_url(spec), follow_redirects=False)
    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith(platform.base + "/auth?")
    return platform.authorize(response.headers["location"])


def launch(
    client: TestClient,
    platform: Platform,
    spec: LaunchSpec,
    change: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
):
    data = login(client, platform, spec)
    form = {"id_token": data["id_token"], "state": data["state"]}
    if change is not None:
        form = change(form)
    return client.post("/lti/launch", data=form, follow_redirects=False)


def learner(**kw: Any) -> LaunchSpec:
    return LaunchSpec(user=kw.pop("user", "learner-1"), roles=[LEARNER], **kw)
