"""The projection as the hand-written code made it until Alembic: footage, posts, failures, post_views_daily,
channel_stats and their indexes.

A database made by that code (any of its versions) is adopted, not recreated: a table that exists is kept with its
rows and given the columns it lacks (`source_bytes`; the engagement figures, `stats_at` and `announced_at`), as
that code's start-up did. No downgrade: the projection is rebuilt by replaying the topics, never taken back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> dict[str, tuple[list[sa.Column[object]], tuple[str, ...]]]:
    """Each table's columns (in the order the old code had them, added ones last) and its primary key."""
    text, integer = sa.Text, sa.Integer
    return {
        "footage": (
            [
                sa.Column("footage_id", text()),
                sa.Column("title", text()),
                sa.Column("series", text()),
                sa.Column("channels", text()),
                sa.Column("source", text()),
                sa.Column("uploaded_at", text()),
                sa.Column("transcoded_at", text()),
                sa.Column("renditions", text()),
                sa.Column("published_counted", integer(), nullable=False, server_default="0"),
                sa.Column("source_bytes", integer()),
            ],
            ("footage_id",),
        ),
        "posts": (
            [
                sa.Column("footage_id", text(), nullable=False),
                sa.Column("channel", text(), nullable=False),
                sa.Column("profile", text(), nullable=False),
                sa.Column("platform", text(), nullable=False),
                sa.Column("post_id", text()),
                sa.Column("url", text()),
                sa.Column("published_at", text()),
                sa.Column("views", integer()),
                sa.Column("likes", integer()),
                sa.Column("comments", integer()),
                sa.Column("shares", integer()),
                sa.Column("stats_at", text()),
                sa.Column("announced_at", text()),
            ],
            ("footage_id", "channel", "profile"),
        ),
        "failures": (
            [
                sa.Column("event_id", text()),
                sa.Column("footage_id", text()),
                sa.Column("stage", text(), nullable=False),
                sa.Column("channel", text()),
                sa.Column("reason", text(), nullable=False),
                sa.Column("at", text(), nullable=False),
            ],
            ("event_id",),
        ),
        "post_views_daily": (
            [
                sa.Column("platform", text(), nullable=False),
                sa.Column("post_id", text(), nullable=False),
                sa.Column("day", text(), nullable=False),
                sa.Column("views", integer(), nullable=False),
            ],
            ("platform", "post_id", "day"),
        ),
        "channel_stats": (
            [
                sa.Column("channel", text()),
                sa.Column("platform", text(), nullable=False),
                sa.Column("followers", integer(), nullable=False),
                sa.Column("polled_at", text(), nullable=False),
            ],
            ("channel",),
        ),
    }


INDEXES = {
    # The poller updates posts by platform id; a failure is looked up by footage.
    "posts_by_platform_id": ("posts", ["platform", "post_id"]),
    "failures_by_footage": ("failures", ["footage_id"]),
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for name, (columns, key) in _tables().items():
        if name not in existing:
            op.create_table(name, *columns, sa.PrimaryKeyConstraint(*key))
            continue
        present = {column["name"] for column in inspector.get_columns(name)}
        for column in columns:
            if column.name not in present:
                op.add_column(name, column)
    for index, (table, indexed) in INDEXES.items():
        if table not in existing or index not in {i["name"] for i in inspector.get_indexes(table)}:
            op.create_index(index, table, indexed)
