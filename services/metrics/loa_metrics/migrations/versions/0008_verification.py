"""Provenance (issue 17): every cut's sha256 and perceptual fingerprint, looked up when someone checks a video, and
the count of those checks per day, ward, answer and origin for the report upward. No downgrade: the projection is
rebuilt by replaying.
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
        "cut_fingerprints",
        sa.Column("footage_id", sa.Text(), primary_key=True),
        sa.Column("profile", sa.Text(), primary_key=True),
        sa.Column("ward", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text()),
        sa.Column("fingerprint", sa.Text()),
    )
    op.create_index("cut_fingerprints_sha256", "cut_fingerprints", ["sha256"])
    op.create_table(
        "verifications",
        sa.Column("day", sa.Text(), primary_key=True),
        sa.Column("ward", sa.Text(), primary_key=True),
        sa.Column("answer", sa.Text(), primary_key=True),
        sa.Column("via", sa.Text(), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
