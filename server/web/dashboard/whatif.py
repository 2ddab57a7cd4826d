"""What-if rescoring in the dashboard (server/whatif.py): an exam's finished sessions under its
staging policy, what would change, which decisions it would contradict; adopting it (those who
may change the exam's policy)."""

from __future__ import annotations

from starlette.responses import Response

from ...access import may_edit_exam
from ...errors import OpenproctorError
from .guard import View, dashboard
from .policies import readable_exam
from .reports import readable_exams


async def _page(
    view: View, exam_id: str, status: int = 200, notice: str = "", error: str = ""
) -> Response:
    exam, context = await readable_exam(view, exam_id) if exam_id else (None, None)
    rescored = []
    if exam is not None and exam.staging is not None:
        rescored = await view.run(
            view.state.whatif.compare,
            view.reviewer.institution_id,
            exam_id,
            exam.staging.policy,
            view.reviewer.context_id,
        )
    changed = [r for r in rescored if r.changes]
    return await view.render(
        "dashboard/whatif.html",
        status=status,
        exam_id=exam_id,
        exams=await readable_exams(view),
        exam=exam,
        rescored=rescored,
        changed=changed,
        contradicted=[r for r in rescored if r.contradicts],
        may_adopt=exam is not None and may_edit_exam(view.reviewer, context),
        notice=notice,
        error=error,
    )


@dashboard()
async def whatif_page(view: View) -> Response:
    exam_id = view.request.query_params.get("exam", "").strip()[:128]
    return await _page(view, exam_id)


@dashboard(post=True)
async def adopt(view: View) -> Response:
    exam_id = view.field("exam")
    exam, context = await readable_exam(view, exam_id)
    if exam is None:
        return await view.render("dashboard/not_found.html", status=404)
    if not may_edit_exam(view.reviewer, context):
        return await _page(
            view, exam_id, 403, error="Only who may change this exam's policy may adopt it."
        )
    if exam.staging is None or str(exam.staging.version) != view.field("version"):
        return await _page(
            view,
            exam_id,
            409,
            error="The staging policy changed since this page was shown: look again.",
        )
    try:
        count = await view.run(
            view.state.whatif.adopt,
            view.reviewer.institution_id,
            exam_id,
            exam.staging.policy,
            exam.staging.version,
            view.reviewer.context_id,
            view.who,
        )
    except OpenproctorError as exc:
        return await _page(view, exam_id, 409, error=exc.message)
    return await _page(
        view, exam_id, notice=f"Adopted: {count} session(s) have a new score of record."
    )
