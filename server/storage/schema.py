"""The database schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Migrations in ``migrations/versions`` create and evolve it; times are UNIX epoch seconds.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

institutions = sa.Table(
    "institutions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    #: Who sees a session's student on the dashboard: always, reveal (None: the default) or
    #: never (administrators only, on reveal); identities.py, migration 0006.
    sa.Column("identity_visibility", sa.String(16)),
)

integrations = sa.Table(
    "integrations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("institution_id", sa.String(64), sa.ForeignKey("institutions.id"), nullable=False),
    sa.Column("secret_enc", sa.LargeBinary, nullable=False),
    sa.Column("allowed_origins", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    #: The secret before the last rotation, accepted until ``previous_secret_until``.
    sa.Column("previous_secret_enc", sa.LargeBinary),
    sa.Column("previous_secret_until", sa.Double),
    #: Constructor's result callback: where session results are POSTed (None: nowhere).
    sa.Column("review_url", sa.Text),
    #: Refuse start tokens with claims openproctor does not honour, instead of warning.
    sa.Column("strict_claims", sa.Boolean, nullable=False, server_default=sa.false()),
)

policies = sa.Table(
    "policies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("institution_id", sa.String(64), sa.ForeignKey("institutions.id"), nullable=False),
    sa.Column("exam_id", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("environment", sa.String(16), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.UniqueConstraint("institution_id", "exam_id", "version", name="uq_policy_version"),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("integration_id", sa.Integer, sa.ForeignKey("integrations.id"), nullable=False),
    sa.Column("institution_id", sa.String(64), sa.ForeignKey("institutions.id"), nullable=False),
    sa.Column("external_id", sa.String(230), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("user_json", sa.Text, nullable=False),
    sa.Column("exam_id", sa.String(128), nullable=False),
    sa.Column("exam_name", sa.String(500), nullable=False),
    sa.Column("policy_id", sa.Integer, sa.ForeignKey("policies.id"), nullable=False),
    sa.Column("policy_version", sa.Integer, nullable=False),
    sa.Column("policy_json", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("integrity_reason", sa.Text),
    sa.Column("integrity_seq", sa.BigInteger),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("deadline", sa.Double, nullable=False),
    sa.Column("finished_at", sa.Double),
    sa.Column("next_seq", sa.BigInteger, nullable=False),
    sa.Column("last_mac", sa.String(64), nullable=False),
    sa.Column("last_t", sa.BigInteger, nullable=False),
    sa.Column("tally_json", sa.Text, nullable=False),
    sa.Column("score", sa.Double),
    sa.Column("score_milli", sa.Integer),
    sa.Column("flagged", sa.Boolean, nullable=False),
    sa.Column("breakdown_json", sa.Text),
    sa.Column("client_score_milli", sa.Integer),
    sa.Column("score_mismatch", sa.Boolean, nullable=False),
    sa.Column("complete", sa.Boolean, nullable=False),
    sa.Column("purged_at", sa.Double),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("context_id", sa.String(255)),
    #: The start token's claims as stored (security/claims.py); None: an LTI launch.
    sa.Column("claims_json", sa.Text),
    #: What the start token asked for and openproctor did not do: [{claim, message}].
    sa.Column("warnings_json", sa.Text),
    #: The ingest's rate limit across server processes (ingest.py, migration 0008).
    sa.Column("rate_tat", sa.Double),
    #: The student's language (server/i18n.py), chosen when the session starts (migration 0009).
    sa.Column("lang", sa.String(8)),
    #: The reviewer who claimed the session for review, and when (None: unassigned).
    sa.Column("claimed_by", sa.String(255)),
    sa.Column("claimed_at", sa.Double),
    sa.UniqueConstraint("integration_id", "external_id", name="uq_session_external"),
    sa.Index("ix_sessions_exam", "institution_id", "exam_id"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("t", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("prev", sa.String(64), nullable=False),
    sa.Column("mac", sa.String(64), nullable=False),
    sa.Column("received_at", sa.Double, nullable=False),
)

# -- LTI 1.3 (migration 0002) --------------------------------------------------------------------

lti_registrations = sa.Table(
    "lti_registrations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("integration_id", sa.Integer, sa.ForeignKey("integrations.id"), nullable=False),
    sa.Column("issuer", sa.String(255), nullable=False),
    sa.Column("client_id", sa.String(255), nullable=False),
    sa.Column("deployment_ids", sa.Text, nullable=False),
    sa.Column("auth_url", sa.Text, nullable=False),
    sa.Column("jwks_url", sa.Text),
    sa.Column("public_jwk", sa.Text),
    sa.Column("token_url", sa.Text),
    sa.Column("exam_url", sa.Text),
    sa.Column("allow_policy_override", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    # Per integration: another institution registering the same issuer and client id neither
    # collides with nor learns of this one (its logins use its own URL, docs/lti.md).
    sa.UniqueConstraint("integration_id", "issuer", "client_id", name="uq_lti_registration"),
)

lti_tool_keys = sa.Table(
    "lti_tool_keys",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("private_enc", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("retired_at", sa.Double),
)

lti_states = sa.Table(
    "lti_states",
    metadata,
    sa.Column("state", sa.String(64), primary_key=True),
    sa.Column("nonce", sa.String(64), nullable=False),
    sa.Column("registration_id", sa.Integer, sa.ForeignKey("lti_registrations.id"), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("used_at", sa.Double),
)

lti_contexts = sa.Table(
    "lti_contexts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("registration_id", sa.Integer, sa.ForeignKey("lti_registrations.id"), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("claims", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("used_at", sa.Double),
)

# -- exams, reviewer sessions, the audit log (migration 0005) -----------------------------------

exams = sa.Table(
    "exams",
    metadata,
    sa.Column("institution_id", sa.String(64), sa.ForeignKey("institutions.id"), primary_key=True),
    sa.Column("exam_id", sa.String(128), primary_key=True),
    #: The LMS course (LTI context) the exam was created in; None: the institution's own.
    sa.Column("context_id", sa.String(255)),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    #: The LMS quiz's password / access code, encrypted; released to a running session only
    #: (access_codes.py; migration 0006).
    sa.Column("access_code_enc", sa.LargeBinary),
)

reviewer_sessions = sa.Table(
    "reviewer_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("institution_id", sa.String(64), sa.ForeignKey("institutions.id"), nullable=False),
    #: A local account's username, or None for a reviewer signed in by an LTI launch.
    sa.Column("username", sa.String(100)),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("context_id", sa.String(255)),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Column("revoked_at", sa.Double),
    sa.Index("ix_reviewer_sessions_username", "username"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("institution_id", sa.String(64)),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    #: The chain (storage/audit.py, migration 0009): the MAC of the entry before, and this one's.
    sa.Column("prev", sa.String(64)),
    sa.Column("mac", sa.String(64)),
    sa.Index("ix_audit_institution", "institution_id", "at"),
)

# -- reviewers and decisions (migration 0003) ---------------------------------------------------

reviewers = sa.Table(
    "reviewers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("institution_id", sa.String(64), sa.ForeignKey("institutions.id"), nullable=False),
    sa.Column("username", sa.String(100), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)

login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("first_at", sa.Double, nullable=False),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("reviewer", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("ix_decisions_session", "session_id"),
)

#: A student's own explanation of a flagged episode (migration 0009): appended, never updated;
#: the newest per episode (``seq``: the flag event's) is the one shown. Deleted with the log.
explanations = sa.Table(
    "explanations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("ix_explanations_session", "session_id", "seq"),
)

#: A reviewer's verdict on one flagged episode (``seq``: its flag event): appended; the newest
#: per episode is the current one (migration 0009).
incident_verdicts = sa.Table(
    "incident_verdicts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("reviewer", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("ix_incident_verdicts_session", "session_id", "seq"),
)

#: Every score of record a session has had: the first when a what-if is adopted (the score it
#: had), then each adopted one (server/whatif.py, migration 0009).
score_versions = sa.Table(
    "score_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), nullable=False),
    sa.Column("policy_version", sa.Integer, nullable=False),
    sa.Column("environment", sa.String(16), nullable=False),
    sa.Column("score", sa.Double),
    sa.Column("flagged", sa.Boolean, nullable=False),
    sa.Column("breakdown_json", sa.Text),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("ix_score_versions_session", "session_id"),
)

# -- alert webhooks (migration 0004) ------------------------------------------------------------

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("institution_id", sa.String(64), sa.ForeignKey("institutions.id"), nullable=False),
    #: None: every exam of the institution.
    sa.Column("exam_id", sa.String(128)),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("secret_enc", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    #: Removed webhooks stay, so their delivery log still reads.
    sa.Column("removed_at", sa.Double),
    sa.Index("ix_webhooks_institution", "institution_id"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("webhook_id", sa.Integer, sa.ForeignKey("webhooks.id"), nullable=False),
    sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), nullable=False),
    sa.Column("event", sa.String(40), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    #: pending (due at next_attempt_at), delivered, or failed (attempts exhausted).
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.Double, nullable=False),
    sa.Column("last_attempt_at", sa.Double),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("delivered_at", sa.Double),
    sa.UniqueConstraint("webhook_id", "session_id", "event", name="uq_delivery_once"),
    sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
)

# -- LTI services: what a launch said the platform offers, and calls back (migration 0006) ---------

lti_attempts = sa.Table(
    "lti_attempts",
    metadata,
    #: The session a launch started; the claims its later calls to the platform need.
    sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), primary_key=True),
    sa.Column("registration_id", sa.Integer, sa.ForeignKey("lti_registrations.id"), nullable=False),
    sa.Column("subject", sa.String(255), nullable=False),
    sa.Column("resource_link", sa.Text, nullable=False),
    sa.Column("attempt_number", sa.Integer),
    sa.Column("acs_url", sa.Text),
    sa.Column("acs_actions", sa.Text),
    sa.Column("ags_lineitems", sa.Text),
    sa.Column("ags_scopes", sa.Text),
    #: The link opted in to the gradebook (custom integrity_gradebook=true).
    sa.Column("gradebook", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)

lti_line_items = sa.Table(
    "lti_line_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("registration_id", sa.Integer, sa.ForeignKey("lti_registrations.id"), nullable=False),
    sa.Column("lineitems_url", sa.Text, nullable=False),
    sa.Column("resource_link_id", sa.String(255), nullable=False),
    sa.Column("lineitem_url", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.UniqueConstraint("registration_id", "resource_link_id", name="uq_lti_line_item"),
)

lms_calls = sa.Table(
    "lms_calls",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("institution_id", sa.String(64), sa.ForeignKey("institutions.id"), nullable=False),
    sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), nullable=False),
    #: acs or ags; the action is the ACS action (flag, terminate) or ags "score".
    sa.Column("service", sa.String(8), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    #: pending (due at next_attempt_at), delivered, failed (attempts exhausted or refused), or
    #: superseded (a newer call of the same kind for the session replaced it before it was sent).
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.Double, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    #: What the last attempt sent (built when sent, from the session as it then is).
    sa.Column("payload", sa.Text),
    sa.Column("last_attempt_at", sa.Double),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_error", sa.Text),
    #: The platform's answer: the ACS status, or the AGS line item's URL.
    sa.Column("result", sa.Text),
    sa.Column("delivered_at", sa.Double),
    sa.Index("ix_lms_calls_due", "status", "next_attempt_at"),
    sa.Index("ix_lms_calls_session", "session_id", "service", "action"),
)

lti_registration_links = sa.Table(
    "lti_registration_links",
    metadata,
    #: SHA-256 of the one-time code in the URL an administrator pastes into the LMS.
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("integration_id", sa.Integer, sa.ForeignKey("integrations.id"), nullable=False),
    sa.Column("exam_url", sa.Text),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Column("used_at", sa.Double),
    sa.Column("registration_id", sa.Integer, sa.ForeignKey("lti_registrations.id")),
)

identity_reveals = sa.Table(
    "identity_reveals",
    metadata,
    #: A reviewer asked to see who a session's student is, and why (also in the audit log).
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), nullable=False),
    sa.Column("reviewer", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Index("ix_identity_reveals_session", "session_id"),
)
