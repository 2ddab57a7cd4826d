"""A person's data on request, for administrators: find one LMS user's sessions, download
everything stored about them (JSON), or erase it (server/people.py; both audited)."""

from __future__ import annotations

import json

from starlette.responses import Response

from ...errors import OpenproctorError
from .guard import View, dashboard


@dashboard(admin=True)
async def people_page(view: View) -> Response:
    user = view.request.query_params.get("user", "").strip()[:255]
    found = None
    if user:
        found = await view.run(view.state.store.people.export, view.reviewer.institution_id, user)
    return await view.render("dashboard/people.html", user=user, found=found)


@dashboard(admin=True)
async def people_export(view: View) -> Response:
    user = view.request.query_params.get("user", "").strip()[:255]
    try:
        found = await view.run(
            view.state.people.export, view.reviewer.institution_id, user, view.who
        )
    except OpenproctorError as exc:
        return await view.render("dashboard/people.html", status=400, user=user, error=exc.message)
    return Response(
        json.dumps(found, indent=1, sort_keys=True, default=str, ensure_ascii=False),
        media_type="application/json",
        headers={
            "content-disposition": 'attachment; filename="openproctor-person.json"',
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
        },
    )


@dashboard(admin=True, post=True)
async def people_erase(view: View) -> Response:
    user, confirm = view.field("user"), view.field("confirm")
    if not user or confirm != user:
        return await view.render(
            "dashboard/people.html",
            status=400,
            user=user,
            error="Type the LMS user id again to confirm the erasure: it cannot be undone.",
        )
    try:
        erased = await view.run(
            view.state.people.erase, view.reviewer.institution_id, user, view.who
        )
    except OpenproctorError as exc:
        return await view.render("dashboard/people.html", status=400, user=user, error=exc.message)
    return await view.render("dashboard/people.html", user="", erased=erased)
