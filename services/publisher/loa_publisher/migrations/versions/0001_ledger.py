"""The ledger as the hand-written code made it until Alembic: posts, refresh_tokens and the posts_due index.

A database made by that code (any of its versions) is adopted, not recreated: a table that exists is kept with its
rows and given the columns it lacks (`session`, `due_at`, `request` came with resumable uploads, `failing_since`
with the give-up time), as that code's start-up did. On PostgreSQL that code kept them in the `public` schema; they
move into the publisher's own (loa_core.db: one schema per service).

No downgrade: a ledger is never taken back (restore a backup instead, docs/operations/backup-restore.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

KEY = ("footage_id", "channel", "profile")
COLUMNS = {  # name -> NOT NULL; every column is TEXT (timestamps as ISO-8601, sessions as JSON)
    "footage_id": True,
    "channel": True,
    "profile": True,
    "state": True,
    "post_id": False,
    "url": False,
    "published_at": False,
    "error": False,
    "updated_at": True,
    "session": False,
    "due_at": False,
    "request": False,
    "failing_since": False,
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        ours = bind.execute(sa.text("SELECT current_schema()")).scalar()
        present = set(sa.inspect(bind).get_table_names(schema=ours))
        for table in set(sa.inspect(bind).get_table_names(schema="public")) & {"posts", "refresh_tokens"} - present:
            op.execute(f"ALTER TABLE public.{table} SET SCHEMA {ours}")
    inspector = sa.inspect(bind)
    tables = set(inspector.get_table_names())
    if "posts" not in tables:
        op.create_table(
            "posts",
            *(sa.Column(name, sa.Text(), nullable=not required) for name, required in COLUMNS.items()),
            sa.PrimaryKeyConstraint(*KEY),
        )
    else:
        present = {column["name"] for column in inspector.get_columns("posts")}
        for name, required in COLUMNS.items():
            if name not in present:
                op.add_column("posts", sa.Column(name, sa.Text(), nullable=not required))
    if "refresh_tokens" not in tables:
        op.create_table(
            "refresh_tokens",
            sa.Column("channel", sa.Text(), primary_key=True),
            sa.Column("token", sa.Text(), nullable=False),
            sa.Column("updated_at", sa.Text(), nullable=False),
        )
    if "posts" not in tables or "posts_due" not in {i["name"] for i in inspector.get_indexes("posts")}:
        op.create_index("posts_due", "posts", ["state", "due_at"])
