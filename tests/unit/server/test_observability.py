"""Metrics at /metrics and structured JSON logs: counts by outcome and reason, route templates
(never session ids) as labels, and log lines that carry context but no secret."""

from __future__ import annotations

import json
import logging

from openproctor.server.observability import JsonFormatter


def metric(client, name: str, **labels: str) -> float:
    text = client.get("/metrics").text
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_ingest_outcomes_and_rejections_are_counted(student):
    s = student()
    client = s.client
    stored = metric(client, "openproctor_ingest_batches_total", outcome="stored")
    events = metric(client, "openproctor_ingest_events_total")
    gaps = metric(client, "openproctor_ingest_rejections_total", reason="sequence_gap")
    forged = metric(client, "openproctor_ingest_rejections_total", reason="bad_mac")
    s.post([s.opening(), *s.heartbeats(2)])
    skipped, later = s.heartbeats(1), s.heartbeats(1)
    s.post(later)  # a gap: seq 3 was never sent
    bad = [e.to_dict() for e in skipped]
    bad[0]["t"] += 7  # altered after signing
    s.post(bad)
    assert metric(client, "openproctor_ingest_batches_total", outcome="stored") == stored + 1
    assert metric(client, "openproctor_ingest_events_total") == events + 3
    assert metric(client, "openproctor_ingest_rejections_total", reason="sequence_gap") == gaps + 1
    assert metric(client, "openproctor_ingest_rejections_total", reason="bad_mac") == forged + 1


def test_latency_is_labelled_by_route_template_not_session(student):
    s = student()
    s.post([s.opening()])
    text = s.client.get("/metrics").text
    assert 'route="/api/v1/sessions/{session_id}/events"' in text
    assert s.session_id not in text
    assert "openproctor_sessions_started_total" in text


def test_json_log_lines_carry_context(caplog, student):
    s = student()
    s.post([s.opening()])
    bad = [e.to_dict() for e in s.heartbeats(1)]
    bad[0]["t"] += 3
    with caplog.at_level(logging.WARNING, logger="openproctor"):
        s.post(bad)
    (record,) = [r for r in caplog.records if r.getMessage() == "integrity failure"]
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "warning" and line["session"] == s.session_id
    assert line["reason"] == "bad_mac" and line["seq"] == 1
    assert s.grant["signing_key"] not in json.dumps(line)
