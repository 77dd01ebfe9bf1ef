"""Channels live in ingest's database (loa_ingest/channels.py): one row per channel, its whole configuration, and the
registry record of its newest revision with whether that record is known to be on `channels.registry` (the outbox).

The table starts empty; ingest's first start after this revision imports LOA_CHANNELS_FILE (or the embedded `local`
channel) into it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("ward", sa.Text(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("profiles", sa.Text(), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("logo_key", sa.Text()),
        sa.Column("intro_key", sa.Text()),
        sa.Column("outro_key", sa.Text()),
        sa.Column("approval_required", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("state_reason", sa.Text()),
        sa.Column("connection_id", sa.Text()),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
    )
    op.create_index("channels_by_ward", "channels", ["ward"])
