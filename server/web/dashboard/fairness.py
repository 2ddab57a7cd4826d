"""The fairness audit in the dashboard (server/fairness.py): per exam or for the whole
institution (an LTI instructor: their course), with a CSV export."""

from __future__ import annotations

from starlette.responses import Response

from ...fairness import DIMENSIONS, Fairness, build_fairness, csv_text, rows_of
from .guard import View, dashboard
from .reports import csv_download, readable_exams


async def _fairness(view: View, exam_id: str) -> Fairness:
    reviewer = view.reviewer
    found = await view.run(
        view.state.store.sessions.for_fairness,
        reviewer.institution_id,
        context_id=reviewer.context_id,
        exam_id=exam_id or None,
    )
    return await view.run(build_fairness, rows_of(found))


@dashboard()
async def fairness_page(view: View) -> Response:
    exam_id = view.request.query_params.get("exam", "").strip()[:128]
    fairness = await _fairness(view, exam_id)
    return await view.render(
        "dashboard/fairness.html",
        exam_id=exam_id,
        exams=await readable_exams(view),
        fairness=fairness,
        dimensions=[(key, label, fairness.of(key)) for key, label in DIMENSIONS],
    )


@dashboard()
async def fairness_csv(view: View) -> Response:
    exam_id = view.request.query_params.get("exam", "").strip()[:128]
    fairness = await _fairness(view, exam_id)
    name = f"openproctor-fairness-{exam_id or view.reviewer.institution_id}"
    await view.audit(
        "fairness.exported", f"exam:{exam_id or '*'}", {"groups": len(fairness.groups)}
    )
    return csv_download(csv_text(fairness), name)
