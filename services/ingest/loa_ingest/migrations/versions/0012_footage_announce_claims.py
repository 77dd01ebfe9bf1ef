"""A recorded footage is stored and announced by one request at a time, on whichever replica: the request that
claims it writes its claim (`announcer`) and the claim's end (`announcing_until`, seconds since the epoch, renewed
while it works) on the footage's row; another upload of the same file waits for the outcome, or takes the claim over
once it has lapsed (its replica died). Only the claim's holder may give back a source it stored."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("footage", sa.Column("announcer", sa.Text(), nullable=True))
    op.add_column("footage", sa.Column("announcing_until", sa.Float(), nullable=True))
