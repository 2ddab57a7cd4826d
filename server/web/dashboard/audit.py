"""The institution's audit log for its administrators: browse (newest first, by action) and
export as CSV. The chain is checked with ``openproctor audit verify`` (storage/audit.py)."""

from __future__ import annotations

import csv
import io
import json

from starlette.responses import Response

from ...security.validation import spreadsheet_cell
from ..pages import when
from .guard import View, dashboard
from .reports import csv_download

PAGE = 100


def _before(view: View) -> int | None:
    text = view.request.query_params.get("before", "")
    return int(text) if text.isdigit() and len(text) < 12 else None


@dashboard(admin=True)
async def audit_page(view: View) -> Response:
    action = view.request.query_params.get("action", "").strip()[:64]
    audit = view.state.store.audit
    institution = view.reviewer.institution_id
    entries = await view.run(audit.entries, institution, PAGE + 1, _before(view), action or None)
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    for entry in entries:
        entry["when"] = when(entry["at"])
        entry["detail_text"] = json.dumps(entry["detail"], sort_keys=True, ensure_ascii=False)
    return await view.render(
        "dashboard/audit.html",
        entries=entries,
        actions=await view.run(audit.actions, institution),
        action=action,
        older=entries[-1]["id"] if more and entries else None,
    )


@dashboard(admin=True)
async def audit_csv(view: View) -> Response:
    institution = view.reviewer.institution_id
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "at", "actor", "action", "target", "detail", "prev", "mac"])
    before = None
    while True:
        rows = await view.run(view.state.store.audit.entries, institution, 1000, before)
        for r in rows:
            detail = json.dumps(r["detail"], sort_keys=True, ensure_ascii=False)
            cells = [r["id"], when(r["at"]), r["actor"], r["action"], r["target"], detail]
            writer.writerow(
                [spreadsheet_cell(str(c)) for c in cells] + [r["prev"] or "", r["mac"] or ""]
            )
        if len(rows) < 1000:
            break
        before = int(rows[-1]["id"])
    await view.audit("audit.exported", f"institution:{institution}")
    return csv_download(buffer.getvalue(), f"openproctor-audit-{institution}")
