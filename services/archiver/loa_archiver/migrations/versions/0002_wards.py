"""Stream keys, pulls and archives belong to a ward (their channel's, when they were made); rows from before wards
are the default ward's. No downgrade: restore a backup instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("stream_keys", "pulls", "archives"):
        op.add_column(table, sa.Column("ward", sa.Text(), nullable=False, server_default="default"))
