"""The Assessment Control Service (1EdTech Proctoring Services, section 6), the tool's side:
which session changes become which control action, and the control request's body.

The platform lists the actions it accepts in the launch's ``acs`` claim; only those are sent.
docs/lti.md ("Assessment Control Service") has the table of triggers and reason codes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..storage.rows import Attempt, Registration, SessionRow

SCOPE = "https://purl.imsglobal.org/spec/lti-ap/scope/control.all"
MEDIA_TYPE = "application/vnd.ims.lti-ap.v1.control+json"
#: Seconds a session's end waits for the browser's last batches before the verdict is sent
#: (sooner if the log is complete first: the verdict is built when sent).
SETTLE_SECONDS = 60.0

#: reason_code of a ``terminate``: Open edX (edx-exams) reads "1" as "scored, review when the
#: severity is above 0.25" and any other code as an error in the attempt.
SCORED = "1"
INTEGRITY_FAILED = "2"


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")


def severity(session: SessionRow) -> float:
    """0 (nothing counted) to 1: the share of the trust score the counted flags took away."""
    score = 1.0 if session.score is None else float(session.score)
    return round(min(1.0, max(0.0, 1.0 - score)), 3)


def _counted(session: SessionRow) -> list[dict[str, Any]]:
    lines = [line for line in session.breakdown if line.get("counted")]
    return sorted(lines, key=lambda line: -float(line.get("penalty", 0)))


#: reason_code of a ``pause`` and a ``resume``: the student's declared break (docs/sdk.md).
BREAK = "break"


def reason(session: SessionRow, action: str) -> tuple[str, str]:
    """The reason code and the human-readable message of a control action."""
    if action in ("pause", "resume"):
        what = "took a declared break" if action == "pause" else "ended a declared break"
        return BREAK, f"the student {what} (the exam's policy allows breaks)"
    counted = _counted(session)
    summary = "; ".join(str(line.get("explanation", line.get("flag"))) for line in counted)
    if action == "flag":
        code = str(counted[0]["flag"]) if counted else "flagged"
        message = f"trust score {session.score} below the exam's threshold {session.threshold}"
    elif session.status == "integrity_failed":
        code = INTEGRITY_FAILED
        message = f"the event log failed its integrity checks: {session.integrity_reason}"
    else:
        code = SCORED
        message = f"trust score {session.score} (threshold {session.threshold}); " + (
            "flagged" if session.flagged else "not flagged"
        )
    if summary:
        message += f": {summary}"
    return code, message[:1000]


def control_body(
    registration: Registration,
    attempt: Attempt,
    session: SessionRow,
    action: str,
    incident_time: float,
) -> dict[str, Any]:
    """The control request: who, which link and attempt, what and how severe."""
    code, message = reason(session, action)
    link = {
        k: attempt.resource_link[k]
        for k in ("id", "title", "description")
        if isinstance(attempt.resource_link.get(k), str)
    }
    return {
        "user": {"iss": registration.issuer, "sub": attempt.subject},
        "resource_link": link,
        "attempt_number": attempt.attempt_number or 1,
        "action": action,
        "incident_time": iso(incident_time),
        "incident_severity": 0.0 if action in ("pause", "resume") else severity(session),
        "reason_code": code,
        "reason_msg": message,
    }
