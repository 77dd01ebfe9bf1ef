"""People's fixes to published posts (posts.actions): one row per (action, cut), so each action acts once. No
downgrade: restore a backup instead.
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
        "actions",
        sa.Column("action_id", sa.Text(), primary_key=True),
        sa.Column("profile", sa.Text(), primary_key=True),
        sa.Column("footage_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("record", sa.Text()),
        sa.Column("updated_at", sa.Text(), nullable=False),
    )
