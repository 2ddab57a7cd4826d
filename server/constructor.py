"""Constructor Proctor compatibility: its exam settings mapped onto our policy, and its result
callback (``review_url``) built from a session and sent, queued durably with the calls back to
the LMS (lti/calls.py sends them; the queue is theirs).

docs/constructor-migration.md has the tables: which rule switches off which flag, which
scoreConfig key weighs which flag, how scores and thresholds translate, which warning names
are used.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import jwt
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from openproctor.core import Policy, parse_policy
from openproctor.core.policy import MAX_WEIGHT

from .policies import PolicyStore
from .security import claims
from .security.keys import Keyring
from .security.outbound import OutboundGuard
from .security.tokens import check_exam_id, parse_date
from .storage import Storage, schema
from .storage.rows import Integration, SessionRow
from .webhooks import check_url

#: Rules that allow something, and the flags they stop counting (rules left out or false, and
#: rules with no browser-side flag, change nothing).
RULE_FLAGS: Mapping[str, tuple[str, ...]] = {
    "allow_to_use_websites": ("tab_switch", "focus_loss"),
    "allow_to_use_messengers": ("tab_switch", "focus_loss"),
    "allow_to_use_excel": ("focus_loss",),
}
#: scoreConfig multipliers with a browser-side equivalent, and the flags they weigh.
SCORE_FLAGS: Mapping[str, tuple[str, ...]] = {
    "active_window_changed": ("tab_switch", "focus_loss"),
    "changeActiveWindowOnComputer": ("tab_switch", "focus_loss"),
}
#: Our flags under Constructor's warning names where one means the same; ours otherwise.
WARNING_TYPES: Mapping[str, str] = {
    "tab_switch": "WARNING_CHANGE_ACTIVE_WINDOW_ON_COMPUTER",
    "focus_loss": "WARNING_CHANGE_ACTIVE_WINDOW_ON_COMPUTER",
    "multiple_displays": "WARNING_EXTRA_DISPLAY",
    "network_offline": "WARNING_TIMEOUT",
}
TITLES: Mapping[str, str] = {
    "WARNING_CHANGE_ACTIVE_WINDOW_ON_COMPUTER": "Left the exam window or tab",
    "WARNING_EXTRA_DISPLAY": "Extra display connected",
    "WARNING_TIMEOUT": "Went offline",
    "fullscreen_exit": "Left full screen",
    "devtools_open": "Developer tools possibly opened",
    "copy_paste": "Copied, cut or pasted",
    "print_attempt": "Tried to print",
    "context_menu": "Opened the context menu",
    "idle": "Was idle",
}
#: The most warning entries one result carries (a 20,000-event log must not make a huge body).
MAX_WARNINGS = 1000
CONCLUSIONS = {"cleared": "accepted", "violation_confirmed": "rejected"}
#: How long the callback's Authorization token is valid (Constructor's guide: now + 30 s).
TOKEN_SECONDS = 30
SERVICE = "review"


def apply_claims(policy: Policy, claims: Mapping[str, Any]) -> Policy:
    """A session's policy under its start token's ``rules``, ``scoreConfig``,
    ``disabledWorkers`` and ``allowMobileDevices``: rules (and ``ping``) switch flags off; a
    multiplier multiplies the exam's weight (Constructor's default 1 changes nothing);
    ``cheater_level`` sets the threshold."""
    return _mapped(policy, claims, multiply=True)


def apply_exam(policy: Policy, claims: Mapping[str, Any]) -> Policy:
    """An exam's policy under the exam API's settings: as :func:`apply_claims`, except that a
    multiplier sets the weight (the exam's settings are declared whole each time)."""
    return _mapped(policy, claims, multiply=False)


def _mapped(policy: Policy, claims: Mapping[str, Any], multiply: bool) -> Policy:
    rules = claims.get("rules", {})
    allowed = {f for rule, flags in RULE_FLAGS.items() if rules.get(rule) for f in flags}
    weights = dict(policy.weights)
    score = claims.get("scoreConfig", {})
    for key, flags in SCORE_FLAGS.items():
        if key in score:
            for flag in flags:
                base = policy.weight(flag) if multiply else 1.0
                weights[flag] = min(MAX_WEIGHT, base * score[key])
    changed = replace(policy, flags_enabled=policy.flags_enabled - allowed, weights=weights)
    level = score.get("cheater_level", score.get("cheaterLevel"))
    if level is not None:
        trust = round(1 - level / 100, 2)
        attention = changed.attention_threshold
        changed = replace(
            changed,
            trust_threshold=trust,
            attention_threshold=attention if attention is None or attention >= trust else None,
        )
    if "ping" in claims.get("disabledWorkers", ()):  # no heartbeat: its gaps do not count
        changed = replace(changed, flags_enabled=changed.flags_enabled - {"sdk_gap"})
    if "allowMobileDevices" in claims:
        changed = replace(changed, allow_mobile=bool(claims["allowMobileDevices"]))
    return changed


def constructor_score(trust: float) -> int:
    """Our trust score (1 = nothing seen) on Constructor's scale: 0 to 100, higher is more
    suspicious."""
    return round(100 * (1 - trust))


def thresholds(policy: Policy) -> dict[str, int]:
    """``threshold{attention, rejected}`` on Constructor's scale."""
    return {
        "attention": constructor_score(policy.attention),
        "rejected": constructor_score(policy.trust_threshold),
    }


def iso(moment: float | None) -> str | None:
    return None if moment is None else datetime.fromtimestamp(moment, UTC).isoformat()


def status(row: SessionRow) -> str:
    """Constructor's session status: ``started`` while it runs, ``finished`` after."""
    return "started" if row.status == "active" and row.finished_at is None else "finished"


def conclusion(row: SessionRow, policy: Policy, outcome: str | None) -> str:
    """accepted / rejected by a reviewer's decision; without one, ``auto`` proctoring
    concludes from the band (yellow and broken logs stay unknown), other modes wait."""
    if outcome in CONCLUSIONS:
        return CONCLUSIONS[outcome]
    claims = row.claims or {}
    automatic = outcome is None and claims.get("proctoring") in ("auto", "identification")
    if automatic and row.score is not None and row.finished_at and not row.integrity_reason:
        return {"green": "accepted", "red": "rejected"}.get(policy.band(row.score), "unknown")
    return "unknown"


def warning_entries(
    row: SessionRow, policy: Policy, events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each counted flag event as a Constructor warning (type, start, end, cyber)."""
    counted = policy.counted_flags(row.id)
    found: list[dict[str, Any]] = []
    for event in events:
        kind = event["type"]
        if kind not in counted:
            continue
        data = event["data"]
        start = row.started_at + event["t"] / 1000
        found.append(
            {
                "type": WARNING_TYPES.get(kind, kind),
                "start": iso(start),
                "end": iso(start + data.get("duration_ms", 0) / 1000),
                "cyber": True,
            }
        )
        if len(found) >= MAX_WARNINGS:
            break
    return found


def result_body(
    row: SessionRow,
    policy: Policy,
    events: list[dict[str, Any]],
    outcome: str | None,
    final: bool,
    report_url: str,
) -> dict[str, Any]:
    """The body Constructor POSTs to ``review_url``, from the session as it is now."""
    listed = warning_entries(row, policy, events)
    reasons = [
        line["explanation"] for line in row.breakdown if line.get("counted") and line["penalty"]
    ]
    if row.integrity_reason:
        reasons.insert(0, f"the signed log failed verification: {row.integrity_reason}")
    return {
        "accountId": str(row.user.get("accountId", "")),
        "sessionId": row.external_id,
        "conclusion": conclusion(row, policy, outcome),
        "score": constructor_score(row.score if row.score is not None else 1.0),
        "threshold": thresholds(policy),
        "band": row.band,
        "warnings": listed,
        "warningTitles": {w["type"]: {"en": TITLES.get(w["type"], w["type"])} for w in listed},
        "sessionStart": iso(row.started_at),
        "sessionEnd": iso(row.finished_at),
        "comment": "; ".join(reasons),
        "reportUrl": report_url,
        "final": final,
        "openproctor": {
            "session_id": row.id,
            "trust_score": row.score,
            "integrity": "failed" if row.integrity_reason else "verified",
            "not_done": row.warnings,
        },
    }


def callback_token(secret: str, now: float) -> str:
    """``Authorization: JWT <token>``: HS256 over ``{"exp": now + 30 s}`` with the secret."""
    return jwt.encode({"exp": int(now) + TOKEN_SECONDS}, secret, algorithm="HS256")


@dataclass
class ResultCallbacks:
    """What a session's changes queue for its integration's ``review_url``: the result when it
    finishes (or its signed log fails verification), again on each later change, and once,
    marked final, after a reviewer's decision (nothing after that). Only sessions started from
    a start token (not LTI launches)."""

    store: Storage

    def session_changed(self, conn: Connection, row: SessionRow, fields: Mapping[str, Any]) -> None:
        finished = row.finished_at is not None or fields.get("finished_at") is not None
        broken = fields.get("status") == "integrity_failed" != row.status  # known at once
        changed = any(
            fields.get(name) is not None and fields[name] != getattr(row, name)
            for name in ("finished_at", "score_milli", "status", "complete")
        )
        if row.claims_json is None or not (finished or broken) or not changed:
            return
        self._queue(conn, row.id, row.integration_id, "result")

    def decided(self, conn: Connection, session_id: str) -> None:
        d, s = schema.decisions, schema.sessions
        found = conn.execute(
            sa.select(d.c.outcome, s.c.integration_id, s.c.claims_json)
            .join(s, s.c.id == d.c.session_id)
            .where(d.c.session_id == session_id)
            .order_by(d.c.id.desc())
            .limit(1)
        ).first()
        if found is None or found.claims_json is None:
            return
        action = "final" if found.outcome in CONCLUSIONS else "result"
        self._queue(conn, session_id, int(found.integration_id), action)

    def _queue(self, conn: Connection, session_id: str, integration_id: int, action: str) -> None:
        i = schema.integrations
        url = conn.execute(sa.select(i.c.review_url).where(i.c.id == integration_id)).scalar()
        if not url or self.store.lms.queued(conn, session_id, SERVICE, "final"):
            return
        for older in ("result", "final"):
            self.store.lms.supersede(conn, session_id, SERVICE, older)
        self.store.lms.queue(conn, session_id, SERVICE, action, time.time())


@dataclass
class ResultSender:
    """Sends one queued result (called by lti/calls.py's sender for the ``review`` calls)."""

    store: Storage
    keyring: Keyring
    guard: OutboundGuard
    public_origin: str = ""

    def send(self, call: Mapping[str, Any]) -> tuple[int, str | None, str]:
        """POST the result; the HTTP status, the start of the answer, the body sent. Raises
        LookupError when the session or its review_url is gone (nothing to send to)."""
        row = self.store.sessions.get(call["session_id"])
        integration = self.store.integrations.by_id(row.integration_id, fresh=True) if row else None
        if row is None or integration is None or not integration.review_url:
            raise LookupError("the session or its integration's review_url is gone")
        policy = row.parsed_policy
        decisions = self.store.reviewers.decisions(row.id)
        body = result_body(
            row,
            policy,
            self.store.sessions.events(row.id) if row.purged_at is None else [],
            decisions[0]["outcome"] if decisions else None,
            call["action"] == "final",
            f"{self.public_origin}/dashboard/sessions/{row.id}",
        )
        secret = self.keyring.decrypt(integration.secret_enc)
        content = json.dumps(body).encode()
        response = self.guard.request(
            "POST",
            integration.review_url,
            headers={
                "content-type": "application/json",
                "authorization": "JWT " + callback_token(secret, time.time()),
            },
            content=content,
        )
        answer = response.content[:300].decode("utf-8", "replace") or None
        return response.status_code, answer, content.decode()


EXAM_REQUIRED = ("accountId", "accountName", "examId", "examName")
EXAM_DATES = ("startDate", "endDate")


def save_exam(
    store: Storage, policies: PolicyStore, integration: Integration, body: Mapping[str, Any]
) -> dict[str, Any]:
    """The exam API: check the body as the start token's claims are checked, map its settings
    onto the exam's newest policy (staging if there is one, else production, else the
    default) and store the result as the next staging version, for a person to promote."""
    checked = claims.check(body, EXAM_REQUIRED)
    for name in EXAM_DATES:
        if name in checked:
            parse_date(checked, name)
    warnings = claims.not_done(body, checked)
    if integration.strict_claims and warnings:
        raise claims.UnsupportedClaim(warnings)
    exam_id = check_exam_id(checked["examId"])
    base = parse_policy({"exam_id": exam_id})
    institution = integration.institution_id
    for environment in ("staging", "production"):
        found = store.policies.current(institution, exam_id, environment)
        if found is not None:
            base = found[2]
            break
    version = policies.save_staging(
        institution, apply_exam(base, checked), f"integration:{integration.name}"
    )
    return {
        "examId": exam_id,
        "policy_version": version,
        "environment": "staging",
        "warnings": [w.to_dict() for w in warnings],
    }


def configure(
    store: Storage,
    name: str,
    actor: str,
    review_url: str | None = None,
    strict_claims: bool | None = None,
) -> Integration:
    """Change an integration's Constructor settings (CLI and dashboard): ``review_url`` (""
    removes it) and ``strict_claims``. The URL is checked like a webhook's; the address guard
    checks it again at each send."""
    values: dict[str, Any] = {}
    if review_url is not None:
        values["review_url"] = check_url(review_url) if review_url.strip() else None
    if strict_claims is not None:
        values["strict_claims"] = strict_claims
    return store.integrations.configure(name, actor, **values)
