"""The ingest's rate limit, kept in the session's row so that every server process enforces
the same one (``rate_tat``: the generic cell rate algorithm's theoretical arrival time, in
seconds since the epoch; None before the first batch).

Revision ID: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("rate_tat", sa.Double))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("rate_tat")
