"""The citizens' inbox: what people did about each item (feedback.actions) and what the platform did about their
replies and hides (feedback.done), beside the items collected from the platforms (feedback_items).

- `inbox_state`: one row per item a person acted on or the rules tagged: its assignee, a person's topic, the rules'
  topic, handled, hidden (the newest hide/unhide asked, and where that stands), and when the item was first
  answered on the platform;
- `inbox_actions`: every FeedbackAction once, by its event id (a redelivery changes nothing);
- `inbox_done`: every FeedbackDone once, by the action it answers (kept apart from the action, which may arrive
  later: the topics are read independently);
- `inbox_settings`: a ward's response-time target and topic rules (None: the defaults, loa_metrics/triage.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text, integer = sa.Text, sa.Integer
    op.create_table(
        "inbox_state",
        sa.Column("item_id", text(), primary_key=True),
        sa.Column("ward", text(), nullable=False),
        sa.Column("assignee", text()),
        sa.Column("topic", text()),
        sa.Column("rule_topic", text()),
        sa.Column("handled", integer(), nullable=False, server_default="0"),
        sa.Column("handled_at", text()),
        sa.Column("hidden", integer(), nullable=False, server_default="0"),
        sa.Column("hide_action", text()),
        sa.Column("first_reply_at", text()),
    )
    op.create_index("inbox_state_ward", "inbox_state", ["ward"])
    op.create_table(
        "inbox_actions",
        sa.Column("action_id", text(), primary_key=True),
        sa.Column("item_id", text(), nullable=False),
        sa.Column("ward", text(), nullable=False),
        sa.Column("channel", text(), nullable=False),
        sa.Column("action", text(), nullable=False),
        sa.Column("by", text(), nullable=False),
        sa.Column("at", text(), nullable=False),
        sa.Column("assignee", text()),
        sa.Column("topic", text()),
        sa.Column("text", text()),
    )
    op.create_index("inbox_actions_item", "inbox_actions", ["item_id", "at"])
    op.create_table(
        "inbox_done",
        sa.Column("action_id", text(), primary_key=True),
        sa.Column("item_id", text(), nullable=False),
        sa.Column("state", text(), nullable=False),
        sa.Column("reply_id", text()),
        sa.Column("reason", text()),
        sa.Column("at", text(), nullable=False),
    )
    op.create_index("inbox_done_item", "inbox_done", ["item_id"])
    op.create_table(
        "inbox_settings",
        sa.Column("ward", text(), primary_key=True),
        sa.Column("target_hours", integer(), nullable=False),
        sa.Column("rules", text()),  # JSON {topic: {"keywords": [...], "except": [...]}}; NULL: the defaults
        sa.Column("updated_by", text(), nullable=False),
        sa.Column("updated_at", text(), nullable=False),
    )
