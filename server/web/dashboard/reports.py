"""Reports in the dashboard: per exam or for the whole institution (an LTI instructor: their
course), with the score histogram, flag rates, review outcomes, the threshold calibration
and a CSV export. Numbers come from reports.py; charts from charts.py."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

from starlette.responses import Response

from ...access import may_edit_exam, may_read_exam
from ...integrity import integrity_label
from ...reports import Report, build_report, csv_rows
from .. import charts
from .guard import View, dashboard
from .policies import edit_forbidden, readable_exam


async def _report(view: View, exam_id: str) -> Report:
    """The report of one exam (calibrated against its production threshold) or of all."""
    reviewer = view.reviewer
    rows = await view.run(
        view.state.store.sessions.for_report,
        reviewer.institution_id,
        context_id=reviewer.context_id,
        exam_id=exam_id or None,
    )
    current = None
    if exam_id:
        exam = await view.run(view.state.policies.exam, reviewer.institution_id, exam_id)
        if exam is not None and exam.production is not None:
            current = exam.production.policy.trust_threshold
    report: Report = await view.run(build_report, rows, current)
    return report


def _calibration_chart(report: Report) -> object:
    c = report.calibration
    xs = [float(t) for t in c.thresholds]
    total = max(c.scored, 1)
    series = [
        charts.Series("sessions flagged", [f / total for f in c.flagged], charts.ACCENT),
        charts.Series(
            "violations caught", [x / max(c.confirmed, 1) for x in c.caught], charts.GOOD
        ),
        charts.Series(
            "cleared but flagged",
            [x / max(c.cleared, 1) for x in c.false_flags],
            charts.BAD,
            dashed=True,
        ),
    ]
    markers = []
    if c.current is not None:
        markers.append((c.current, f"current {c.current:g}", charts.INK))
    if c.recommended is not None:
        markers.append((c.recommended, f"recommended {c.recommended:g}", charts.GOOD))
    return charts.curves(
        xs, series, markers, title="What each threshold would have done", x_label="threshold"
    )


@dashboard()
async def report_page(view: View) -> Response:
    exam_id = view.request.query_params.get("exam", "").strip()
    report = await _report(view, exam_id)
    current = report.calibration.current
    calibration = report.calibration
    return await view.render(
        "dashboard/report.html",
        exam_id=exam_id,
        exams=await readable_exams(view),
        report=report,
        histogram=charts.histogram(report.histogram, report.edges, current)
        if report.scored
        else None,
        curve=_calibration_chart(report) if report.scored else None,
        at_current=calibration.at(current) if current is not None else None,
        at_recommended=calibration.at(calibration.recommended)
        if calibration.recommended is not None
        else None,
        error=view.request.query_params.get("error", ""),
    )


@dashboard()
async def report_csv(view: View) -> Response:
    exam_id = view.request.query_params.get("exam", "").strip()
    report = await _report(view, exam_id)
    attempts = await view.run(view.state.store.lms.attempts, [r.id for r in report.rows])
    visibility = await view.run(view.state.identities.visibility, view.reviewer.institution_id)
    buffer = io.StringIO()
    rows = csv_rows(report.rows, integrity_label, attempts, identities=visibility == "always")
    csv.writer(buffer).writerows(rows)
    await view.audit("report.exported", f"exam:{exam_id or '*'}", {"rows": len(report.rows)})
    return csv_download(buffer.getvalue(), f"openproctor-{exam_id or view.reviewer.institution_id}")


def csv_download(text: str, name: str) -> Response:
    """A CSV attachment named ``name``.csv (only safe characters kept), never cached."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name + ".csv")
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{safe}"',
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
        },
    )


async def readable_exams(view: View) -> list[str]:
    """The exams of the institution this reviewer may read (an instructor: their course's)."""
    exams = await view.run(view.state.store.policies.overview, view.reviewer.institution_id)
    contexts = await view.run(view.state.store.policies.exam_contexts, view.reviewer.institution_id)
    return [e.exam_id for e in exams if may_read_exam(view.reviewer, contexts.get(e.exam_id))]


@dashboard(post=True)
async def apply_threshold(view: View) -> Response:
    """Put the recommended threshold into the exam's staging policy (promotion stays a
    separate, reviewed step): administrators and the instructor of the exam's course."""
    exam_id = view.field("exam")
    policies = view.state.policies
    exam, context = await readable_exam(view, exam_id)
    if exam is not None and not may_edit_exam(view.reviewer, context):
        return await edit_forbidden(view)
    report = await _report(view, exam_id)
    recommended = report.calibration.recommended
    if exam is None or recommended is None:
        suffix = f"?exam={exam_id}&error=no-recommendation#calibration"
        return view.redirect("dashboard:reports", suffix)
    base = exam.staging or exam.production
    assert base is not None
    who = f"{view.who}, calibration"
    await view.run(
        policies.save_staging,
        view.reviewer.institution_id,
        replace(base.policy, trust_threshold=recommended),
        who,
    )
    return view.redirect("dashboard:policy", "?done=saved#promotion", exam_id=exam_id)
