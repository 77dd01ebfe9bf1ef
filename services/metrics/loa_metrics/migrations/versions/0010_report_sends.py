"""The report upward mailed once per scope and period: `report_sends` records each (a ward or "district", a period
such as 2026-11) when a replica claims it, and when the mail went. A claim that never became a send (the replica died
in between) is taken again after a while. No downgrade: forgetting sends would mail the reports again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_sends",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("claimed_at", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.Text()),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "period"),
    )
