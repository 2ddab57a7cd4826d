"""What the app holds for its lifetime: settings, storage, keys and the services built on them."""

from __future__ import annotations

from dataclasses import dataclass

from .ingest import IngestService
from .lti.keys import PlatformKeys, ToolKeys
from .lti.launch import Launch, verify_id_token
from .policies import PolicyStore
from .ratelimit import RateLimiter
from .reviewers import ReviewerStore
from .security.keys import Keyring, load_master_keys
from .security.outbound import OutboundGuard
from .sessions import SessionService
from .settings import Settings
from .storage import Storage
from .storage.lti import LtiStore, Registration
from .webhooks import WebhookSender, WebhookStore
from .writer import GroupWriter, ThreadRunner


@dataclass
class AppState:
    settings: Settings
    store: Storage
    keyring: Keyring
    sessions: SessionService
    ingest: IngestService
    #: Where ingest work runs: the SQLite group writer, or the thread pool (PostgreSQL).
    ingest_runner: GroupWriter | ThreadRunner
    limiter: RateLimiter
    lti_store: LtiStore
    lti_keys: ToolKeys
    platform_keys: PlatformKeys
    reviewers: ReviewerStore
    policies: PolicyStore
    webhooks: WebhookStore
    webhook_sender: WebhookSender
    #: Every call out goes through it (webhooks, platforms' key sets).
    outbound: OutboundGuard

    @classmethod
    def build(cls, settings: Settings, store: Storage | None = None) -> AppState:
        store = store or Storage(settings.database_url)
        keyring = Keyring(tuple(load_master_keys(settings.secret_keys, settings.secret_file)))
        lti_store = store.lti
        webhooks = WebhookStore(store, keyring)
        outbound = OutboundGuard(allow_private=settings.outbound_allow_private)
        return cls(
            settings=settings,
            store=store,
            keyring=keyring,
            sessions=SessionService(store, keyring, settings.token_grace_seconds),
            ingest=IngestService(
                store,
                keyring,
                webhooks,
                settings.public_origin or "",
                max_events=settings.limits.max_events_per_session,
                grace_seconds=settings.token_grace_seconds,
            ),
            ingest_runner=GroupWriter(store) if store.dialect == "sqlite" else ThreadRunner(),
            limiter=RateLimiter(settings.limits.batches_per_minute),
            lti_store=lti_store,
            lti_keys=ToolKeys(lti_store, keyring),
            platform_keys=PlatformKeys(outbound),
            reviewers=ReviewerStore(store),
            policies=PolicyStore(store),
            webhooks=webhooks,
            webhook_sender=WebhookSender(webhooks, outbound, settings.webhook_backoff_seconds),
            outbound=outbound,
        )

    def lti_verify(self, token: str, registration: Registration, nonce: str) -> Launch:
        return verify_id_token(token, registration, self.platform_keys, nonce)
