"""People's schedule changes (reschedule, cancel: contracts.schedule): the newest per (footage, channel), kept whether
or not the post exists yet (a change that arrives before the renditions is applied when they do). A cancelled post
is held (state SCHEDULED) with no due time the scheduler ever reaches.

No downgrade: a ledger is never taken back (restore a backup instead, docs/operations/backup-restore.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_changes",
        sa.Column("footage_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("footage_id", "channel"),
    )
