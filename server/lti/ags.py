"""Results in the gradebook (LTI Assignment and Grade Services 2.0): the tool's own line item,
"Integrity review", on each exam link that opted in, and the score of record published to it:
``PendingManual`` while a review is open, ``FullyGraded`` with the reviewer's outcome once
decided (or at once when nothing was flagged)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..storage.rows import Attempt, SessionRow

LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPES = (LINEITEM_SCOPE, SCORE_SCOPE)
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
CONTAINER_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
LABEL = "Integrity review"
TAG = "openproctor-integrity"
#: Decisions that close a review (needs_discussion keeps it open).
DECIDED = {"cleared": "cleared", "violation_confirmed": "violation confirmed"}


def line_item(attempt: Attempt) -> dict[str, Any]:
    link_id = str(attempt.resource_link["id"])
    return {
        "scoreMaximum": 1,
        "label": LABEL,
        "tag": TAG,
        "resourceId": f"openproctor:{link_id}",
        "resourceLinkId": link_id,
    }


def is_ours(item: Any, attempt: Attempt) -> bool:
    """A line item of the platform's list that is this link's integrity review."""
    return (
        isinstance(item, dict)
        and item.get("tag") == TAG
        and item.get("resourceLinkId") == attempt.resource_link["id"]
        and isinstance(item.get("id"), str)
    )


def scores_url(lineitem_url: str) -> str:
    """``<line item>/scores``: appended to the path, the query string kept."""
    parts = urlsplit(lineitem_url)
    return urlunsplit(
        (parts.scheme, parts.netloc, parts.path.rstrip("/") + "/scores", parts.query, "")
    )


def score_body(
    attempt: Attempt, session: SessionRow, decision: str | None, now: float
) -> dict[str, Any]:
    """The score of record and where its review stands."""
    if decision in DECIDED:
        progress, comment = "FullyGraded", f"Integrity review: {DECIDED[decision]}"
    elif session.flagged or session.status == "integrity_failed":
        progress, comment = "PendingManual", "Integrity review: pending (the session was flagged)"
    else:
        progress, comment = "FullyGraded", "Integrity review: not flagged, no review needed"
    return {
        "userId": attempt.subject,
        "scoreGiven": round(float(session.score or 0.0), 3),
        "scoreMaximum": 1,
        "comment": comment,
        "timestamp": datetime.fromtimestamp(now, UTC).isoformat(timespec="microseconds"),
        "activityProgress": "Completed",
        "gradingProgress": progress,
    }
