"""The archiver's store as the hand-written code made it until Alembic: stream_keys, archives, segments, marks,
announcements and pulls.

A database made by that code is adopted, not recreated: a table that exists is kept with its rows (and given any
column it lacks); one that is missing (announcements, in a store older than the finalize's outbox) is created.
No downgrade: restore a backup instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> dict[str, tuple[list[sa.Column[object]], tuple[str, ...]]]:
    """Each table's columns (in the order the old code had them) and its primary key."""

    def text(name: str, required: bool = True) -> sa.Column[object]:
        return sa.Column(name, sa.Text(), nullable=not required)

    def integer(name: str, required: bool = True) -> sa.Column[object]:
        return sa.Column(name, sa.Integer(), nullable=not required, autoincrement=False)

    def real(name: str) -> sa.Column[object]:
        return sa.Column(name, sa.Float(), nullable=False)

    return {
        "stream_keys": (
            [
                *(text(c) for c in ("key_id", "channel", "key_hash", "title", "archive_channels")),
                *(text(c) for c in ("highlight_channels", "restream_urls", "created_at")),
                text("revoked_at", False),
            ],
            ("key_id",),
        ),
        "archives": (
            [
                *(text(c) for c in ("archive_id", "source", "owner_id", "channel", "title", "archive_channels")),
                *(text(c) for c in ("highlight_channels", "footage_id", "state", "started_at")),
                text("ended_at", False),
                text("error", False),
            ],
            ("archive_id",),
        ),
        "segments": (
            [text("archive_id"), integer("n"), text("key"), real("duration_s"), integer("source_seq", False)],
            ("archive_id", "n"),
        ),
        "marks": (
            [
                text("archive_id"),
                integer("idx"),
                real("start_s"),
                real("end_s"),
                text("title", False),
                text("footage_id"),
            ],
            ("archive_id", "idx"),
        ),
        "announcements": (
            [text("archive_id"), integer("idx"), text("footage_id"), text("event"), text("sent_at", False)],
            ("archive_id", "idx"),
        ),
        "pulls": (
            [
                *(text(c) for c in ("pull_id", "url", "channel", "title", "archive_channels", "highlight_channels")),
                text("start_at"),
                text("end_at", False),
                text("state"),
                text("archive_id", False),
                integer("last_seq", False),
                text("error", False),
            ],
            ("pull_id",),
        ),
    }


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for name, (columns, key) in _tables().items():
        if name not in existing:
            unique = [sa.UniqueConstraint("key_hash")] if name == "stream_keys" else []
            op.create_table(name, *columns, sa.PrimaryKeyConstraint(*key), *unique)
            continue
        present = {column["name"] for column in inspector.get_columns(name)}
        for column in columns:
            if column.name not in present:
                op.add_column(name, column)
