"""Exam policies in the dashboard: every reviewer reads them; administrators edit the staging
version (validated by the core, errors next to the field) and promote it to production after
seeing the differences."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from openproctor.core import FLAG_TYPES, PolicyError, parse_policy, policy_from_lti_custom
from openproctor.core import Policy as CorePolicy
from openproctor.core.policy import CONSENT_MODES, PREVENTABLE

from ...access import may_edit_exam, may_read_exam, sees_accommodations
from ...errors import NotFound, OpenproctorError
from ...policies import diff
from ...storage.rows import ExamPolicies
from .guard import View, dashboard

FIELDS = ("trust_threshold", "log_retention_days", "heartbeat_seconds")


@dashboard()
async def policy_list(view: View) -> Response:
    exams = await view.run(view.state.store.policies.overview, view.reviewer.institution_id)
    contexts = await view.run(view.state.store.policies.exam_contexts, view.reviewer.institution_id)
    readable = [e for e in exams if may_read_exam(view.reviewer, contexts.get(e.exam_id))]
    return await view.render("dashboard/policies.html", exams=readable)


async def readable_exam(view: View, exam_id: str) -> tuple[ExamPolicies | None, str | None]:
    """The exam's policies if this reviewer may read them (else None, answered as 404), and
    the course the exam belongs to."""
    record = await view.run(view.state.store.policies.exam, view.reviewer.institution_id, exam_id)
    context = record.context_id if record is not None else None
    if record is None or not may_read_exam(view.reviewer, context):
        return None, context
    return await view.run(view.state.policies.exam, view.reviewer.institution_id, exam_id), context


HIDDEN = "(hidden: accommodations are shown to administrators and the course's instructors)"


def _values(policy: CorePolicy) -> dict[str, Any]:
    """A policy as the form's values (strings), to prefill the form."""
    return {
        "exam_id": policy.exam_id,
        "trust_threshold": f"{policy.trust_threshold:g}",
        "attention_threshold": ""
        if policy.attention_threshold is None
        else f"{policy.attention_threshold:g}",
        "log_retention_days": str(policy.log_retention_days),
        "heartbeat_seconds": str(policy.heartbeat_seconds),
        "allow_mobile": policy.allow_mobile,
        "flags_enabled": list(policy.flags_enabled),
        "weights": {flag: f"{w:g}" for flag, w in policy.weights.items()},
        "accommodations": "\n".join(
            f"{candidate}: "
            + ", ".join(
                [f for f in FLAG_TYPES if f in acc.exempt_flags]
                + ([f"breaks {acc.breaks.count}x{acc.breaks.max_minutes}"] if acc.breaks else [])
            )
            + (f"  # {acc.note}" if acc.note else "")
            for candidate, acc in sorted(policy.accommodations.items())
        ),
        "consent": policy.consent,
        "visible_warnings": policy.visible_warnings,
        "breaks_count": str(policy.breaks.count),
        "breaks_max_minutes": str(policy.breaks.max_minutes),
        "prevent": list(policy.prevent),
        "explanation_days": str(policy.explanation_days),
    }


def _breaks_item(item: str, where: str, errors: dict[str, str]) -> dict[str, int] | None:
    """``breaks 3x20`` in an accommodation line: 3 breaks of up to 20 minutes."""
    count, times, minutes = item.removeprefix("breaks").strip().partition("x")
    if not times or not count.strip().isdigit() or not minutes.strip().isdigit():
        errors["accommodations"] = f"{where}: write breaks as 'breaks 3x20' (3 of up to 20 min)"
        return None
    return {"count": int(count), "max_minutes": int(minutes)}


def _accommodations(text: str, errors: dict[str, str]) -> dict[str, Any]:
    """One line per candidate: ``candidate-id: flag, flag  # note``."""
    out: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        entry, _, note = line.partition("#")
        candidate, colon, flags = entry.partition(":")
        if not colon or not candidate.strip():
            errors["accommodations"] = (
                f"line {number} must look like 'candidate-id: focus_loss, idle  # note'"
            )
            continue
        items = [f.strip() for f in flags.split(",") if f.strip()]
        entry_out: dict[str, Any] = {
            "exempt_flags": [f for f in items if not f.startswith("breaks")],
            "note": note.strip(),
        }
        for item in items:
            if item.startswith("breaks"):
                breaks = _breaks_item(item, f"line {number}", errors)
                if breaks is not None:
                    entry_out["breaks"] = breaks
        out[candidate.strip()] = entry_out
    return out


def policy_from_form(
    view: View, exam_id: str
) -> tuple[CorePolicy | None, dict[str, Any], dict[str, str]]:
    """The staging policy the form describes, the values to show again, and errors per field.
    Validation is the core's (the same as for the API and LTI custom parameters)."""
    values: dict[str, Any] = {name: view.field(name) for name in FIELDS}
    values.update(
        exam_id=exam_id,
        allow_mobile=view.field("allow_mobile") == "true",
        flags_enabled=view.fields("flags_enabled"),
        weights={f: view.field(f"weights.{f}") for f in FLAG_TYPES if view.field(f"weights.{f}")},
        accommodations=str(view.form.get("accommodations", "")),
        attention_threshold=view.field("attention_threshold"),
        consent=view.field("consent") or "required",
        visible_warnings=view.field("visible_warnings") == "true",
        breaks_count=view.field("breaks_count") or "0",
        breaks_max_minutes=view.field("breaks_max_minutes") or "10",
        prevent=view.fields("prevent"),
        explanation_days=view.field("explanation_days") or "7",
    )
    errors: dict[str, str] = {}
    for name in FIELDS:
        if not values[name]:
            errors[name] = "is required"
    accommodations = _accommodations(values["accommodations"], errors)
    if errors:
        return None, values, errors
    custom = {
        "trust_threshold": values["trust_threshold"],
        "log_retention_days": values["log_retention_days"],
        "heartbeat_seconds": values["heartbeat_seconds"],
        "allow_mobile": "true" if values["allow_mobile"] else "false",
        "flags_enabled": ",".join(values["flags_enabled"]),
        "weights": ",".join(f"{flag}:{w}" for flag, w in values["weights"].items()),
        "consent": values["consent"],
        "visible_warnings": "true" if values["visible_warnings"] else "false",
        "breaks": f"{values['breaks_count']}:{values['breaks_max_minutes']}",
        "prevent": ",".join(values["prevent"]),
        "explanation_days": values["explanation_days"],
    }
    if values["attention_threshold"]:  # left empty: the default (docs/core.md)
        custom["attention_threshold"] = values["attention_threshold"]
    try:
        base = parse_policy(
            {"exam_id": exam_id, "accommodations": accommodations, "environment": "staging"}
        )
        return policy_from_lti_custom(custom, base), values, errors
    except PolicyError as exc:
        nested = exc.field.startswith(("accommodations", "breaks"))
        errors[exc.field.split(".")[0] if nested else exc.field] = str(exc)
        return None, values, errors


async def _edit_page(
    view: View,
    exam_id: str | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    notice: str = "",
    promote_error: str = "",
    status: int = 200,
    access_code_error: str = "",
) -> Response:
    exam = versions = None
    gated = False
    changes: list[tuple[str, str, str]] = []
    editable = view.reviewer.role == "admin"
    if exam_id is not None:
        exam, context = await readable_exam(view, exam_id)
        versions = await view.run(
            view.state.store.policies.versions, view.reviewer.institution_id, exam_id
        )
        if exam is not None and exam.staging is not None:
            changes = diff(exam.production.policy if exam.production else None, exam.staging.policy)
        editable = may_edit_exam(view.reviewer, context)
        gated = await view.run(view.state.access_codes.gated, view.reviewer.institution_id, exam_id)
        if not sees_accommodations(view.reviewer, context):
            values = {**values, "accommodations": HIDDEN}
            changes = [c for c in changes if c[0] != "accommodations"]
    return await view.render(
        "dashboard/policy.html",
        status=400 if errors else status,
        exam_id=exam_id,
        exam=exam,
        versions=versions or [],
        changes=changes,
        values=values,
        errors=errors or {},
        flag_types=FLAG_TYPES,
        consent_modes=CONSENT_MODES,
        preventable=PREVENTABLE,
        notice=notice,
        promote_error=promote_error,
        editable=editable,
        gated=gated,
        access_code_error=access_code_error,
    )


@dashboard()
async def policy_page(view: View) -> Response:
    exam_id = view.request.path_params["exam_id"]
    exam, _ = await readable_exam(view, exam_id)
    if exam is None:
        return await view.render("dashboard/not_found.html", status=404, what="exam policy")
    shown = exam.staging or exam.production
    assert shown is not None
    notice = {
        "saved": "Saved to staging.",
        "promoted": "Promoted to production.",
        "access_code": "The access code was saved.",
    }.get(view.request.query_params.get("done", ""), "")
    return await _edit_page(view, exam_id, _values(shown.policy), notice=notice)


@dashboard(admin=True)
async def new_policy_page(view: View) -> Response:
    return await _edit_page(view, None, _values(CorePolicy(exam_id="")) | {"exam_id": ""})


@dashboard(admin=True, post=True)
async def create_policy(view: View) -> Response:
    exam_id = view.field("exam_id")
    exists = await view.run(view.state.policies.exam, view.reviewer.institution_id, exam_id)
    policy, values, errors = policy_from_form(view, exam_id)
    if exists is not None:
        errors["exam_id"] = f"exam {exam_id!r} already has a policy: edit it from the list"
    if policy is None or errors:
        return await _edit_page(view, None, values, errors)
    return await _save(view, policy)


async def edit_forbidden(view: View) -> Response:
    return await view.render(
        "dashboard/forbidden.html",
        status=403,
        reason="This policy is changed by the institution's administrators and the instructor "
        "of the exam's course only.",
    )


async def _refused_edit(view: View, exam_id: str) -> Response | None:
    """404 for an exam this reviewer cannot read, 403 for one they may not change, else None."""
    exam, context = await readable_exam(view, exam_id)
    if exam is None:
        return await view.render("dashboard/not_found.html", status=404, what="exam policy")
    if not may_edit_exam(view.reviewer, context):
        return await edit_forbidden(view)
    return None


@dashboard(post=True)
async def save_policy(view: View) -> Response:
    exam_id = view.request.path_params["exam_id"]
    refused = await _refused_edit(view, exam_id)
    if refused is not None:
        return refused
    policy, values, errors = policy_from_form(view, exam_id)
    if policy is None:
        return await _edit_page(view, exam_id, values, errors)
    return await _save(view, policy)


async def _save(view: View, policy: CorePolicy) -> Response:
    await view.run(view.state.policies.save_staging, view.reviewer.institution_id, policy, view.who)
    return view.redirect("dashboard:policy", "?done=saved", exam_id=policy.exam_id)


@dashboard(post=True)
async def promote(view: View) -> Response:
    exam_id = view.request.path_params["exam_id"]
    refused = await _refused_edit(view, exam_id)
    if refused is not None:
        return refused
    version = view.field("version")
    try:
        await view.run(
            view.state.policies.promote,
            view.reviewer.institution_id,
            exam_id,
            int(version) if version.isdigit() else -1,
            view.who,
        )
    except OpenproctorError as exc:
        if isinstance(exc, NotFound):
            return await view.render("dashboard/not_found.html", status=404, what="exam policy")
        exam = await view.run(view.state.policies.exam, view.reviewer.institution_id, exam_id)
        assert exam is not None and exam.staging is not None
        return await _edit_page(
            view, exam_id, _values(exam.staging.policy), promote_error=exc.message, status=409
        )
    return view.redirect("dashboard:policy", "?done=promoted", exam_id=exam_id)


@dashboard(post=True)
async def set_access_code(view: View) -> Response:
    """Set or remove the exam's access code (who may change the policy may change it)."""
    exam_id = view.request.path_params["exam_id"]
    refused = await _refused_edit(view, exam_id)
    if refused is not None:
        return refused
    try:
        await view.run(
            view.state.access_codes.set,
            view.reviewer.institution_id,
            exam_id,
            view.field("access_code"),
            view.who,
        )
    except OpenproctorError as exc:
        exam, _ = await readable_exam(view, exam_id)
        assert exam is not None
        shown = exam.staging or exam.production
        assert shown is not None
        return await _edit_page(
            view, exam_id, _values(shown.policy), access_code_error=exc.message, status=400
        )
    return view.redirect("dashboard:policy", "?done=access_code", exam_id=exam_id)
