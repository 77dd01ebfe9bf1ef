"""Footage belongs to a ward: an upload records the ward its footage will belong to, and the catalog knows a file per
ward (the same file uploaded by two wards is two footage, so neither learns of the other's). Rows from before wards
are the default ward's.

The catalog's primary key becomes (ward, sha256): the table is rebuilt under the same name, every row copied (the
same statements on SQLite and PostgreSQL). No downgrade: restore a backup instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("uploads", sa.Column("ward", sa.Text(), nullable=False, server_default="default"))
    op.create_table(
        "footage_by_ward",
        sa.Column("ward", sa.Text(), primary_key=True),
        sa.Column("sha256", sa.Text(), primary_key=True),
        sa.Column("footage_id", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("event", sa.Text()),
        sa.Column("announced", sa.Integer(), nullable=False, server_default="1"),
    )
    op.execute(
        "INSERT INTO footage_by_ward (ward, sha256, footage_id, created_at, event, announced) "
        "SELECT 'default', sha256, footage_id, created_at, event, announced FROM footage"
    )
    op.drop_table("footage")
    op.rename_table("footage_by_ward", "footage")
