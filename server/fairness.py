"""The fairness audit: do flags fall harder on some students than others? For each group of
scored sessions (by browser engine, platform, phone or tablet, accommodation, declared breaks,
network gaps) the flag rate with its Wilson 95 % interval and the mean penalty, and a
two-proportion z-test of its flag rate against the rest of the sessions.

Only what the log already holds is used (the ``session_start`` event's environment, the
session's policy and running totals): no personal attribute. A difference that the test calls
significant is a reason to look, not a finding: samples are small, groups overlap, and a group
can differ for reasons the exam explains (a browser used mostly by one course, say).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .security.validation import spreadsheet_cell

#: z of a two-sided 95 % interval.
Z95 = 1.959963984540054
#: Below this many sessions in a group or in the rest, a result is marked as a small sample.
SMALL = 30
SIGNIFICANT = 0.05

DIMENSIONS: tuple[tuple[str, str], ...] = (
    ("engine", "Browser engine"),
    ("platform", "Platform"),
    ("mobile", "Phone or tablet"),
    ("accommodation", "Accommodation"),
    ("breaks", "Declared breaks"),
    ("network_gaps", "Network gaps"),
)
UNKNOWN = "unknown (log deleted)"


@dataclass(frozen=True)
class FairnessRow:
    """A scored session as the audit reads it (storage: Sessions.for_fairness)."""

    id: str
    exam_id: str
    score: float
    flagged: bool
    policy_json: str
    tally_json: str
    start_data: str | None  # the session_start event's data (JSON); None once purged


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``k`` successes in ``n`` trials."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """z and the two-sided p-value of the pooled two-proportion test (1.0 when undefined)."""
    if not n1 or not n2:
        return 0.0, 1.0
    pooled = (k1 + k2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return 0.0, 1.0
    z = (k1 / n1 - k2 / n2) / spread
    return z, math.erfc(abs(z) / math.sqrt(2))


@dataclass(frozen=True)
class Group:
    dimension: str
    value: str
    sessions: int
    flagged: int
    low: float
    high: float
    mean_penalty: float
    rest_sessions: int
    rest_flagged: int
    z: float
    p: float

    @property
    def rate(self) -> float:
        return self.flagged / self.sessions if self.sessions else 0.0

    @property
    def rest_rate(self) -> float:
        return self.rest_flagged / self.rest_sessions if self.rest_sessions else 0.0

    @property
    def significant(self) -> bool:
        return self.p < SIGNIFICANT

    @property
    def small(self) -> bool:
        return min(self.sessions, self.rest_sessions) < SMALL


@dataclass(frozen=True)
class Fairness:
    sessions: int
    flagged: int
    groups: tuple[Group, ...]

    def of(self, dimension: str) -> list[Group]:
        return [g for g in self.groups if g.dimension == dimension]

    @property
    def differing(self) -> list[Group]:
        return [g for g in self.groups if g.significant]


def _values(row: FairnessRow) -> dict[str, str]:
    start = json.loads(row.start_data) if row.start_data else None
    policy = json.loads(row.policy_json)
    tally = json.loads(row.tally_json)
    counts = tally.get("counts", {})
    gaps = counts.get("network_offline", 0) or counts.get("sdk_gap", 0)
    return {
        "engine": str(start.get("engine", "Unknown")) if start else UNKNOWN,
        "platform": str(start.get("platform", "Unknown")) if start else UNKNOWN,
        "mobile": ("yes" if start.get("mobile") else "no") if start else UNKNOWN,
        "accommodation": "yes" if policy.get("accommodations", {}).get(row.id) else "no",
        "breaks": "yes" if tally.get("breaks") else "no",
        "network_gaps": "yes" if gaps else "no",
    }


def build_fairness(rows: Sequence[FairnessRow]) -> Fairness:
    """Every group of every dimension that has at least two groups, against the rest."""
    total = len(rows)
    flagged = np.array([bool(r.flagged) for r in rows], dtype=bool)
    penalty = np.array([-math.log(max(r.score, 1e-12)) for r in rows], dtype=float)
    values = [_values(r) for r in rows]
    groups: list[Group] = []
    for dimension, _label in DIMENSIONS:
        column = np.array([v[dimension] for v in values], dtype=object)
        names = sorted(set(column.tolist()))
        if len(names) < 2:
            continue
        for name in names:
            inside = column == name
            n, k = int(inside.sum()), int(flagged[inside].sum())
            rest_n, rest_k = total - n, int(flagged.sum()) - k
            low, high = wilson(k, n)
            z, p = two_proportion(k, n, rest_k, rest_n)
            groups.append(
                Group(
                    dimension,
                    name,
                    n,
                    k,
                    low,
                    high,
                    float(penalty[inside].mean()),
                    rest_n,
                    rest_k,
                    z,
                    p,
                )
            )
    return Fairness(total, int(flagged.sum()), tuple(groups))


def csv_text(fairness: Fairness, labels: Mapping[str, str] | None = None) -> str:
    """The audit as CSV, one line per group."""
    labels = labels or dict(DIMENSIONS)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "dimension",
            "group",
            "sessions",
            "flagged",
            "flag_rate",
            "ci95_low",
            "ci95_high",
            "mean_penalty",
            "rest_sessions",
            "rest_flagged",
            "rest_flag_rate",
            "z",
            "p_value",
            "significant",
            "small_sample",
        ]
    )
    for g in fairness.groups:
        writer.writerow(
            [
                labels.get(g.dimension, g.dimension),
                spreadsheet_cell(g.value),  # a platform string comes from a browser
                g.sessions,
                g.flagged,
                f"{g.rate:.4f}",
                f"{g.low:.4f}",
                f"{g.high:.4f}",
                f"{g.mean_penalty:.4f}",
                g.rest_sessions,
                g.rest_flagged,
                f"{g.rest_rate:.4f}",
                f"{g.z:.3f}",
                f"{g.p:.4g}",
                "yes" if g.significant else "no",
                "yes" if g.small else "no",
            ]
        )
    return buffer.getvalue()


def rows_of(found: Iterable[Mapping[str, Any]]) -> list[FairnessRow]:
    return [FairnessRow(**{k: r[k] for k in FairnessRow.__dataclass_fields__}) for r in found]
