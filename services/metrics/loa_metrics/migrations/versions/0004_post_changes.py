"""A post a person changed or took down (posts.changed): its state, edited or unpublished (NULL: as published), and
its text after an edit. No downgrade: the projection is rebuilt by replaying.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("posts", sa.Column("state", sa.Text()))
    op.add_column("posts", sa.Column("title", sa.Text()))
