"""The served OpenAPI document describes every API route, and real responses match it."""

from __future__ import annotations

import jsonschema
from starlette.routing import Route

from openproctor.server.web.openapi import DOCUMENT

from .conftest import credential, start_jwt


def validate(path: str, method: str, response) -> None:
    operation = DOCUMENT["paths"][path][method]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method.upper()} {path} answered {status}"
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    resolver_doc = {"components": DOCUMENT["components"], **schema}
    jsonschema.validate(response.json(), resolver_doc)


def test_every_api_route_is_documented(app, client):
    served = client.get("/api/v1/openapi.json").json()
    assert served == DOCUMENT
    api_routes = {
        (r.path, m.lower())
        for r in app.routes
        if isinstance(r, Route)
        and r.path.startswith("/api/v1/")
        and r.path != "/api/v1/openapi.json"
        for m in r.methods
        if m != "HEAD"
    }
    documented = {(p, m) for p, ops in DOCUMENT["paths"].items() for m in ops}
    assert api_routes == documented


def test_responses_match_the_schema(student, client):
    s = student()
    sessions = "/api/v1/sessions"
    events = "/api/v1/sessions/{session_id}/events"
    validate(sessions, "post", client.post(sessions, json={"integrationName": "x", "jwt": "a"}))
    ok = s.post([s.opening(), *s.heartbeats(2)])
    validate(events, "post", ok)
    validate(events, "post", s.post([{"seq": 1}]))  # invalid event: 400
    s.heartbeats(1)  # signed but never sent
    validate(events, "post", s.post(s.heartbeats(1)))  # gap: 409
    validate(events, "post", client.post(f"/api/v1/sessions/{s.session_id}/events", json={}))
    finish = client.post(f"/api/v1/sessions/{s.session_id}/finish", headers=s.auth)
    validate("/api/v1/sessions/{session_id}/finish", "post", finish)
    status = client.get(
        f"/api/v1/sessions/{s.session_id}", headers={"authorization": f"Bearer {credential()}"}
    )
    validate("/api/v1/sessions/{session_id}", "get", status)
    student("lms-2", user_id="u2")
    resumed = client.post(
        sessions, json={"integrationName": "lms1", "jwt": start_jwt("lms-2", "u2")}
    )
    assert resumed.status_code == 200
    validate(sessions, "post", resumed)
