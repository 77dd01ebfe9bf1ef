"""Followers per channel over time: the last figure polled on each UTC day, with the channel's ward (the report
upward draws followers gained over a month from it; channel_stats keeps only the latest figure).
No downgrade: the projection is rebuilt by replaying, and the poller fills the series again from the day it runs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "followers_daily",
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("day", sa.Text(), nullable=False),
        sa.Column("ward", sa.Text(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("followers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "day"),
    )
    op.create_index("followers_daily_ward", "followers_daily", ["ward", "day"])
