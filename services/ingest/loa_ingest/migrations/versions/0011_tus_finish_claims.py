"""An upload whose last byte is in is finished (assembled, checked, stored, announced) by one replica at a time: the
replica that claims it writes its claim (`finisher`) and the claim's end (`finishing_until`, seconds since the epoch,
renewed while it works) on the upload's row; another request for the same upload waits for the outcome, or takes
the claim over once it has lapsed (its replica died)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("uploads", sa.Column("finisher", sa.Text(), nullable=True))
    op.add_column("uploads", sa.Column("finishing_until", sa.Float(), nullable=True))
