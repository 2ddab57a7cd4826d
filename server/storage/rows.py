"""Typed rows: what the table families return, with their JSON columns decoded once."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openproctor.core import Policy, parse_policy


@functools.lru_cache(maxsize=1024)
def session_policy(policy_json: str) -> Policy:
    """A session's stored policy, parsed and validated once (policies are immutable values and
    every batch of an exam's sessions carries the same text)."""
    return parse_policy(json.loads(policy_json))


@dataclass(frozen=True)
class ExamRecord:
    exam_id: str
    #: The LMS course the exam was created in (None: an institution-wide exam).
    context_id: str | None


@dataclass(frozen=True)
class Integration:
    id: int
    name: str
    institution_id: str
    secret_enc: bytes
    allowed_origins: tuple[str, ...]
    created_at: float
    #: The secret before the last rotation, still accepted until ``previous_secret_until``.
    previous_secret_enc: bytes | None = None
    previous_secret_until: float | None = None
    #: Constructor's result callback (None: results are not sent).
    review_url: str | None = None
    #: Start tokens asking for what openproctor does not do are refused, not warned about.
    strict_claims: bool = False

    def secrets_enc(self, now: float) -> tuple[bytes, ...]:
        """The encrypted secrets that sign valid tokens now: the current one, and the previous
        one during its grace period."""
        if self.previous_secret_enc is not None and (self.previous_secret_until or 0) > now:
            return (self.secret_enc, self.previous_secret_enc)
        return (self.secret_enc,)

    def __repr__(self) -> str:  # the encrypted secret stays out of logs too
        return f"Integration(name={self.name!r}, institution={self.institution_id!r})"

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Integration:
        return cls(
            id=int(row["id"]),
            name=row["name"],
            institution_id=row["institution_id"],
            secret_enc=bytes(row["secret_enc"]),
            allowed_origins=tuple(json.loads(row["allowed_origins"])),
            created_at=float(row["created_at"]),
            previous_secret_enc=bytes(row["previous_secret_enc"])
            if row["previous_secret_enc"] is not None
            else None,
            previous_secret_until=row["previous_secret_until"],
            review_url=row["review_url"],
            strict_claims=bool(row["strict_claims"]),
        )


@dataclass(frozen=True)
class Registration:
    """One platform (issuer + client id) registered with this tool, for one integration."""

    id: int
    integration_id: int
    issuer: str
    client_id: str
    deployment_ids: tuple[str, ...]
    auth_url: str
    jwks_url: str | None
    public_jwk: dict[str, Any] | None
    token_url: str | None
    exam_url: str | None
    allow_policy_override: bool

    @classmethod
    def from_row(cls, row: Any) -> Registration:
        return cls(
            id=int(row.id),
            integration_id=int(row.integration_id),
            issuer=row.issuer,
            client_id=row.client_id,
            deployment_ids=tuple(json.loads(row.deployment_ids)),
            auth_url=row.auth_url,
            jwks_url=row.jwks_url,
            public_jwk=json.loads(row.public_jwk) if row.public_jwk else None,
            token_url=row.token_url,
            exam_url=row.exam_url,
            allow_policy_override=bool(row.allow_policy_override),
        )


@dataclass(frozen=True)
class PolicyVersion:
    version: int
    environment: str
    policy: Policy
    created_at: float
    created_by: str


def policy_version(row: Any) -> PolicyVersion:
    return PolicyVersion(
        int(row.version),
        row.environment,
        parse_policy(json.loads(row.body)),
        float(row.created_at),
        row.created_by,
    )


@dataclass(frozen=True)
class ExamPolicies:
    """One exam's newest version in each environment, and how many sessions it has."""

    exam_id: str
    production: PolicyVersion | None
    staging: PolicyVersion | None
    sessions: int

    @property
    def pending(self) -> bool:
        """Staging differs from production: there is something to promote."""
        if self.staging is None:
            return False
        if self.production is None:
            return True
        production, staging = self.production.policy.to_dict(), self.staging.policy.to_dict()
        production.pop("environment")
        staging.pop("environment")
        return production != staging


@dataclass(frozen=True)
class Webhook:
    id: int
    institution_id: str
    exam_id: str | None
    url: str
    created_at: float
    created_by: str

    def __repr__(self) -> str:  # the secret is never part of it
        return f"Webhook({self.id}, {self.url!r}, exam={self.exam_id!r})"

    @classmethod
    def from_row(cls, row: Any) -> Webhook:
        return cls(
            int(row.id), row.institution_id, row.exam_id, row.url, row.created_at, row.created_by
        )


#: The JSON columns of a session row and the attribute that holds each decoded.
_SESSION_JSON = {
    "policy_json": "policy",
    "breakdown_json": "breakdown",
    "tally_json": "tally",
    "user_json": "user",
    "claims_json": "claims",
    "warnings_json": "warnings",
}


@dataclass
class SessionRow:
    """One session as stored (the ``sessions`` table); its JSON columns are decoded once, on
    first use, into ``policy``, ``breakdown``, ``tally`` and ``user``."""

    id: str
    integration_id: int
    institution_id: str
    external_id: str
    user_id: str
    user_json: str
    exam_id: str
    exam_name: str
    policy_id: int
    policy_version: int
    policy_json: str
    status: str
    integrity_reason: str | None
    integrity_seq: int | None
    started_at: float
    deadline: float
    finished_at: float | None
    next_seq: int
    last_mac: str
    last_t: int
    tally_json: str
    score: float | None
    score_milli: int | None
    flagged: bool
    breakdown_json: str | None
    client_score_milli: int | None
    score_mismatch: bool
    complete: bool
    purged_at: float | None
    updated_at: float
    context_id: str | None
    claims_json: str | None = None
    warnings_json: str | None = None
    rate_tat: float | None = None
    lang: str | None = None
    claimed_by: str | None = None
    claimed_at: float | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> SessionRow:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    @functools.cached_property
    def policy(self) -> dict[str, Any]:
        """The effective policy the session runs under (its JSON form)."""
        found: dict[str, Any] = json.loads(self.policy_json)
        return found

    @functools.cached_property
    def breakdown(self) -> list[dict[str, Any]]:
        """The score's per-flag explanation (empty before the first score)."""
        found: list[dict[str, Any]] = json.loads(self.breakdown_json or "[]")
        return found

    @functools.cached_property
    def tally(self) -> dict[str, Any]:
        """The running totals of what is stored (openproctor.core Tally)."""
        found: dict[str, Any] = json.loads(self.tally_json)
        return found

    @functools.cached_property
    def user(self) -> dict[str, Any]:
        """Who the LMS says the candidate is (never shown to the browser)."""
        found: dict[str, Any] = json.loads(self.user_json)
        return found

    @functools.cached_property
    def claims(self) -> dict[str, Any] | None:
        """The start token's stored claims (None: the session came from an LTI launch)."""
        found: dict[str, Any] | None = json.loads(self.claims_json) if self.claims_json else None
        return found

    @functools.cached_property
    def warnings(self) -> list[dict[str, str]]:
        """What the start token asked for and openproctor did not do."""
        found: list[dict[str, str]] = json.loads(self.warnings_json or "[]")
        return found

    @property
    def threshold(self) -> float:
        return float(self.policy["trust_threshold"])

    @property
    def parsed_policy(self) -> Policy:
        """The effective policy as a core Policy (parsed once per distinct policy text)."""
        return session_policy(self.policy_json)

    @property
    def band(self) -> str | None:
        """green / yellow / red by the session's policy (None before the first score)."""
        if self.score is None:
            return None
        return self.parsed_policy.band(self.score)

    def set(self, **fields: Any) -> None:
        """Change columns in place (after they were written), dropping stale decoded JSON."""
        for name, value in fields.items():
            setattr(self, name, value)
            if name in _SESSION_JSON:
                self.__dict__.pop(_SESSION_JSON[name], None)

    def as_dict(self) -> dict[str, Any]:
        """The columns only (for a payload that wants a plain mapping)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class ReportRow:
    """A session as a report counts it, with its current review decision."""

    id: str
    exam_id: str
    exam_name: str
    status: str
    started_at: float
    score: float | None
    flagged: bool
    breakdown_json: str | None
    policy_json: str
    integrity_reason: str | None
    score_mismatch: bool
    complete: bool
    decision: str | None
    external_id: str
    user_id: str
    user_json: str
    context_id: str | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> ReportRow:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    @functools.cached_property
    def breakdown(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = json.loads(self.breakdown_json or "[]")
        return found

    @functools.cached_property
    def user(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.user_json)
        return found

    @property
    def threshold(self) -> float:
        return float(json.loads(self.policy_json)["trust_threshold"])


@dataclass(frozen=True)
class Attempt:
    """What an LTI launch told us about the session it started: who and which link on the
    platform, and the services (ACS, AGS) the platform offered for it."""

    session_id: str
    registration_id: int
    subject: str
    resource_link: dict[str, Any]
    attempt_number: int | None
    acs_url: str | None
    acs_actions: tuple[str, ...]
    ags_lineitems: str | None
    ags_scopes: tuple[str, ...]
    gradebook: bool

    @classmethod
    def from_row(cls, row: Any) -> Attempt:
        return cls(
            session_id=row.session_id,
            registration_id=int(row.registration_id),
            subject=row.subject,
            resource_link=json.loads(row.resource_link),
            attempt_number=row.attempt_number,
            acs_url=row.acs_url,
            acs_actions=tuple(json.loads(row.acs_actions or "[]")),
            ags_lineitems=row.ags_lineitems,
            ags_scopes=tuple(json.loads(row.ags_scopes or "[]")),
            gradebook=bool(row.gradebook),
        )
