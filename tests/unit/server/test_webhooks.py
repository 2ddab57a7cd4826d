"""Alert webhooks against a real local HTTP receiver: queued in the transaction that flags the
session, signed (the receiver verifies), retried with backoff, logged, scoped per institution
and per exam, refused for private addresses unless allowed."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from openproctor.server import create_app
from openproctor.server.cli import main
from openproctor.server.security.outbound import OutboundGuard
from openproctor.server.webhooks import (
    MAX_ATTEMPTS,
    SIGNATURE_HEADER,
    WebhookSender,
    sign,
    verify_signature,
)

from ...support import Receiver
from .conftest import StudentClient, csrf_of, sign_in, start_jwt


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def add_webhook(web, url: str, exam: str = "") -> str:
    """Add a webhook through the admin page; returns the secret it shows once."""
    sign_in(web, "ada")
    page = web.get("/dashboard/webhooks")
    added = web.post(
        "/dashboard/webhooks", data={"csrf": csrf_of(page.text), "url": url, "exam": exam}
    )
    assert added.status_code == 201, added.text
    return re.search(r'id="secret">([^<]+)<', added.text).group(1)


def flag(client, session_name: str = "w-1", exam_id: str = "CS101-final") -> StudentClient:
    grant = client.post(
        "/api/v1/sessions",
        json={"integrationName": "lms1", "jwt": start_jwt(session_name, exam_id=exam_id)},
    ).json()
    s = StudentClient(client, grant)
    events = [s.opening()]
    events += [s.sign("tab_switch", {"duration_ms": 60_000, "count": 1}) for _ in range(6)]
    assert s.post(events).status_code == 200
    return s


def sender_of(app, clock=None) -> WebhookSender:
    sender = app.state.openproctor.webhook_sender
    return replace(sender, clock=clock) if clock else sender


def test_a_flagged_session_is_announced_once_signed(app, web, client, accounts, receiver, store):
    secret = add_webhook(web, receiver.url)
    assert secret.startswith("whsec_")
    with store.engine.connect() as conn:  # stored encrypted, never in plain text
        stored = conn.exec_driver_sql("SELECT secret_enc FROM webhooks").scalar_one()
    assert secret.encode() not in bytes(stored)
    s = flag(client)
    # More events on a session already flagged queue nothing more.
    assert s.post([s.sign("tab_switch", {"duration_ms": 1000, "count": 1})]).status_code == 200
    assert sender_of(app).deliver_due() == {"delivered": 1, "retrying": 0, "failed": 0}
    assert sender_of(app).deliver_due() == {"delivered": 0, "retrying": 0, "failed": 0}
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    assert verify_signature(secret, headers[SIGNATURE_HEADER], body)
    assert not verify_signature(secret, headers[SIGNATURE_HEADER], body + b" ")
    assert not verify_signature("whsec_other", headers[SIGNATURE_HEADER], body)
    assert headers["openproctor-event"] == "session.flagged"
    payload = json.loads(body)
    assert payload["session_id"] == s.session_id and payload["exam_id"] == "CS101-final"
    assert payload["score"] < payload["trust_threshold"] == 0.7
    assert (
        payload["flags"][0]["flag"] == "tab_switch"
        and "tab switched" in (payload["flags"][0]["explanation"])
    )
    assert payload["dashboard_url"].endswith(f"/dashboard/sessions/{s.session_id}")
    assert b"student-1" not in body and b"Student" not in body  # no personal data
    log = web.get("/dashboard/webhooks").text
    assert 'data-status="delivered"' in log and "HTTP 200" in log


def test_failures_are_retried_with_backoff_and_logged(app, web, client, accounts, store):
    receiver = Receiver(statuses=(500, 503, 204))
    try:
        secret = add_webhook(web, receiver.url)
        flag(client)
        now = [time.time()]
        sender = sender_of(app, clock=lambda: now[0])
        base = sender.backoff_base
        assert sender.deliver_due()["retrying"] == 1
        assert sender.deliver_due()["retrying"] == 0  # not due yet
        now[0] += base
        assert sender.deliver_due()["retrying"] == 1  # second failure
        now[0] += base  # the wait doubled: not due yet
        assert sender.deliver_due() == {"delivered": 0, "retrying": 0, "failed": 0}
        now[0] += base
        assert sender.deliver_due()["delivered"] == 1
        assert [h[SIGNATURE_HEADER] != "" for h, _ in receiver.requests] == [True] * 3
        assert all(
            verify_signature(secret, h[SIGNATURE_HEADER], b, now=now[0])
            for h, b in receiver.requests
        )
        row = web.get("/dashboard/webhooks").text
        assert 'data-status="delivered"' in row and "<td>3</td>" in row
    finally:
        receiver.close()


def test_a_receiver_that_never_answers_ok_ends_failed(app, client, accounts, web):
    receiver = Receiver(statuses=(500,))
    try:
        add_webhook(web, receiver.url)
        flag(client)
        now = [time.time()]
        sender = sender_of(app, clock=lambda: now[0])
        outcomes = []
        for _ in range(MAX_ATTEMPTS + 2):
            outcomes.append(sender.deliver_due())
            now[0] += 10 * 3600
        assert len(receiver.requests) == MAX_ATTEMPTS
        assert sum(o["failed"] for o in outcomes) == 1
        log = web.get("/dashboard/webhooks").text
        assert 'data-status="failed"' in log and "answered HTTP 500" in log
    finally:
        receiver.close()


def test_private_addresses_are_refused_unless_allowed(app, web, client, accounts, receiver):
    add_webhook(web, receiver.url)
    flag(client)
    strict = replace(sender_of(app), guard=OutboundGuard(allow_private=False))
    assert strict.deliver_due()["retrying"] == 1
    assert receiver.requests == []
    assert "private or local address" in web.get("/dashboard/webhooks").text


def test_an_exam_webhook_hears_only_its_exam(app, web, client, accounts, receiver):
    add_webhook(web, receiver.url, exam="OTHER-exam")
    flag(client, "w-a", exam_id="CS101-final")
    assert sender_of(app).deliver_due()["delivered"] == 0
    flag(client, "w-b", exam_id="OTHER-exam")
    assert sender_of(app).deliver_due()["delivered"] == 1
    assert json.loads(receiver.requests[0][1])["exam_id"] == "OTHER-exam"


def test_each_delivery_is_claimed_by_one_process_only(app, web, client, accounts, receiver):
    add_webhook(web, receiver.url)
    flag(client)
    webhooks = app.state.openproctor.webhooks
    now = time.time()
    assert len(webhooks.claim_due(now)) == 1
    assert webhooks.claim_due(now) == []  # leased to the first


def test_webhooks_belong_to_one_institution(app, web, client, accounts, receiver):
    add_webhook(web, receiver.url)
    flag(client)
    sender_of(app).deliver_due()
    web.cookies.clear()
    sign_in(web, "bob")
    page = web.get("/dashboard/webhooks")
    assert receiver.url not in page.text and "Nothing sent yet" in page.text
    removed = web.post("/dashboard/webhooks/1/remove", data={"csrf": csrf_of(page.text)})
    assert removed.status_code == 404
    assert len(app.state.openproctor.webhooks.active("uni-a")) == 1
    web.cookies.clear()
    sign_in(web, "alice")  # a reviewer, not an admin
    assert web.get("/dashboard/webhooks").status_code == 403


def test_a_removed_webhook_cancels_what_is_pending(app, web, client, accounts, receiver):
    add_webhook(web, receiver.url)
    flag(client)
    page = web.get("/dashboard/webhooks")
    assert (
        web.post("/dashboard/webhooks/1/remove", data={"csrf": csrf_of(page.text)}).status_code
        == 200
    )
    assert sender_of(app).deliver_due()["delivered"] == 0 and receiver.requests == []
    assert 'data-status="cancelled"' in web.get("/dashboard/webhooks").text


def test_bad_addresses_are_refused_with_a_reason(web, accounts):
    sign_in(web, "ada")
    csrf = csrf_of(web.get("/dashboard/webhooks").text)
    for url in ("ftp://x.example", "https://user:pw@x.example/h", "not a url", "https://x#frag"):
        response = web.post("/dashboard/webhooks", data={"csrf": csrf, "url": url})
        assert response.status_code == 400 and "must be an http(s) address" in response.text


def test_the_server_sends_due_deliveries_by_itself(settings, store, integration, receiver):
    app = create_app(
        replace(settings, webhook_poll_seconds=0.05), store=store, migrate=True, purge_every=None
    )
    webhooks = app.state.openproctor.webhooks
    webhooks.add("uni-a", receiver.url, None, "test")
    with TestClient(app) as client:
        flag(client)
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(receiver.requests) == 1


def test_signatures_expire():
    body = b'{"event":"session.flagged"}'
    header = sign("whsec_x", body, 1_000_000, 7)
    assert verify_signature("whsec_x", header, body, now=1_000_100)
    assert not verify_signature("whsec_x", header, body, now=1_000_400)
    assert not verify_signature("whsec_x", "v1=abc", body)


def test_webhook_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENPROCTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'w.sqlite3'}")
    monkeypatch.setenv("OPENPROCTOR_SECRET_FILE", str(tmp_path / "secret.key"))
    monkeypatch.delenv("OPENPROCTOR_SECRET_KEYS", raising=False)
    assert main(["webhook", "add", "https://hooks.uni-a.edu/x", "--institution", "uni-a"]) == 1
    assert "no institution" in capsys.readouterr().err
    assert main(["integration", "add", "lms", "--institution", "uni-a"]) == 0
    args = ["webhook", "add", "https://hooks.uni-a.edu/x", "--institution", "uni-a"]
    assert main([*args, "--exam", "CS101"]) == 0
    out = capsys.readouterr().out
    assert "webhook 1 added" in out and "whsec_" in out
    assert main(["webhook", "list"]) == 0
    listing = capsys.readouterr().out
    assert "https://hooks.uni-a.edu/x" in listing and "exam=CS101" in listing
    assert "whsec_" not in listing
    assert main(["webhook", "remove", "1"]) == 0
    assert main(["webhook", "remove", "1"]) == 1
    assert main(["webhook", "add", "gopher://x", "--institution", "uni-a"]) == 1
    assert "http(s)" in capsys.readouterr().err
