"""Ingest's state as the hand-written code made it until Alembic: uploads (tus records), footage (the catalog and
outbox of announcements) and tokens (role tokens), which that code kept in three SQLite files.

A database made by that code is adopted, not recreated:
- a table that exists is kept with its rows and given the columns it lacks (`event` and `announced` came with the
  outbox; a catalog row from before it was announced after its send, so it counts as announced), as that code's
  start-up did; on PostgreSQL, its INTEGER sizes and REAL times are widened (a 20 GiB upload, a time to the
  millisecond);
- on SQLite, the three files that code wrote beside the new database (`ingest-uploads.sqlite3`,
  `ingest-catalog.sqlite3`, `ingest-tokens.sqlite3` in the same data_dir) are copied in, every row. They are left
  in place, unread from then on: delete them once the new database is known good.

No downgrade: restore a backup instead (docs/operations/backup-restore.md).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> dict[str, list[sa.Column[object]]]:
    """Each table's columns, in the order the old code had them (added ones last)."""
    text, big, real = sa.Text, sa.BigInteger, sa.Float
    return {
        "uploads": [
            sa.Column("id", text(), primary_key=True),
            sa.Column("length", big(), nullable=False),
            sa.Column("offset", big(), nullable=False),
            sa.Column("raw_metadata", text(), nullable=False),
            sa.Column("metadata_json", text(), nullable=False),
            sa.Column("owner", text(), nullable=False),
            sa.Column("created_at", real(), nullable=False),
            sa.Column("expires_at", real(), nullable=False),
            sa.Column("state", text(), nullable=False),
            sa.Column("footage_id", text()),
            sa.Column("duplicate", sa.Integer(), nullable=False, server_default="0"),
            sa.Column("reason", text()),
        ],
        "footage": [
            sa.Column("sha256", text(), primary_key=True),
            sa.Column("footage_id", text(), nullable=False),
            sa.Column("created_at", text(), nullable=False),
            sa.Column("event", text()),
            sa.Column("announced", sa.Integer(), nullable=False, server_default="1"),
        ],
        "tokens": [
            sa.Column("token_id", text(), primary_key=True),
            sa.Column("sha256", text(), nullable=False, unique=True),
            sa.Column("role", text(), nullable=False),
            sa.Column("label", text(), nullable=False),
            sa.Column("created_by", text(), nullable=False),
            sa.Column("created_at", real(), nullable=False),
            sa.Column("revoked_at", real()),
        ],
    }


# The files the previous code kept each table in, beside the new database on SQLite.
PREVIOUS_FILES = {
    "uploads": "ingest-uploads.sqlite3",
    "footage": "ingest-catalog.sqlite3",
    "tokens": "ingest-tokens.sqlite3",
}
WIDENED = {"uploads": ("length", "offset", "created_at", "expires_at"), "tokens": ("created_at", "revoked_at")}


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    existing = set(inspector.get_table_names())
    tables = _tables()
    for name, columns in tables.items():
        if name not in existing:
            op.create_table(name, *columns)
            continue
        present = {column["name"] for column in inspector.get_columns(name)}
        for column in columns:
            if column.name not in present:
                op.add_column(name, column)
        if bind.dialect.name == "postgresql":
            for column in columns:
                if column.name in WIDENED.get(name, ()):
                    op.alter_column(name, column.name, type_=column.type)
    if bind.dialect.name == "sqlite" and bind.engine.url.database not in (None, "", ":memory:"):
        folder = Path(str(bind.engine.url.database)).parent
        for name, file in PREVIOUS_FILES.items():
            if name not in existing and (folder / file).exists():
                _copy_rows(folder / file, name, tables[name])


def _copy_rows(path: Path, name: str, columns: list[sa.Column[object]]) -> None:
    """Every row of the previous code's table `name` in the SQLite file `path` into the new table."""
    old = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        old.row_factory = sqlite3.Row
        if not old.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone():
            return
        rows = [dict(row) for row in old.execute(f'SELECT * FROM "{name}"')]  # noqa: S608 (a name of ours)
    finally:
        old.close()
    if rows:
        table = sa.table(name, *(sa.column(c.name, c.type) for c in columns if c.name in rows[0]))
        op.bulk_insert(table, rows)
