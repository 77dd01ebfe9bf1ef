"""Facebook Reels started per Page: Facebook takes about 30 API reels per Page in a moving 24 hours, and asks apps to
count them too; a vertical cut goes as a plain Page video once the day's are spent. One row per reel (its video id),
written when its upload session starts, so a crash and a resume count it once. No downgrade: restore a backup.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reels",
        sa.Column("page_id", sa.Text(), primary_key=True),
        sa.Column("video_id", sa.Text(), primary_key=True),
        sa.Column("started_at", sa.Text(), nullable=False),
    )
