"""Security hardening: exams with their course, revocable reviewer sessions, an audit log,
integration secret rotation, and LTI registrations unique per integration.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exams",
        sa.Column(
            "institution_id", sa.String(64), sa.ForeignKey("institutions.id"), primary_key=True
        ),
        sa.Column("exam_id", sa.String(128), primary_key=True),
        sa.Column("context_id", sa.String(255)),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
    )
    # Every exam that has a policy; its course is the one its first LTI session came from.
    op.execute(
        """
        INSERT INTO exams (institution_id, exam_id, context_id, created_at, created_by)
        SELECT p.institution_id, p.exam_id,
               (SELECT s.context_id FROM sessions s
                 WHERE s.institution_id = p.institution_id AND s.exam_id = p.exam_id
                   AND s.context_id IS NOT NULL
                 ORDER BY s.started_at LIMIT 1),
               MIN(p.created_at), 'migration'
          FROM policies p GROUP BY p.institution_id, p.exam_id
        """
    )
    op.create_table(
        "reviewer_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "institution_id", sa.String(64), sa.ForeignKey("institutions.id"), nullable=False
        ),
        sa.Column("username", sa.String(100)),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("context_id", sa.String(255)),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("revoked_at", sa.Double),
    )
    op.create_index("ix_reviewer_sessions_username", "reviewer_sessions", ["username"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("institution_id", sa.String(64)),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_institution", "audit_log", ["institution_id", "at"])
    with op.batch_alter_table("integrations") as batch:
        batch.add_column(sa.Column("previous_secret_enc", sa.LargeBinary))
        batch.add_column(sa.Column("previous_secret_until", sa.Double))
    with op.batch_alter_table("lti_registrations") as batch:
        batch.drop_constraint("uq_lti_registration", type_="unique")
        batch.create_unique_constraint(
            "uq_lti_registration", ["integration_id", "issuer", "client_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("lti_registrations") as batch:
        batch.drop_constraint("uq_lti_registration", type_="unique")
        batch.create_unique_constraint("uq_lti_registration", ["issuer", "client_id"])
    with op.batch_alter_table("integrations") as batch:
        batch.drop_column("previous_secret_until")
        batch.drop_column("previous_secret_enc")
    op.drop_index("ix_audit_institution", "audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_reviewer_sessions_username", "reviewer_sessions")
    op.drop_table("reviewer_sessions")
    op.drop_table("exams")
