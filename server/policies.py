"""Exam policies as versions: edited in ``staging``, promoted to ``production`` (a copy under the
next version number), compared field by field. Sessions start under the newest production
version and record which one (see sessions.exam_policy)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from openproctor.core import Policy

from .errors import Conflict, NotFound
from .storage import Storage
from .storage.rows import ExamPolicies


class PolicyStore:
    """Staging edits and promotions of exams' policies (the versions live in storage)."""

    def __init__(self, store: Storage) -> None:
        self.store = store

    def exam(self, institution_id: str, exam_id: str) -> ExamPolicies | None:
        found = self.store.policies.overview(institution_id, exam_id)
        return found[0] if found else None

    def save_staging(self, institution_id: str, policy: Policy, created_by: str) -> int:
        """Store an edited policy as the exam's newest staging version; return its number."""
        _, version = self.store.policies.save(
            institution_id,
            replace(policy, environment="staging"),
            created_by,
            audit=(created_by, "policy.staged"),
        )
        return version

    def promote(self, institution_id: str, exam_id: str, version: int, created_by: str) -> int:
        """Copy staging version ``version`` to production as the next version. It must be the
        newest staging version: promoting exactly what the reviewer saw in the diff."""
        exam = self.exam(institution_id, exam_id)
        if exam is None or exam.staging is None:
            raise NotFound("unknown_policy", f"exam {exam_id!r} has no staging policy")
        if exam.staging.version != version:
            raise Conflict(
                "stale_version",
                f"staging has changed since you reviewed it (now version {exam.staging.version}, "
                f"you reviewed version {version}); review the changes again",
            )
        if not exam.pending:
            raise Conflict("nothing_to_promote", "production already runs exactly this policy")
        promoted = replace(exam.staging.policy, environment="production")
        _, new_version = self.store.policies.save(
            institution_id, promoted, created_by, audit=(created_by, "policy.promoted")
        )
        return new_version


def diff(before: Policy | None, after: Policy) -> list[tuple[str, str, str]]:
    """Fields that differ, as (field, before, after) in words; ``environment`` is left out."""
    old = before.to_dict() if before is not None else {}
    new = after.to_dict()
    changes = []
    for name, value in new.items():
        if name == "environment" or old.get(name) == value:
            continue
        changes.append((name, _words(old[name]) if name in old else "(none)", _words(value)))
    return changes


def _words(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    if isinstance(value, dict):
        if not value:
            return "(none)"
        return "; ".join(f"{k}: {_words(v)}" for k, v in value.items())
    return str(value)
