"""No secret reaches the logs, whatever happens (the logs are captured at DEBUG and searched)."""

from __future__ import annotations

import logging

from .conftest import SECRET, credential


def test_secrets_never_appear_in_logs(student, app, caplog):
    caplog.set_level(logging.DEBUG)
    s = student()
    key_hex = s.grant["signing_key"]
    s.post([s.opening(), *s.heartbeats(2)])
    bad = [e.to_dict() for e in s.heartbeats(1)]
    bad[0]["t"] += 1
    s.post(bad)  # an integrity failure, logged paths included
    s.client.get(
        f"/api/v1/sessions/{s.session_id}",
        headers={"authorization": f"Bearer {credential(secret='wrong-' * 10)}"},
    )
    s.client.post(f"/api/v1/sessions/{s.session_id}/finish", headers=s.auth)
    masters = [m.reveal().decode() for m in app.state.openproctor.keyring.masters]
    text = caplog.text + repr(app.state.openproctor.keyring) + repr(app.state.openproctor.store)
    for secret in (SECRET, key_hex, s.grant["token"], *masters):
        assert secret not in text
