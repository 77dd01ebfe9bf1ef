"""A post belongs to its footage's ward (from the renditions.ready event that asked for it), so a retry is refused to
another ward; rows from before wards are the default ward's. No downgrade: restore a backup instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("posts", sa.Column("ward", sa.Text(), nullable=False, server_default="default"))
