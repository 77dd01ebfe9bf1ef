"""A segment's video as read when it was stored (loa_core.segments.SegmentVideo), so the end of a live joins the
segments without reading every one again. NULL for the segments stored before (and for one whose read failed): the
end of the live reads those. No downgrade: restore a backup instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name, kind in (
        ("video_first_s", sa.Float()),
        ("video_last_s", sa.Float()),
        ("video_frames", sa.Integer()),
        ("video_steady", sa.Integer()),
        ("video_steady_s", sa.Float()),
    ):
        op.add_column("segments", sa.Column(name, kind, nullable=True))
