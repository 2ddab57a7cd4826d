"""What-if rescoring, the counterpart of calibration: score an exam's finished sessions under
its staging policy, see which would change band or flag and which reviewer decisions the new
policy would contradict, and adopt it: a new score of record for those sessions, the old one
kept (``score_versions``) and the LMS told again (AGS, Constructor's result callback).

Each session is rescored from its stored log under the staging policy with its own candidate's
accommodation (the one it ran under). At most :data:`MAX_SESSIONS`, newest first, per request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openproctor.core import Policy, TrustScore, parse_policy, score_log, validate_event

from .errors import Conflict
from .storage import Storage
from .storage.rows import SessionRow

MAX_SESSIONS = 300
#: A decision the new policy contradicts: confirmed but no longer flagged, or cleared but now
#: flagged.
CONTRADICTIONS = {
    ("violation_confirmed", False): "confirmed as a violation, but no longer flagged",
    ("cleared", True): "cleared by a reviewer, but flagged under the new policy",
}


@dataclass(frozen=True)
class Rescored:
    session_id: str
    score_now: float
    band_now: str
    flagged_now: bool
    score_new: float
    band_new: str
    flagged_new: bool
    decision: str | None
    new: TrustScore
    policy: Policy

    @property
    def changes(self) -> bool:
        return self.band_new != self.band_now or self.flagged_new != self.flagged_now

    @property
    def contradicts(self) -> str | None:
        return CONTRADICTIONS.get((self.decision or "", self.flagged_new))


def session_policy(staging: Policy, row: SessionRow) -> Policy:
    """The staging policy as this session's candidate would run under it (their own
    accommodation, keyed by the session id as in the policy the session ran under)."""
    body = staging.to_dict()
    mine = row.policy.get("accommodations", {}).get(row.id)
    body["accommodations"] = {row.id: mine} if mine else {}
    body["environment"] = "production"
    return parse_policy(body)


def rescore(
    rows: Sequence[SessionRow],
    events_of: Callable[[str], Sequence[Mapping[str, Any]]],
    staging: Policy,
    decisions: Mapping[str, str | None],
) -> list[Rescored]:
    out = []
    for row in rows:
        if row.score is None:
            continue
        events = [validate_event(raw, i) for i, raw in enumerate(events_of(row.id))]
        policy = session_policy(staging, row)
        new = score_log(events, policy, row.id)
        out.append(
            Rescored(
                row.id,
                float(row.score),
                row.band or "",
                bool(row.flagged),
                new.score,
                policy.band(new.score),
                new.flagged,
                decisions.get(row.id),
                new,
                policy,
            )
        )
    return out


@dataclass
class WhatIf:
    store: Storage
    #: Called in the adoption's transaction for each session (the LMS is told the new score).
    on_change: Callable[[Any, str], None] | None = None

    def sessions(
        self, institution_id: str, exam_id: str, context_id: str | None
    ) -> list[SessionRow]:
        return self.store.sessions.finished_of_exam(
            institution_id, exam_id, context_id, MAX_SESSIONS
        )

    def compare(
        self, institution_id: str, exam_id: str, staging: Policy, context_id: str | None
    ) -> list[Rescored]:
        rows = self.sessions(institution_id, exam_id, context_id)
        decisions = self.store.sessions.current_decisions([r.id for r in rows])
        return rescore(rows, self.store.sessions.events, staging, decisions)

    def adopt(
        self,
        institution_id: str,
        exam_id: str,
        staging: Policy,
        staging_version: int,
        context_id: str | None,
        actor: str,
    ) -> int:
        """Make the staging policy the score of record of every session it changes; returns
        how many. The sessions' previous scores stay in ``score_versions``."""
        changed = [
            r for r in self.compare(institution_id, exam_id, staging, context_id) if r.changes
        ]
        if not changed:
            raise Conflict(
                "nothing_to_adopt", "the staging policy changes no session's band or flag"
            )
        self.store.sessions.adopt_scores(
            institution_id,
            [
                (
                    r.session_id,
                    json.dumps(r.policy.to_dict()),
                    r.new.score,
                    r.new.score_milli,
                    r.new.flagged,
                    json.dumps(r.new.to_dict()["breakdown"]),
                )
                for r in changed
            ],
            staging_version,
            actor,
            time.time(),
            self.on_change,
        )
        return len(changed)
