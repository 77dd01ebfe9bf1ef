"""The sha256 of each post's uploaded file (its signed copy of the cut, posts.published), so a check by hash finds the
post of the exact file people downloaded. No downgrade: the projection is rebuilt by replaying.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("posts", sa.Column("sha256", sa.Text()))
    op.create_index("posts_sha256", "posts", ["sha256"])
