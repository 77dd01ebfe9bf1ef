"""Footage and posts belong to a ward: the ward each footage's events carry, kept on its footage row and its posts;
rows from before wards are the default ward's. Failures keep the platform of a failed post (the district's totals
count failed posts per platform; rows from before: unknown). No downgrade: the projection is rebuilt by replaying.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("footage", sa.Column("ward", sa.Text(), nullable=False, server_default="default"))
    op.add_column("posts", sa.Column("ward", sa.Text(), nullable=False, server_default="default"))
    op.add_column("failures", sa.Column("platform", sa.Text()))
    op.create_index("footage_ward", "footage", ["ward"])
