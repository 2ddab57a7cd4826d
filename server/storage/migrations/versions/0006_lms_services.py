"""LTI services back to the platform: each launch's attempt (ACS and AGS claims), the tool's
own line items, the durable queue of calls to the platform, the one-time links of LTI
Dynamic Registration, an exam's access code (the gate for LMSs without proctoring messages),
and who sees a session's student on the dashboard (blind review, audited reveals).

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("institutions") as batch:
        batch.add_column(sa.Column("identity_visibility", sa.String(16)))
    op.create_table(
        "identity_reveals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("reviewer", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index("ix_identity_reveals_session", "identity_reveals", ["session_id"])
    with op.batch_alter_table("exams") as batch:
        batch.add_column(sa.Column("access_code_enc", sa.LargeBinary))
    op.create_table(
        "lti_attempts",
        sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), primary_key=True),
        sa.Column(
            "registration_id",
            sa.Integer,
            sa.ForeignKey("lti_registrations.id"),
            nullable=False,
        ),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("resource_link", sa.Text, nullable=False),
        sa.Column("attempt_number", sa.Integer),
        sa.Column("acs_url", sa.Text),
        sa.Column("acs_actions", sa.Text),
        sa.Column("ags_lineitems", sa.Text),
        sa.Column("ags_scopes", sa.Text),
        sa.Column("gradebook", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "lti_line_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "registration_id",
            sa.Integer,
            sa.ForeignKey("lti_registrations.id"),
            nullable=False,
        ),
        sa.Column("lineitems_url", sa.Text, nullable=False),
        sa.Column("resource_link_id", sa.String(255), nullable=False),
        sa.Column("lineitem_url", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.UniqueConstraint("registration_id", "resource_link_id", name="uq_lti_line_item"),
    )
    op.create_table(
        "lms_calls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "institution_id", sa.String(64), sa.ForeignKey("institutions.id"), nullable=False
        ),
        sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("service", sa.String(8), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Double, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("payload", sa.Text),
        sa.Column("last_attempt_at", sa.Double),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("result", sa.Text),
        sa.Column("delivered_at", sa.Double),
    )
    op.create_index("ix_lms_calls_due", "lms_calls", ["status", "next_attempt_at"])
    op.create_index("ix_lms_calls_session", "lms_calls", ["session_id", "service", "action"])
    op.create_table(
        "lti_registration_links",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("integration_id", sa.Integer, sa.ForeignKey("integrations.id"), nullable=False),
        sa.Column("exam_url", sa.Text),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("used_at", sa.Double),
        sa.Column("registration_id", sa.Integer, sa.ForeignKey("lti_registrations.id")),
    )


def downgrade() -> None:
    op.drop_table("identity_reveals")
    with op.batch_alter_table("institutions") as batch:
        batch.drop_column("identity_visibility")
    with op.batch_alter_table("exams") as batch:
        batch.drop_column("access_code_enc")
    op.drop_table("lti_registration_links")
    op.drop_table("lms_calls")
    op.drop_table("lti_line_items")
    op.drop_table("lti_attempts")
