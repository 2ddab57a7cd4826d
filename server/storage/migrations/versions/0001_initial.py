"""Initial schema: institutions, integrations, policies, sessions, events.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "institutions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "integrations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column(
            "institution_id", sa.String(64), sa.ForeignKey("institutions.id"), nullable=False
        ),
        sa.Column("secret_enc", sa.LargeBinary, nullable=False),
        sa.Column("allowed_origins", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "policies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "institution_id", sa.String(64), sa.ForeignKey("institutions.id"), nullable=False
        ),
        sa.Column("exam_id", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.UniqueConstraint("institution_id", "exam_id", "version", name="uq_policy_version"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("integration_id", sa.Integer, sa.ForeignKey("integrations.id"), nullable=False),
        sa.Column(
            "institution_id", sa.String(64), sa.ForeignKey("institutions.id"), nullable=False
        ),
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
        sa.UniqueConstraint("integration_id", "external_id", name="uq_session_external"),
    )
    op.create_index("ix_sessions_exam", "sessions", ["institution_id", "exam_id"])
    op.create_table(
        "events",
        sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("t", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("prev", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.Column("received_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    for table in ("events", "sessions", "policies", "integrations", "institutions"):
        op.drop_table(table)
