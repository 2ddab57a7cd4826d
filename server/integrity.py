"""What a session's signed log proves, in the words the dashboard, the reports and the student's
record use."""

from __future__ import annotations

from typing import Any

from .i18n import N_

#: A session's status in the student's words (the record page translates them).
STATUS_WORDS = {
    "active": N_("active"),
    "finished": N_("finished"),
    "integrity_failed": N_("integrity failed"),
}


def integrity_label(row: Any) -> str:
    """verified, verified so far, verified but incomplete, client score mismatch, or integrity
    failed (English; the record page translates it)."""
    if row.integrity_reason:
        return N_("integrity failed")
    if row.score_mismatch:
        return N_("client score mismatch")
    if row.complete:
        return N_("verified")
    return N_("verified, incomplete") if row.status == "finished" else N_("verified so far")
