"""The student's view of their own record, the evidence bundle and `openproctor verify`; and
retention (logs past their exam's log_retention_days are gone from the database)."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import replace

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from openproctor.core import Signer, parse_policy
from openproctor.server import create_app
from openproctor.server.cli import main
from openproctor.server.evidence import verify_bundle

from .conftest import StudentClient, credential, start_jwt


@pytest.fixture
def finished(student):
    s = student()
    events = [s.opening(), *s.heartbeats(2)]
    events += [s.sign("tab_switch", {"duration_ms": 20_000, "count": 1}) for _ in range(3)]
    events += [s.sign("copy_paste", {"action": "paste", "count": 1})]
    events.append(s.end())
    assert s.post(events).status_code == 200
    return s


def test_the_student_sees_exactly_what_was_recorded(finished, client):
    url = finished.grant["record_url"]
    assert url.startswith(f"/record/{finished.session_id}?key=")
    page = client.get(url)
    assert page.status_code == 200
    assert "tab switched 3 times" in page.text and "copied, cut or pasted once" in page.text
    assert page.text.count('<tr id="event-') == 8  # every stored event, no more
    assert "verified" in page.text and "evidence.json" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"  # the key stays out of referers
    assert "student-1" not in page.text  # the LMS user id is not shown on a shareable page


def test_a_wrong_or_missing_key_finds_nothing(finished, student, client):
    other = student("another-session", user_id="student-2")
    sid = finished.session_id
    other_key = other.grant["record_url"].split("key=")[1]
    for url in (
        f"/record/{sid}",
        f"/record/{sid}?key=",
        f"/record/{sid}?key=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        f"/record/{sid}?key={other_key}",
    ):
        page = client.get(url)
        assert page.status_code == 404 and "tab switched" not in page.text
        assert client.get(url.replace(sid, sid + "/evidence.json", 1)).status_code == 404


def test_the_integrator_gets_the_link_to_show(finished, client):
    status = client.get(
        f"/api/v1/sessions/{finished.session_id}",
        headers={"authorization": f"Bearer {credential()}"},
    ).json()
    assert status["record_url"] == finished.grant["record_url"]


def bundle_of(client, s) -> dict:
    url = s.grant["record_url"].replace("?", "/evidence.json?", 1)
    response = client.get(url)
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    return response.json()


def test_the_bundle_verifies_offline(finished, client, tmp_path, capsys):
    bundle = bundle_of(client, finished)
    report = verify_bundle(bundle)
    assert report.ok, report.lines()
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert main(["verify", str(path)]) == 3  # consistent, but no key was pinned
    out = capsys.readouterr().out
    assert "8 events" in out and "score recomputed" in out
    assert "THE SERVER'S IDENTITY WAS NOT CHECKED" in out and "\nVERIFIED" not in out
    jwks = tmp_path / "jwks.json"
    jwks.write_text(client.get("/lti/jwks").text)
    assert main(["verify", str(path), "--jwks", str(jwks)]) == 0
    out = capsys.readouterr().out
    assert "a key you pinned" in out and out.rstrip().endswith("VERIFIED")


def test_a_forged_log_fails_even_when_signed_with_the_session_key(finished, client):
    """The student holds the session key, so they can re-sign a cleaner log; the server's
    attestation over the stored log is what exposes it."""
    bundle = bundle_of(client, finished)
    signer = Signer(bytes.fromhex(bundle["signing_key"]), bundle["session_id"])
    forged = []
    for event in bundle["events"]:
        if event["type"] in ("tab_switch", "copy_paste"):
            continue
        data = dict(event["data"])
        if event["type"] == "session_end":
            data["count"] = len(forged)
        forged.append(signer.sign(event["t"], event["type"], data).to_dict())
    clean = {**bundle, "events": forged}
    clean["server_result"] = {**bundle["server_result"], "score_milli": 1000, "flagged": False}
    report = verify_bundle(clean)
    assert not report.ok
    assert report.checks[0][0]  # the chain itself is consistent ...
    failed = [line for line in report.lines() if line.startswith("FAIL")]
    assert "attestation: does not match this bundle" in failed[-1]  # ... but not ours


@pytest.mark.parametrize(
    "tamper, expected",
    [
        (lambda b: b["events"][3]["data"].update(duration_ms=1), "signed chain"),
        (lambda b: b["events"].pop(), "completeness"),
        (lambda b: b["server_result"].update(score_milli=999), "the bundle states 999/1000"),
        (lambda b: b["policy"].update(trust_threshold=0.01), "attestation: does not match"),
        (lambda b: b.update(attestation=b["attestation"][:-4] + "AAAA"), "attestation:"),
        (lambda b: b.update(format="something-else"), "not an openproctor evidence bundle"),
        (lambda b: b.pop("signing_key"), "malformed"),
    ],
)
def test_a_tampered_bundle_fails(finished, client, tamper, expected):
    bundle = copy.deepcopy(bundle_of(client, finished))
    tamper(bundle)
    report = verify_bundle(bundle)
    assert not report.ok
    assert any(expected in line for line in report.lines() if line.startswith("FAIL")), (
        report.lines()
    )


def test_a_pinned_key_set_without_the_signing_key_fails(finished, client, tmp_path, capsys):
    bundle = bundle_of(client, finished)
    other = {"keys": [{**bundle["attestation_keys"]["keys"][0], "kid": "someone-else"}]}
    assert not verify_bundle(bundle, other).ok
    path, pinned = tmp_path / "b.json", tmp_path / "other.json"
    path.write_text(json.dumps(bundle))
    pinned.write_text(json.dumps(other))
    assert main(["verify", str(path), "--jwks", str(pinned)]) == 1
    out = capsys.readouterr().out
    assert "is not in the pinned key set" in out and "NOT VERIFIED" in out
    with pytest.raises(SystemExit, match="cannot read the key set"):
        main(["verify", str(path), "--jwks", str(tmp_path / "missing.json")])


def test_verify_explains_an_unreadable_file(tmp_path):
    path = tmp_path / "nope.json"
    path.write_text("{not json")
    with pytest.raises(SystemExit, match="cannot read the bundle"):
        main(["verify", str(path)])


def test_after_retention_the_log_is_gone_and_the_page_says_so(finished, client, store):
    store.purge(now=time.time() + 31 * 86400)
    with store.engine.connect() as conn:
        left = conn.execute(
            sa.text("SELECT count(*) FROM events WHERE session_id = :s"), {"s": finished.session_id}
        ).scalar_one()
    assert left == 0
    page = client.get(finished.grant["record_url"])
    assert page.status_code == 200 and 'id="purged"' in page.text and "<td>" not in page.text
    assert "tab switched 3 times" in page.text  # the kept summary
    url = finished.grant["record_url"].replace("?", "/evidence.json?", 1)
    assert client.get(url).status_code == 410


def test_the_server_purges_each_exam_by_its_own_retention(settings, store, integration):
    """The periodic job in the server: an exam kept 1 day loses its old logs; one kept 30 days
    keeps them."""
    app = create_app(replace(settings), store=store, migrate=True, purge_every=0.05)

    store.policies.save("uni-a", parse_policy({"exam_id": "SHORT", "log_retention_days": 1}), "t")
    with TestClient(app) as client:
        ids = {}
        for exam in ("SHORT", "LONG"):
            grant = client.post(
                "/api/v1/sessions",
                json={"integrationName": "lms1", "jwt": start_jwt(f"ret-{exam}", exam_id=exam)},
            ).json()
            s = StudentClient(client, grant)
            assert s.post([s.opening(), *s.heartbeats(2)]).status_code == 200
            ids[exam] = s.session_id
            # Started two days ago.
            store.sessions.update(s.session_id, started_at=time.time() - 2 * 86400)
        deadline = time.monotonic() + 10
        while store.sessions.get(ids["SHORT"]).purged_at is None and time.monotonic() < deadline:
            time.sleep(0.05)
    assert (
        store.sessions.events(ids["SHORT"]) == [] and len(store.sessions.events(ids["LONG"])) == 3
    )
    assert store.sessions.get(ids["LONG"]).purged_at is None
