"""Replicas share the tus uploads and the rate limits (LOA_TUS_SPOOL=shared, loa_ingest/tus_parts.py): each upload's
committed parts in object storage are listed on its row (`parts`, JSON), and each rate-limited key's token bucket is
a row (`rate_buckets`, loa_ingest/access.py), so a limit holds whichever replica a request reaches."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("uploads", sa.Column("parts", sa.Text(), nullable=False, server_default="[]"))
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),  # seconds since the epoch (every replica's clock)
    )
