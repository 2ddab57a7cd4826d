"""A person's data on request (GDPR access and erasure) for one LMS user of one institution:
the CLI, the admin page and the integration API (``GET``/``DELETE /api/v1/users/{userId}``)
all come here. Storage does the work (storage/people.py says what is erased and what kept);
every export and every erasure is audited, the erasure naming the person by a digest only."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .errors import Invalid
from .security import validation
from .storage import Storage


def person_digest(institution_id: str, user_id: str) -> str:
    """How the audit log names a person whose data was erased (not their LMS id)."""
    return hashlib.sha256(f"{institution_id}\0{user_id}".encode()).hexdigest()[:16]


def _checked(user_id: Any) -> str:
    if not isinstance(user_id, str) or not user_id.strip():
        raise Invalid("invalid_user", "the LMS user id must be a non-empty string", field="userId")
    validation.check(user_id, "userId", 255)
    return user_id


@dataclass
class PersonalData:
    store: Storage

    def export(self, institution_id: str, user_id: Any, actor: str) -> dict[str, Any]:
        user = _checked(user_id)
        found = self.store.people.export(institution_id, user)
        self.store.audit.record(
            institution_id,
            actor,
            "person.exported",
            f"person:{person_digest(institution_id, user)}",
            {"sessions": len(found["sessions"])},
        )
        return found

    def erase(self, institution_id: str, user_id: Any, actor: str) -> dict[str, int]:
        user = _checked(user_id)
        return self.store.people.erase(
            institution_id, user, actor, person_digest(institution_id, user)
        )
