"""A student's own explanations of flagged episodes, shown to reviewers beside the episode and
included in the evidence bundle; the student's language on the session (``lang``); and the
audit log's hash chain (``prev``, ``mac``: storage/audit.py; older entries stay unchained);
reviewers' verdicts on flagged episodes and the claim of a session for review; the scores of
record a session has had (what-if rescoring, server/whatif.py).

Revision ID: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "explanations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index("ix_explanations_session", "explanations", ["session_id", "seq"])
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("lang", sa.String(8)))
        batch.add_column(sa.Column("claimed_by", sa.String(255)))
        batch.add_column(sa.Column("claimed_at", sa.Double))
    op.create_table(
        "incident_verdicts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("reviewer", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index("ix_incident_verdicts_session", "incident_verdicts", ["session_id", "seq"])
    op.create_table(
        "score_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("score", sa.Double),
        sa.Column("flagged", sa.Boolean, nullable=False),
        sa.Column("breakdown_json", sa.Text),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index("ix_score_versions_session", "score_versions", ["session_id"])
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("prev", sa.String(64)))
        batch.add_column(sa.Column("mac", sa.String(64)))


def downgrade() -> None:
    op.drop_index("ix_score_versions_session", "score_versions")
    op.drop_table("score_versions")
    op.drop_index("ix_incident_verdicts_session", "incident_verdicts")
    op.drop_table("incident_verdicts")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("claimed_at")
        batch.drop_column("claimed_by")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("mac")
        batch.drop_column("prev")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("lang")
    op.drop_index("ix_explanations_session", "explanations")
    op.drop_table("explanations")
