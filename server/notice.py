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
from openproctor.core.policy import PREVENTABLE
from openproctor.core.scoring import format_duration

from .i18n import DEFAULT, N_, translations
from .storage.rows import SessionRow

#: What each flag records, in the student's words.
RECORDS = {
    "tab_switch": N_("when you leave this exam's tab, and for how long"),
    "focus_loss": N_("when the exam window loses focus, and for how long"),
    "fullscreen_exit": N_("when you leave full screen, and for how long"),
    "devtools_open": N_("signs that the browser's developer tools were opened"),
    "copy_paste": N_("that you copied, cut or pasted (never what)"),
    "multiple_displays": N_("whether a second display is connected"),
    "network_offline": N_("when your connection drops, and for how long"),
    "print_attempt": N_("attempts to print the exam"),
    "context_menu": N_("opening the right-click menu"),
    "idle": N_("long periods without keyboard or mouse use"),
    "sdk_gap": N_("when proctoring stops reporting (a closed lid, a crashed tab)"),
}
ALWAYS = N_("your browser's name and version, your platform, and whether it is a phone or tablet")
NEVER = (
    N_("your camera, microphone or screen"),
    N_("what you type, and what you copy or paste"),
    N_("your face, your ID or any photo"),
    N_("other tabs, their addresses or their content"),
)
BLOCKED = {
    "copy": N_("copying and cutting"),
    "paste": N_("pasting"),
    "context_menu": N_("the right-click menu"),
    "print": N_("printing"),
}


def _digest(body: Mapping[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def build_notice(row: SessionRow) -> dict[str, Any]:
    """The notice for one session, in its language: {lang, title, sections: [{heading,
    items}], links, hash}. ``hash`` covers everything else, so the consent event names exactly
    the text the student was shown."""
    lang = row.lang or DEFAULT
    t = translations(lang)
    _ = t.gettext
    policy = parse_policy(row.policy)
    counted = policy.counted_flags(row.id)
    records = [_(RECORDS[f]) for f in FLAG_TYPES if f in counted] + [_(ALWAYS)]
    sections: list[dict[str, Any]] = [
        {"heading": _("What this exam records"), "items": records},
        {"heading": _("What is never recorded"), "items": [_(item) for item in NEVER]},
    ]
    rules = []
    if policy.prevent:
        blocked = [_(BLOCKED[p]) for p in PREVENTABLE if p in policy.prevent]
        rules.append(
            _("Turned off in this exam (each attempt is still recorded): %(actions)s.")
            % {"actions": ", ".join(blocked)}
        )
    allowance = policy.breaks_for(row.id)
    if allowance.count:
        rules.append(
            t.ngettext(
                "You may take %(count)s break of up to %(minutes)s minutes with the “Take a "
                "break” button: leaving the exam during a break is not counted.",
                "You may take %(count)s breaks of up to %(minutes)s minutes each with the “Take "
                "a break” button: leaving the exam during a break is not counted.",
                allowance.count,
            )
            % {"count": allowance.count, "minutes": allowance.max_minutes}
        )
    if policy.visible_warnings:
        rules.append(_("When something is recorded, a short message tells you so."))
    if rules:
        sections.append({"heading": _("During the exam"), "items": rules})
    days = policy.log_retention_days
    sections.append(
        {
            "heading": _("Who sees it, and for how long"),
            "items": [
                _(
                    "A reviewer at your institution may look at the log; the software decides "
                    "nothing about you on its own."
                ),
                t.ngettext(
                    "The log is kept for %(days)s day after the exam, then deleted.",
                    "The log is kept for %(days)s days after the exam, then deleted.",
                    days,
                )
                % {"days": days},
                _("You can see exactly what was recorded, at any time, on your record page."),
            ],
        }
    )
    links = {}
    agreement = (row.user or {}).get("userAgreementUrl") or ""
    if agreement:
        links["agreement"] = agreement
    body = {
        "lang": lang,
        "title": _("Before you start: %(exam)s") % {"exam": row.exam_name},
        "sections": sections,
        "links": links,
    }
    return {**body, "hash": _digest(body)}


def sdk_messages(row: SessionRow) -> dict[str, str]:
    """What the loader itself may have to tell the student after the grant, translated."""
    _ = translations(row.lang or DEFAULT).gettext
    return {
        "mobile_not_allowed": _(
            "This exam cannot be taken on a phone or tablet. Please open it on a computer."
        ),
    }


def consent_matches(row: SessionRow, event: Event | Mapping[str, Any]) -> bool:
    """Whether a consent event names the notice this session was given."""
    data = event.data if isinstance(event, Event) else event["data"]
    return bool(data.get("notice") == build_notice(row)["hash"])


def _clock(ms: int) -> str:
    minutes, seconds = divmod(ms // 1000, 60)
    return f"{minutes}:{seconds:02d}"


def student_actions(
    row: SessionRow, events: Iterable[Mapping[str, Any]], lang: str = DEFAULT
) -> list[str]:
    """What the student did through the panel, in words (``lang``: the reviewer's pages are
    English, the student's record page in their language): agreeing to the notice, and whether
    it is the notice this session was given; each declared break against the allowance."""
    _ = translations(lang).gettext
    policy = parse_policy(row.policy)
    allowance = policy.breaks_for(row.id)
    limit = allowance.max_minutes * 60_000
    notice = build_notice(row)["hash"]
    lines: list[str] = []
    breaks = 0
    for event in events:
        kind, data, t = event["type"], event["data"], event["t"]
        if kind == "consent":
            ours, agreed = data["notice"] == notice, data["mode"] == "required"
            if agreed and ours:
                text = _("At %(time)s the student agreed to the notice this session was given.")
            elif agreed:
                text = _(
                    "At %(time)s the student agreed to a notice other than this session's "
                    "(the policy or the texts changed)."
                )
            elif ours:
                text = _("At %(time)s the student was shown the notice this session was given.")
            else:
                text = _(
                    "At %(time)s the student was shown a notice other than this session's "
                    "(the policy or the texts changed)."
                )
            lines.append(text % {"time": _clock(t)})
        elif kind == "break_start":
            breaks += 1
        elif kind == "break_end":
            length = data["duration_ms"]
            values = {
                "number": breaks,
                "time": _clock(t),
                "duration": format_duration(length),
                "allowed": allowance.count,
                "minutes": allowance.max_minutes,
                "over": format_duration(max(0, length - limit)),
            }
            if breaks > allowance.count:
                text = _(
                    "Break %(number)s ended at %(time)s after %(duration)s: more breaks than the "
                    "%(allowed)s allowed, time away counted."
                )
            elif length > limit:
                text = _(
                    "Break %(number)s ended at %(time)s after %(duration)s: %(over)s over the "
                    "allowance, counted."
                )
            else:
                text = _(
                    "Break %(number)s ended at %(time)s after %(duration)s (allowed: up to "
                    "%(minutes)s min): time away not counted."
                )
            lines.append(text % values)
    return lines


#: The breakdown's words on the student's record page (the core's explain() is English).
PHRASES = {
    "tab_switch": N_("tab switched"),
    "focus_loss": N_("window lost focus"),
    "fullscreen_exit": N_("left full screen"),
    "devtools_open": N_("developer tools possibly opened"),
    "copy_paste": N_("copied, cut or pasted"),
    "multiple_displays": N_("extra display connected"),
    "network_offline": N_("went offline"),
    "print_attempt": N_("tried to print"),
    "context_menu": N_("opened the context menu"),
    "idle": N_("was idle"),
    "sdk_gap": N_("proctoring stopped reporting"),
}
WHY = {
    "accommodation": N_("accommodation"),
    "not enabled in the policy": N_("not enabled in the policy"),
}


def explain(line: Mapping[str, Any], lang: str) -> str:
    """One breakdown line in ``lang``, as core's FlagScore.explain() says it in English."""
    if lang == DEFAULT:
        return str(line.get("explanation", ""))
    t = translations(lang)
    _ = t.gettext
    count = int(line["count"])
    text = _(PHRASES[line["flag"]]) + " "
    text += (
        _("once")
        if count == 1
        else t.ngettext("%(count)s time", "%(count)s times", count) % {"count": count}
    )
    if line.get("duration_ms"):
        text += _(" for %(duration)s in total") % {"duration": format_duration(line["duration_ms"])}
    if line.get("excused_count"):
        text += _(" (and %(count)s during declared breaks, not counted)") % {
            "count": line["excused_count"]
        }
    if not line["counted"]:
        why = line.get("why_not_counted", "")
        return text + _(": not counted (%(why)s)") % {"why": _(WHY.get(why, why))}
    return text + _(": penalty %(penalty)s") % {"penalty": f"{line['penalty']:.2f}"}
