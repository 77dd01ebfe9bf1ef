"""The citizens' feedback (issue 16): every comment and message collected (feedback.received), one row per item id,
and where each collection stands, so polling is incremental and survives a restart.

- `feedback_items`: the item as the platform gave it (contracts.feedback.FeedbackReceived). A redelivered or
  re-collected item updates its text, never people's state (the inbox's own columns come in 0009). The ward's
  inbox reads newest first: (ward, written_at DESC, item_id); a thread reads by (channel, thread_id).
- `feedback_cursors`: per channel and scope ("" for the whole channel, else a platform post id) the newest
  comment time collected completely (`newest_at`), and while a listing is unfinished (a round stopped at its page
  cap) the platform's page token to resume it from and the newest time that listing began with. Advanced only
  after the events it covers are on Kafka.
- `leases`: which replica runs a singleton task (the poller) until when; a replica takes a lease that expired.
No downgrade: the projection is rebuilt by replaying (cursors start again from nothing: ids keep it duplicate-free).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback_items",
        sa.Column("item_id", sa.Text(), primary_key=True),
        sa.Column("ward", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("thread_id", sa.Text()),
        sa.Column("post_id", sa.Text()),
        sa.Column("footage_id", sa.Text()),
        sa.Column("author_name", sa.Text(), nullable=False, server_default=""),
        sa.Column("author_id", sa.Text()),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("truncated", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("url", sa.Text()),
        sa.Column("written_at", sa.Text(), nullable=False),
        sa.Column("by_channel", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("received_at", sa.Text(), nullable=False),
    )
    op.create_index("feedback_ward_newest", "feedback_items", ["ward", sa.text("written_at DESC"), "item_id"])
    op.create_index("feedback_newest", "feedback_items", [sa.text("written_at DESC"), "item_id"])
    op.create_index("feedback_thread", "feedback_items", ["channel", "thread_id"])
    op.create_table(
        "feedback_cursors",
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),  # "" (the whole channel) or a platform post id
        sa.Column("newest_at", sa.Text()),
        sa.Column("page_token", sa.Text()),
        sa.Column("listing_newest_at", sa.Text()),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "scope"),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Text(), nullable=False),
    )
