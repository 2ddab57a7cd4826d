"""The notice a student reads before the exam: what is recorded, what never is, how long the log
is kept and who reviews it. Built here from the session's effective policy (so it says exactly
what counts for this candidate), sent with the grant, rendered by the SDK panel, and bound to
the student's agreement: the signed ``consent`` event carries the SHA-256 of the notice shown,
which :func:`consent_matches` checks against the notice rebuilt from the stored session."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from openproctor.core import FLAG_TYPES, Event, parse_policy
from openproctor.core.scoring import format_duration

from .storage.rows import SessionRow

#: What each flag records, in the student's words.
RECORDS = {
    "tab_switch": "when you leave this exam's tab, and for how long",
    "focus_loss": "when the exam window loses focus, and for how long",
    "fullscreen_exit": "when you leave full screen, and for how long",
    "devtools_open": "signs that the browser's developer tools were opened",
    "copy_paste": "that you copied, cut or pasted (never what)",
    "multiple_displays": "whether a second display is connected",
    "network_offline": "when your connection drops, and for how long",
    "print_attempt": "attempts to print the exam",
    "context_menu": "opening the right-click menu",
    "idle": "long periods without keyboard or mouse use",
    "sdk_gap": "when proctoring stops reporting (a closed lid, a crashed tab)",
}
ALWAYS = "your browser's name and version, your platform, and whether it is a phone or tablet"
NEVER = (
    "your camera, microphone or screen",
    "what you type, and what you copy or paste",
    "your face, your ID or any photo",
    "other tabs, their addresses or their content",
)
BLOCKED = {
    "copy": "copying and cutting",
    "paste": "pasting",
    "context_menu": "the right-click menu",
    "print": "printing",
}


def _digest(body: Mapping[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def build_notice(row: SessionRow) -> dict[str, Any]:
    """The notice for one session: {lang, title, sections: [{heading, items}], links, hash}.
    ``hash`` covers everything else, so the consent event names exactly this text."""
    policy = parse_policy(row.policy)
    counted = policy.counted_flags(row.id)
    records = [RECORDS[f] for f in FLAG_TYPES if f in counted] + [ALWAYS]
    sections: list[dict[str, Any]] = [
        {"heading": "What this exam records", "items": records},
        {"heading": "What is never recorded", "items": list(NEVER)},
    ]
    rules = []
    if policy.prevent:
        blocked = [
            BLOCKED[p] for p in ("copy", "paste", "context_menu", "print") if p in policy.prevent
        ]
        rules.append("In this exam " + _and(blocked) + " are turned off; each attempt is recorded.")
    allowance = policy.breaks_for(row.id)
    if allowance.count:
        several = "breaks" if allowance.count > 1 else "break"
        rules.append(
            f"You may take {allowance.count} {several} of up to {allowance.max_minutes} minutes "
            "with the Take a break button: leaving the exam during a break is not counted."
        )
    if policy.visible_warnings:
        rules.append("When something is recorded, a short message tells you so.")
    if rules:
        sections.append({"heading": "During the exam", "items": rules})
    sections.append(
        {
            "heading": "Who sees it, and for how long",
            "items": [
                "A reviewer at your institution may look at the log; the software decides "
                "nothing about you on its own.",
                f"The log is kept for {policy.log_retention_days} days after the exam, "
                "then deleted.",
                "You can see exactly what was recorded, at any time, on your record page.",
            ],
        }
    )
    links = {}
    agreement = (row.user or {}).get("userAgreementUrl") or ""
    if agreement:
        links["agreement"] = agreement
    body = {
        "lang": "en",
        "title": f"Before you start: {row.exam_name}",
        "sections": sections,
        "links": links,
    }
    return {**body, "hash": _digest(body)}


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def consent_matches(row: SessionRow, event: Event | Mapping[str, Any]) -> bool:
    """Whether a consent event names the notice this session was given."""
    data = event.data if isinstance(event, Event) else event["data"]
    return bool(data.get("notice") == build_notice(row)["hash"])


def _clock(ms: int) -> str:
    minutes, seconds = divmod(ms // 1000, 60)
    return f"{minutes}:{seconds:02d}"


def student_actions(row: SessionRow, events: Iterable[Mapping[str, Any]]) -> list[str]:
    """What the student did through the panel, in words, for the reviewer and the student:
    agreeing to the notice (and whether it is the notice this session was given) and each
    declared break against the allowance."""
    policy = parse_policy(row.policy)
    allowance = policy.breaks_for(row.id)
    limit = allowance.max_minutes * 60_000
    notice = build_notice(row)["hash"]
    lines: list[str] = []
    breaks = 0
    for event in events:
        kind, data, t = event["type"], event["data"], event["t"]
        if kind == "consent":
            how = "agreed to the notice" if data["mode"] == "required" else "was shown the notice"
            which = (
                "the notice this session was given"
                if data["notice"] == notice
                else "a notice other than this session's (the policy or the texts changed)"
            )
            lines.append(f"At {_clock(t)} the student {how}: {which}.")
        elif kind == "break_start":
            breaks += 1
        elif kind == "break_end":
            length = data["duration_ms"]
            text = f"Break {breaks} ended at {_clock(t)} after {format_duration(length)}"
            if breaks > allowance.count:
                text += f": more breaks than the {allowance.count} allowed, time away counted."
            elif length > limit:
                text += f": {format_duration(length - limit)} over the allowance, counted."
            else:
                text += f" (allowed: up to {allowance.max_minutes} min): time away not counted."
            lines.append(text)
    return lines
