"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json.

Written by hand to say exactly what the endpoints do; tests/unit/server/test_openapi.py checks
that every route is described and that real responses match these schemas.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from openproctor.core import EVENT_TYPES


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
RECORD_URL = {
    "type": "string",
    "description": "path (on this server) of the student's own view of what was recorded, "
    "with the evidence bundle to download; show it to the student at the end of the exam",
}
BEARER_SESSION: list[dict[str, list[str]]] = [{"sessionToken": []}]
BEARER_INTEGRATION: list[dict[str, list[str]]] = [{"integrationCredential": []}]
SESSION_ID = {
    "name": "session_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "maxLength": 230},
}

USER_ID = {
    "name": "user_id",
    "in": "path",
    "required": True,
    "description": "the LMS user id (the start token's userId, the LTI sub)",
    "schema": {"type": "string", "maxLength": 255},
}

COMMON_ERRORS = {
    "400": _error("Malformed body or field (`code` says which)"),
    "401": _error("Missing, invalid or expired token"),
    "403": _error("Token for another session, or origin not registered"),
    "404": _error("Unknown session or integration"),
    "413": _error("Body or batch too large"),
    "415": _error("Body is not application/json"),
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                "additionalProperties": True,
            }
        },
    },
    "StartRequest": {
        "type": "object",
        "required": ["integrationName", "jwt"],
        "properties": {
            "integrationName": {"type": "string"},
            "jwt": {
                "type": "string",
                "description": "HS256 JWT signed by the LMS backend with "
                "the integration secret; payload as in docs/api.md",
            },
            "languages": {
                "type": "array",
                "items": {"type": "string", "maxLength": 35},
                "description": "the browser's languages (init's lang first, then "
                "navigator.languages): the student's language when the token has no "
                "language claim",
            },
        },
    },
    "Policy": {
        "type": "object",
        "required": [
            "exam_id",
            "trust_threshold",
            "flags_enabled",
            "log_retention_days",
            "allow_mobile",
            "heartbeat_seconds",
        ],
    },
    "SessionGrant": {
        "type": "object",
        "required": [
            "session_id",
            "resumed",
            "token",
            "token_expires_at",
            "signing_key",
            "policy",
            "policy_version",
            "heartbeat_ms",
            "deadline",
            "elapsed_ms",
            "chain",
            "exam",
            "tally",
            "record_url",
            "gate",
            "notice",
        ],
        "properties": {
            "session_id": {"type": "string"},
            "gate": {
                "type": "boolean",
                "description": "the exam has an access code (the LMS quiz password): the SDK "
                "asks POST /api/v1/sessions/{session_id}/access-code for it once proctoring runs",
            },
            "resumed": {"type": "boolean"},
            "tally": {
                "type": "object",
                "description": "running totals of the stored log (openproctor.core Tally), so "
                "a resumed client's live score and final report cover the whole log",
            },
            "token": {"type": "string"},
            "token_expires_at": {"type": "integer"},
            "signing_key": HEX64,
            "policy": _ref("Policy"),
            "policy_version": {"type": "integer", "minimum": 1},
            "heartbeat_ms": {"type": "integer"},
            "deadline": {"type": "integer"},
            "elapsed_ms": {
                "type": "integer",
                "minimum": 0,
                "description": "milliseconds since the session started; event times (t) count "
                "from the start, and events stamped later than the deadline plus the grace "
                "period are refused",
            },
            "chain": {
                "type": "object",
                "required": ["next_seq", "last_mac", "last_t"],
                "properties": {
                    "next_seq": {"type": "integer", "minimum": 0},
                    "last_mac": HEX64,
                    "last_t": {"type": "integer"},
                },
            },
            "exam": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
            },
            "record_url": RECORD_URL,
            "messages": {
                "type": "object",
                "description": "what the SDK itself may tell the student after the grant "
                "(mobile_not_allowed), in the student's language",
            },
            "notice": {
                "type": "object",
                "description": "what the student reads before the exam, written from the "
                "candidate's effective policy; the SDK's signed consent event names its hash",
                "required": ["lang", "title", "sections", "links", "hash"],
                "properties": {
                    "lang": {"type": "string"},
                    "title": {"type": "string"},
                    "sections": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["heading", "items"],
                            "properties": {
                                "heading": {"type": "string"},
                                "items": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    },
                    "links": {"type": "object"},
                    "hash": HEX64,
                },
            },
        },
    },
    "Event": {
        "type": "object",
        "required": ["seq", "t", "type", "data", "prev", "mac"],
        "additionalProperties": False,
        "properties": {
            "seq": {"type": "integer", "minimum": 0},
            "t": {"type": "integer", "minimum": 0},
            "type": {"enum": list(EVENT_TYPES)},
            "data": {"type": "object"},
            "prev": HEX64,
            "mac": HEX64,
        },
    },
    "EventsRequest": {
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {"type": "array", "minItems": 1, "maxItems": 500, "items": _ref("Event")}
        },
    },
    "IngestResult": {
        "type": "object",
        "required": ["acknowledged_seq", "next_seq", "stored", "resent", "status", "complete"],
        "properties": {
            "acknowledged_seq": {"type": "integer", "minimum": -1},
            "next_seq": {"type": "integer", "minimum": 0},
            "stored": {"type": "integer", "minimum": 0},
            "resent": {"type": "integer", "minimum": 0},
            "status": {"enum": ["active", "finished", "integrity_failed"]},
            "complete": {"type": "boolean"},
        },
    },
    "FinishResult": {
        "type": "object",
        "required": ["status", "complete", "events", "score", "flagged"],
        "properties": {
            "status": {"enum": ["active", "finished", "integrity_failed"]},
            "complete": {"type": "boolean"},
            "events": {"type": "integer"},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "flagged": {"type": "boolean"},
        },
    },
    "SessionStatus": {
        "type": "object",
        "required": [
            "session_id",
            "external_session_id",
            "exam_id",
            "status",
            "integrity",
            "score",
            "flagged",
            "breakdown",
            "policy_version",
            "events",
            "started_at",
            "finished_at",
            "logs_purged",
            "record_url",
        ],
        "properties": {
            "session_id": {"type": "string"},
            "external_session_id": {"type": "string"},
            "exam_id": {"type": "string"},
            "status": {"enum": ["active", "finished", "integrity_failed"]},
            "integrity": {
                "type": "object",
                "required": ["status", "reason", "seq", "complete", "client_score_mismatch"],
                "properties": {
                    "status": {"enum": ["verified", "failed"]},
                    "reason": {"type": ["string", "null"]},
                    "seq": {"type": ["integer", "null"]},
                    "complete": {"type": "boolean"},
                    "client_score_mismatch": {"type": "boolean"},
                },
            },
            "score": {"type": ["number", "null"]},
            "flagged": {"type": "boolean"},
            "breakdown": {"type": "array", "items": {"type": "object"}},
            "policy_version": {"type": "integer"},
            "events": {"type": "integer"},
            "started_at": {"type": "integer"},
            "finished_at": {"type": ["integer", "null"]},
            "logs_purged": {"type": "boolean"},
            "record_url": RECORD_URL,
        },
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "openproctor API",
        "version": "1",
        "description": "Session start, verified ingest of signed metadata logs, status.",
    },
    "paths": {
        "/api/v1/sessions": {
            "post": {
                "summary": "Start (or resume) a session from an integration JWT",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("StartRequest")}},
                },
                "responses": {
                    "201": _json(_ref("SessionGrant"), "Session started"),
                    "200": _json(
                        _ref("SessionGrant"), "Session resumed (same sessionId, same user)"
                    ),
                    "409": _error("sessionId bound to another user, or session finished"),
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/sessions/{session_id}": {
            "get": {
                "summary": "Session status for the integrator",
                "parameters": [SESSION_ID],
                "security": BEARER_INTEGRATION,
                "responses": {
                    "200": _json(_ref("SessionStatus"), "Status, score, integrity"),
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/users/{user_id}": {
            "get": {
                "summary": "A person's data (GDPR access): everything stored about one LMS user "
                "of the integration's institution",
                "parameters": [USER_ID],
                "security": BEARER_INTEGRATION,
                "responses": {
                    "200": _json(
                        {"type": "object", "required": ["user_id", "sessions", "audit_entries"]},
                        "Sessions with their events, decisions, explanations; audit entries",
                    ),
                    **COMMON_ERRORS,
                },
            },
            "delete": {
                "summary": "Erase a person's data (GDPR erasure): event logs and personal fields "
                "deleted, anonymous summaries and the audit log kept",
                "parameters": [USER_ID],
                "security": BEARER_INTEGRATION,
                "responses": {
                    "200": _json(
                        {"type": "object", "required": ["erased"]}, "What was erased, by kind"
                    ),
                    **COMMON_ERRORS,
                },
            },
        },
        "/api/v1/sessions/{session_id}/events": {
            "post": {
                "summary": "Append a batch of signed events",
                "parameters": [SESSION_ID],
                "security": BEARER_SESSION,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("EventsRequest")}},
                },
                "responses": {
                    "200": _json(_ref("IngestResult"), "Stored (or acknowledged as a resend)"),
                    "409": _error("Gap (`expected_seq` says where to resend from) or finished"),
                    "410": _error("The session's log was purged"),
                    "422": _error(
                        "Forged, altered, reordered or foreign event: nothing stored, "
                        "session marked integrity_failed"
                    ),
                    "429": _error("Too many batches; retry after `Retry-After` seconds"),
                    "503": _error("Database unavailable; nothing stored, retry"),
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/sessions/{session_id}/finish": {
            "post": {
                "summary": "Finish the session and compute the score of record",
                "parameters": [SESSION_ID],
                "security": BEARER_SESSION + BEARER_INTEGRATION,
                "responses": {
                    "200": _json(_ref("FinishResult"), "Finished (idempotent)"),
                    "503": _error("Database unavailable"),
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/sessions/{session_id}/resume": {
            "post": {
                "summary": "A fresh grant for a session the page holds a token for (script tag, "
                "reloads)",
                "parameters": [SESSION_ID],
                "security": BEARER_SESSION,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"institutionKey": {"type": ["string", "null"]}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(_ref("SessionGrant"), "The session's grant with a fresh token"),
                    "409": _error("The session has finished"),
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/sessions/{session_id}/access-code": {
            "post": {
                "summary": "The exam's access code, released only while this session's "
                "proctoring runs (active, its session_start stored, before the deadline)",
                "parameters": [SESSION_ID],
                "security": BEARER_SESSION,
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["access_code"],
                            "properties": {"access_code": {"type": "string"}},
                        },
                        "The code (never cached)",
                    ),
                    "404": _error("The exam has no access code (no_access_code)"),
                    "409": _error(
                        "The session has not started (session_not_started) or has ended "
                        "(session_not_active)"
                    ),
                    "429": _error("Too many requests for this session"),
                    **COMMON_ERRORS,
                },
            }
        },
    },
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "sessionToken": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "Returned by POST /api/v1/sessions; one session",
            },
            "integrationCredential": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "HS256 JWT signed with the integration secret, 'iss' = the "
                "integration name, valid for at most 300 s",
            },
        },
    },
}


async def openapi_endpoint(request: Request) -> JSONResponse:
    return JSONResponse(DOCUMENT)
