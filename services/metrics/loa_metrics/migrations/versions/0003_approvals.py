"""Approval in the projection: the newest approver's decision per (footage, channel), and the fingerprint of each
footage's own text (from its renditions event), so the view can say which expected posts await approval, are
approved or were rejected (contracts.decisions.approval_of). No downgrade: the projection is rebuilt by replaying.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("footage", sa.Column("text_sha256", sa.Text()))
    op.create_table(
        "decisions",
        sa.Column("footage_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("footage_id", "channel"),
    )
