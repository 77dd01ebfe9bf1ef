"""Tokens belong to a ward: a token made before wards belongs to the default ward (a district admin's token still
reaches every ward, by its role)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tokens", sa.Column("ward", sa.Text(), nullable=False, server_default="default"))
