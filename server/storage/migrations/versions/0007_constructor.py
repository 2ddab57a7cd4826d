"""Constructor's simple integration: per integration, where results go (``review_url``) and
whether claims openproctor does not honour are refused (``strict_claims``); per session, the
start token's stored claims and what was not done (``warnings``).

Revision ID: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("integrations") as batch:
        batch.add_column(sa.Column("review_url", sa.Text))
        batch.add_column(
            sa.Column("strict_claims", sa.Boolean, nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("claims_json", sa.Text))
        batch.add_column(sa.Column("warnings_json", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("warnings_json")
        batch.drop_column("claims_json")
    with op.batch_alter_table("integrations") as batch:
        batch.drop_column("strict_claims")
        batch.drop_column("review_url")
