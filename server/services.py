"""The one place the server's services are built, for the app and for the CLI alike: settings,
storage, keys, the outbound guard, and the services built on them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from .access_codes import AccessCodes
from .assets import Bundle
from .constructor import ResultCallbacks, ResultSender
from .explanations import ExplanationService
from .identities import Identities
from .ingest import IngestService
from .lti.access_tokens import AccessTokens
from .lti.calls import LmsCallSender, LmsOutcomes
from .lti.dynamic_registration import DynamicRegistration
from .lti.keys import PlatformKeys, ToolKeys
from .lti.launch import Launch, verify_id_token
from .people import PersonalData
from .policies import PolicyStore
from .ratelimit import RateLimiter
from .reviewers import ReviewerStore
from .security.keys import Keyring, load_master_keys
from .security.outbound import OutboundGuard
from .sessions import SessionService
from .settings import Settings
from .storage import Storage
from .storage.audit import use_key
from .storage.rows import Registration
from .webhooks import WebhookSender, WebhookStore
from .whatif import WhatIf
from .writer import GroupWriter


@dataclass
class Services:
    settings: Settings
    store: Storage
    keyring: Keyring
    #: Every call out goes through it (webhooks, platforms' key sets, ACS, AGS, tokens).
    outbound: OutboundGuard
    sessions: SessionService
    ingest: IngestService
    #: Where ingest work runs: the SQLite group writer, or the thread pool (PostgreSQL).
    ingest_runner: GroupWriter
    limiter: RateLimiter
    lti_keys: ToolKeys
    platform_keys: PlatformKeys
    reviewers: ReviewerStore
    policies: PolicyStore
    webhooks: WebhookStore
    webhook_sender: WebhookSender
    #: Calls back to the LMS (ACS, AGS): queued by ingest and decisions, sent in the background.
    lms_outcomes: LmsOutcomes
    lms_sender: LmsCallSender
    lti_registration: DynamicRegistration
    #: Exams' access codes (the gate for LMSs without proctoring messages).
    access_codes: AccessCodes
    #: Who sees a session's student on the dashboard (blind review, audited reveals).
    identities: Identities
    #: The SDK files /sdk/v1/ serves.
    bundle: Bundle
    #: Students' explanations of flagged episodes (their record page).
    explanations: ExplanationService
    #: A person's data on request (GDPR access and erasure).
    people: PersonalData
    #: What-if rescoring under an exam's staging policy, and adopting it.
    whatif: WhatIf

    @classmethod
    def build(cls, settings: Settings, store: Storage | None = None) -> Services:
        store = store or Storage(settings.database_url)
        keyring = Keyring(tuple(load_master_keys(settings.secret_keys, settings.secret_file)))
        use_key(store.engine, keyring.audit_keys()[0])  # the audit log's chain
        webhooks = WebhookStore(store, keyring)
        outbound = OutboundGuard(allow_private=settings.outbound_allow_private)
        lti_keys = ToolKeys(store.lti, keyring)
        access_codes = AccessCodes(store, keyring)
        lms_outcomes = LmsOutcomes(store)
        results = ResultCallbacks(store)

        def decided(conn: Connection, session_id: str) -> None:
            lms_outcomes.decided(conn, session_id)
            results.decided(conn, session_id)

        return cls(
            settings=settings,
            store=store,
            keyring=keyring,
            outbound=outbound,
            sessions=SessionService(
                store, keyring, settings.token_grace_seconds, gated=access_codes.gated
            ),
            ingest=IngestService(
                store,
                keyring,
                webhooks,
                settings.public_origin or "",
                max_events=settings.limits.max_events_per_session,
                grace_seconds=settings.token_grace_seconds,
                watchers=(lms_outcomes, results),
                batches_per_minute=settings.limits.batches_per_minute,
            ),
            ingest_runner=GroupWriter(store),
            limiter=RateLimiter(settings.limits.batches_per_minute),
            lti_keys=lti_keys,
            platform_keys=PlatformKeys(outbound),
            reviewers=ReviewerStore(store, on_decision=decided),
            policies=PolicyStore(store),
            webhooks=webhooks,
            webhook_sender=WebhookSender(webhooks, outbound, settings.webhook_backoff_seconds),
            lms_outcomes=lms_outcomes,
            lms_sender=LmsCallSender(
                store,
                outbound,
                AccessTokens(outbound, lti_keys),
                ResultSender(store, keyring, outbound, settings.public_origin or ""),
                settings.webhook_backoff_seconds,
            ),
            lti_registration=DynamicRegistration(store, outbound),
            access_codes=access_codes,
            identities=Identities(store),
            bundle=Bundle(settings.bundle_dir),
            explanations=ExplanationService(store),
            people=PersonalData(store),
            whatif=WhatIf(store, on_change=decided),
        )

    def lti_verify(self, token: str, registration: Registration, nonce: str) -> Launch:
        return verify_id_token(token, registration, self.platform_keys, nonce)

    def close(self) -> None:
        self.ingest_runner.close()
        self.store.close()


@contextlib.contextmanager
def opened(settings: Settings) -> Iterator[Services]:
    """The services on a migrated database, closed afterwards (what each CLI command runs in)."""
    services = Services.build(settings)
    try:
        services.store.migrate()
        yield services
    finally:
        services.close()
