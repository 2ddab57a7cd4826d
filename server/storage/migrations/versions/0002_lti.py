"""LTI 1.3: platform registrations, the tool's keys, login states, launch contexts; the LMS
course (context) a session was launched from.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lti_registrations",
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
        sa.UniqueConstraint("issuer", "client_id", name="uq_lti_registration"),
    )
    op.create_table(
        "lti_tool_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("private_enc", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("retired_at", sa.Double),
    )
    op.create_table(
        "lti_states",
        sa.Column("state", sa.String(64), primary_key=True),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column(
            "registration_id",
            sa.Integer,
            sa.ForeignKey("lti_registrations.id"),
            nullable=False,
        ),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("used_at", sa.Double),
    )
    op.create_table(
        "lti_contexts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "registration_id",
            sa.Integer,
            sa.ForeignKey("lti_registrations.id"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("claims", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("used_at", sa.Double),
    )
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("context_id", sa.String(255)))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("context_id")
    for table in ("lti_contexts", "lti_states", "lti_tool_keys", "lti_registrations"):
        op.drop_table(table)
