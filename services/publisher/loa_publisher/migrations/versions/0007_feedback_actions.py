"""People's acts on citizens' comments and messages (feedback.actions: reply, hide, unhide): one row per action id,
so each is done on the platform once. `reply_id` is the platform's id of the reply made, kept so a reply found by
reading the thread back after a crash is claimed by one action only. No downgrade: restore a backup instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback_actions",
        sa.Column("action_id", sa.Text(), primary_key=True),
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("reply_id", sa.Text()),
        sa.Column("record", sa.Text()),
        sa.Column("started_at", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
    )
    op.create_index("feedback_actions_replies", "feedback_actions", ["channel", "external_id"])
