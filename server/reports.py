"""Aggregate reports and threshold calibration (numpy), and the series of a session's timeline.

Nothing here knows about HTTP: it reads rows the store returns and gives plain results the
pages render (and tests check against hand-computed numbers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from openproctor.core import FLAG_TYPES, Event, Policy, Tally, score_tally

from .identities import course_of, identity_of, lms_attempt
from .storage.rows import Attempt, ReportRow


@dataclass(frozen=True)
class Episode:
    """One event on a timeline lane: a point, or a bar when it lasted."""

    lane: str
    start_ms: int
    end_ms: int


HISTOGRAM_EDGES = np.round(np.linspace(0.0, 1.0, 11), 2)
#: Candidate thresholds for calibration: 0.00, 0.01, ..., 1.00.
CANDIDATES = np.round(np.linspace(0.0, 1.0, 101), 2)
DECIDED = ("cleared", "violation_confirmed")
OUTCOME_ORDER = ("cleared", "violation_confirmed", "needs_discussion", "undecided")


@dataclass(frozen=True)
class FlagRate:
    flag: str
    sessions: int  # sessions in which the flag counted at least once
    share: float  # of scored sessions
    mean_count: float  # incidents per scored session


@dataclass(frozen=True)
class Calibration:
    """What each candidate threshold would have done, judged by reviewer decisions."""

    thresholds: np.ndarray
    flagged: np.ndarray  # sessions (of all scored) below each threshold
    caught: np.ndarray  # confirmed violations below it
    false_flags: np.ndarray  # cleared sessions below it
    scored: int
    confirmed: int
    cleared: int
    current: float | None
    recommended: float | None
    message: str

    def at(self, threshold: float) -> dict[str, int]:
        i = int(np.searchsorted(self.thresholds, round(threshold, 2)))
        i = min(i, len(self.thresholds) - 1)
        return {
            "flagged": int(self.flagged[i]),
            "caught": int(self.caught[i]),
            "missed": self.confirmed - int(self.caught[i]),
            "false_flags": int(self.false_flags[i]),
        }

    def rows(self, step: int = 5) -> list[dict[str, Any]]:
        """Every ``step``-th candidate, for the table beside the curve."""
        return [{"threshold": float(t), **self.at(float(t))} for t in self.thresholds[::step]]


@dataclass(frozen=True)
class Report:
    sessions: int
    scored: int
    flagged: int
    mean: float | None
    median: float | None
    histogram: list[int]
    edges: list[float]
    flag_rates: list[FlagRate]
    outcomes: dict[str, int]
    calibration: Calibration
    rows: list[ReportRow] = field(repr=False)

    @property
    def flagged_share(self) -> float:
        return self.flagged / self.scored if self.scored else 0.0


def build_report(rows: Sequence[ReportRow], current_threshold: float | None) -> Report:
    """The report over session rows (the store's ``report_rows``): counts, the score histogram,
    flag rates per type, review outcomes and the calibration."""
    scored_rows = [r for r in rows if r.score is not None]
    scores = np.array([r.score for r in scored_rows], dtype=float)
    counts = _flag_counts(scored_rows)
    histogram, edges = np.histogram(scores, bins=HISTOGRAM_EDGES)
    rates = [
        FlagRate(
            flag,
            int(np.count_nonzero(counts[:, i])),
            float(np.count_nonzero(counts[:, i]) / len(scored_rows)) if scored_rows else 0.0,
            float(counts[:, i].mean()) if scored_rows else 0.0,
        )
        for i, flag in enumerate(FLAG_TYPES)
    ]
    outcomes = dict.fromkeys(OUTCOME_ORDER, 0)
    for r in rows:
        outcomes[r.decision or "undecided"] += 1
    decisions = [r.decision for r in scored_rows]
    return Report(
        sessions=len(rows),
        scored=len(scored_rows),
        flagged=sum(1 for r in scored_rows if r.flagged),
        mean=float(scores.mean()) if scores.size else None,
        median=float(np.median(scores)) if scores.size else None,
        histogram=[int(c) for c in histogram],
        edges=[float(e) for e in edges],
        flag_rates=[r for r in rates if r.sessions],
        outcomes=outcomes,
        calibration=calibrate(scores, decisions, current_threshold),
        rows=list(rows),
    )


def _flag_counts(rows: Sequence[ReportRow]) -> np.ndarray:
    """Counted incidents per session (rows) and flag type (columns)."""
    index = {flag: i for i, flag in enumerate(FLAG_TYPES)}
    counts = np.zeros((len(rows), len(FLAG_TYPES)), dtype=np.int64)
    for row_number, row in enumerate(rows):
        for line in row.breakdown:
            if line["counted"]:
                counts[row_number, index[line["flag"]]] = line["count"]
    return counts


def calibrate(
    scores: np.ndarray, decisions: Sequence[str | None], current: float | None
) -> Calibration:
    """For each candidate threshold: sessions flagged (score below it), confirmed violations
    caught, cleared sessions flagged. The recommendation maximises the share of violations
    caught minus the share of cleared sessions flagged (Youden's J); ties go to the lower
    threshold, which flags fewer sessions. It needs at least one decision of each kind."""
    decided = np.array([d or "" for d in decisions])
    confirmed = scores[decided == "violation_confirmed"]
    cleared = scores[decided == "cleared"]
    below = CANDIDATES[:, None]  # candidate thresholds as a column: broadcast against scores
    flagged = (scores[None, :] < below).sum(axis=1)
    caught = (confirmed[None, :] < below).sum(axis=1)
    false_flags = (cleared[None, :] < below).sum(axis=1)
    recommended: float | None = None
    if not confirmed.size and not cleared.size:
        message = (
            "No reviewer decisions yet: record “cleared” or “violation confirmed” on reviewed "
            "sessions, and the calibration will use them."
        )
    elif not confirmed.size or not cleared.size:
        missing = "violation confirmed" if not confirmed.size else "cleared"
        message = (
            f"Calibration needs at least one session decided “{missing}” too "
            f"(so far {confirmed.size} confirmed, {cleared.size} cleared)."
        )
    else:
        j = caught / confirmed.size - false_flags / cleared.size
        best = int(np.argmax(j))  # argmax takes the first, i.e. lowest, of equal values
        recommended = float(CANDIDATES[best])
        message = (
            f"Based on {confirmed.size} confirmed violation(s) and {cleared.size} cleared "
            f"session(s). Needs-discussion decisions are not counted."
        )
        if j[best] <= 0:
            message += " No threshold separates them: scores do not predict the decisions yet."
            recommended = None
    return Calibration(
        thresholds=CANDIDATES,
        flagged=flagged,
        caught=caught,
        false_flags=false_flags,
        scored=int(scores.size),
        confirmed=int(confirmed.size),
        cleared=int(cleared.size),
        current=current,
        recommended=recommended,
        message=message,
    )


CSV_COLUMNS = (
    "session_id",
    "lms_attempt",
    "course",
    "exam_id",
    "started_at",
    "status",
    "signed_log",
    "score",
    "flagged",
    "threshold",
    *(f"count_{flag}" for flag in FLAG_TYPES),
    "decision",
)
#: Added when the institution shows identities always (identities.py).
IDENTITY_COLUMNS = ("student_user_id", "student_name", "student_email")


def csv_rows(
    rows: Iterable[ReportRow],
    integrity: Any,
    attempts: Mapping[str, Attempt] | None = None,
    identities: bool = False,
) -> Iterable[list[str]]:
    """One line per session: what the report counted, the LMS's attempt and course, and the
    student only where the institution shows identities always."""
    attempts = attempts or {}
    yield [*CSV_COLUMNS, *(IDENTITY_COLUMNS if identities else ())]
    for row in rows:
        counts = dict.fromkeys(FLAG_TYPES, 0)
        for flag in row.breakdown:
            if flag["counted"]:
                counts[flag["flag"]] = flag["count"]
        out = [
            row.id,
            lms_attempt(row, attempts.get(row.id)),
            course_of(row),
            row.exam_id,
            datetime.fromtimestamp(row.started_at, UTC).isoformat(timespec="seconds"),
            row.status,
            integrity(row),
            "" if row.score is None else f"{row.score:.3f}",
            "yes" if row.flagged else "no",
            f"{row.threshold:g}",
            *(str(counts[flag]) for flag in FLAG_TYPES),
            row.decision or "",
        ]
        if identities:
            who = identity_of(row)
            out += [who.user_id, who.name, who.email]
        yield out


# -- a session's timeline -----------------------------------------------------------------------

MAX_POINTS = 600


def timeline_series(
    events: Sequence[Event], policy: Policy, candidate: str
) -> tuple[list[tuple[int, float]], list[Episode], int]:
    """The running trust score after each event (thinned to at most MAX_POINTS points), the
    flag episodes per type (an episode is stamped at its end and lasts ``duration_ms``), and the
    exam time covered. Inferred gaps in the SDK's heartbeats show on their own lane."""
    tally = Tally()
    points: list[tuple[int, float]] = []
    episodes: list[Episode] = []
    for event in events:
        gaps, gap_ms = tally.counts["sdk_gap"], tally.durations["sdk_gap"]
        tally.add(event)
        if tally.counts["sdk_gap"] > gaps:
            lasted = tally.durations["sdk_gap"] - gap_ms
            episodes.append(Episode("sdk_gap", event.t - lasted, event.t))
        if event.type in FLAG_TYPES and event.type != "sdk_gap":
            lasted = int(event.data.get("duration_ms", 0))
            episodes.append(Episode(event.type, max(0, event.t - lasted), event.t))
        points.append((event.t, score_tally(tally, policy, candidate).score))
    if len(points) > MAX_POINTS:
        step = -(-len(points) // MAX_POINTS)
        points = points[::step] + ([points[-1]] if (len(points) - 1) % step else [])
    return points, episodes, tally.exam_ms
