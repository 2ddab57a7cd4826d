"""What a session's signed log proves, in the words the dashboard, the reports and the student's
record use."""

from __future__ import annotations

from typing import Any


def integrity_label(row: Any) -> str:
    """verified, verified so far, verified but incomplete, client score mismatch, or integrity
    failed."""
    if row.integrity_reason:
        return "integrity failed"
    if row.score_mismatch:
        return "client score mismatch"
    if row.complete:
        return "verified"
    return "verified, incomplete" if row.status == "finished" else "verified so far"
