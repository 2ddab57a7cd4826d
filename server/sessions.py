"""Starting and resuming sessions from an integration JWT, and what the integrator may read."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from openproctor.core import ChainState, Policy, Tally, parse_policy

from .constructor import apply_claims
from .errors import Conflict, Forbidden, NotFound, Unavailable
from .i18n import choose
from .notice import build_notice, sdk_messages
from .observability import SESSIONS
from .security.keys import Keyring
from .security.tokens import StartClaims, decode_start_token
from .storage import Storage
from .storage.rows import Integration, SessionRow


def new_session_id() -> str:
    """A pseudonymous session id: the only identifier the event log carries."""
    return "ops_" + secrets.token_urlsafe(18)


def effective_policy(policy: Policy, claims: StartClaims, session_id: str) -> Policy:
    """The policy a session runs under: the exam's, with the start token's Constructor settings
    (``rules``, ``scoreConfig``, ``allowMobileDevices``: constructor.apply_claims) and
    ``allowMultipleDisplays`` applied, and the accommodations reduced to this candidate's
    (keyed by the pseudonymous session id, so the browser never sees other candidates or the
    LMS user id)."""
    if claims.claims:
        policy = apply_claims(policy, claims.claims)
    body = policy.to_dict()
    if claims.allow_multiple_displays:
        body["flags_enabled"] = [f for f in body["flags_enabled"] if f != "multiple_displays"]
    mine = body["accommodations"].get(claims.user_id)
    body["accommodations"] = {session_id: mine} if mine else {}
    return parse_policy(body)


def exam_policy(
    store: Storage, institution_id: str, exam_id: str, context_id: str | None = None
) -> tuple[int, int, Policy]:
    """The exam's production policy; an exam seen for the first time gets the default policy
    stored as version 1 (in the course of the launch that created it, if any), so every
    session records the version it ran under."""
    found = store.policies.current(institution_id, exam_id)
    if found is not None:
        return found
    policy = parse_policy({"exam_id": exam_id})
    policy_id, version = store.policies.save(
        institution_id, policy, created_by="default", context_id=context_id
    )
    return policy_id, version, policy


@dataclass
class SessionService:
    store: Storage
    keyring: Keyring
    token_grace_seconds: int
    #: Whether an exam (institution, exam id) has an access code for the SDK to fetch.
    gated: Callable[[str, str], bool] = lambda institution_id, exam_id: False

    def start(
        self,
        integration: Integration,
        token: str,
        now: float | None = None,
        languages: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Start a session from the integration's JWT, or resume it for the same user.
        ``languages``: what the browser asked for (server/i18n.py chooses)."""
        now = time.time() if now is None else now
        claims = self.decode(integration, token, now)
        return self.start_validated(integration, claims, now, languages=languages)

    def decode(self, integration: Integration, token: str, now: float) -> StartClaims:
        """The integration's start token, verified and validated (security/tokens.py)."""
        secrets = [self.keyring.decrypt(s) for s in integration.secrets_enc(now)]
        return decode_start_token(token, secrets, now, integration.strict_claims)

    def start_validated(
        self,
        integration: Integration,
        claims: StartClaims,
        now: float,
        *,
        context_id: str | None = None,
        override: Callable[[Policy], Policy] | None = None,
        languages: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Start (or resume, for the same user) a session from claims already validated: an
        integration JWT or an LTI launch. ``override`` adjusts the exam's stored policy (LTI
        custom parameters) before the candidate's effective policy is derived."""
        existing = self.store.sessions.find(integration.id, claims.session_id)
        if existing is None:
            lang = choose(claims.user.get("language"), languages)
            existing, resumed = self._create(integration, claims, now, context_id, override, lang)
        else:
            resumed = True
        if existing.user_id != claims.user_id:
            raise Conflict(
                "session_taken",
                "this sessionId is already bound to another user",
                claim="sessionId",
            )
        if existing.status == "finished" or existing.purged_at is not None:
            raise Conflict("session_finished", "this session has already finished")
        SESSIONS.labels("resumed" if resumed else "started").inc()
        return self._grant(existing, resumed)

    def resume(self, session_id: str, institution_key: str | None) -> dict[str, Any]:
        """A fresh grant for a session whose token the page already holds (script-tag flow,
        page reloads); ``institution_key``, when the page sends one, must match."""
        row = self.store.sessions.get(session_id)
        if row is None:
            raise NotFound("unknown_session", f"no session {session_id!r}")
        if institution_key is not None and institution_key != row.institution_id:
            raise Forbidden(
                "wrong_institution",
                "data-institution-key does not match this session's institution",
            )
        if row.status == "finished" or row.purged_at is not None:
            raise Conflict("session_finished", "this session has already finished")
        return self._grant(row, resumed=True)

    def _create(
        self,
        integration: Integration,
        claims: StartClaims,
        now: float,
        context_id: str | None,
        override: Callable[[Policy], Policy] | None,
        lang: str,
    ) -> tuple[SessionRow, bool]:
        """The new session's row, and whether another request had created it first."""
        policy_id, version, policy = exam_policy(
            self.store, integration.institution_id, claims.exam_id, context_id
        )
        if override is not None:
            policy = override(policy)
        session_id = new_session_id()
        effective = effective_policy(policy, claims, session_id)
        state = ChainState.start(session_id)
        row = SessionRow(
            id=session_id,
            integration_id=integration.id,
            institution_id=integration.institution_id,
            external_id=claims.session_id,
            user_id=claims.user_id,
            user_json=json.dumps(claims.user),
            exam_id=claims.exam_id,
            exam_name=claims.exam_name,
            policy_id=policy_id,
            policy_version=version,
            policy_json=json.dumps(effective.to_dict()),
            status="active",
            integrity_reason=None,
            integrity_seq=None,
            started_at=now,
            deadline=min(claims.end, now + claims.duration_minutes * 60),
            finished_at=None,
            next_seq=0,
            last_mac=state.last_mac,
            last_t=0,
            tally_json=json.dumps(Tally().to_dict()),
            score=None,
            score_milli=None,
            flagged=False,
            breakdown_json=None,
            client_score_milli=None,
            score_mismatch=False,
            complete=False,
            purged_at=None,
            updated_at=now,
            context_id=context_id,
            claims_json=json.dumps(claims.claims) if claims.claims is not None else None,
            warnings_json=json.dumps([w.to_dict() for w in claims.warnings]),
            lang=lang,
        )
        if self.store.sessions.insert(row.as_dict()):
            return row, False
        # Another request created it first (double click, two tabs): resume that one.
        found = self.store.sessions.find(integration.id, claims.session_id)
        if found is None:
            raise Unavailable("busy", "the session could not be created; try again")
        return found, True

    def _grant(self, row: SessionRow, resumed: bool) -> dict[str, Any]:
        expires = min(row.deadline + self.token_grace_seconds, time.time() + 86400)
        policy = row.policy
        return {
            "session_id": row.id,
            "resumed": resumed,
            "token": self.keyring.mint_session_token(row.id, expires, row.integration_id),
            "token_expires_at": int(expires),
            "signing_key": self.keyring.session_keys(row.id)[0].reveal().hex(),
            "policy": policy,
            "policy_version": row.policy_version,
            "heartbeat_ms": policy["heartbeat_seconds"] * 1000,
            "deadline": int(row.deadline),
            # How long ago the session started: a browser without local state (a new device)
            # counts event times from the session's start, as the server does.
            "elapsed_ms": max(0, int((time.time() - row.started_at) * 1000)),
            "chain": {
                "next_seq": row.next_seq,
                "last_mac": row.last_mac,
                "last_t": row.last_t,
            },
            # Running totals of what is stored: a resumed client scores on from them.
            "tally": row.tally,
            "exam": {"id": row.exam_id, "name": row.exam_name},
            # The student's own view of what was recorded (a capability link).
            "record_url": self.keyring.record_path(row.id),
            # The exam has an access code: the SDK asks for it once proctoring runs.
            "gate": self.gated(row.institution_id, row.exam_id),
            # What the start token asked for and openproctor did not do (security/claims.py).
            "warnings": row.warnings,
            # What the student reads before the exam; its hash is what the consent event names.
            "notice": build_notice(row),
            # Student-facing messages the SDK shows itself, in the student's language.
            "messages": sdk_messages(row),
        }
