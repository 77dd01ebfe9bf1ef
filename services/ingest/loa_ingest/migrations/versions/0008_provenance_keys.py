"""Provenance keys: the installation's root CA(s) and each ward's C2PA signing certificates, the private keys
encrypted with the operator's key (loa_ingest/provenance_keys.py)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text, real = sa.Text, sa.Float
    op.create_table(
        "provenance_certs",
        sa.Column("serial", text(), primary_key=True),  # lower-case hex
        sa.Column("ward", text()),  # NULL: a root CA (a trust anchor)
        sa.Column("chain_pem", text(), nullable=False),
        sa.Column("key_pem", text()),  # encrypted; NULL: a root imported without its key
        sa.Column("not_after", real(), nullable=False),
        sa.Column("created_at", real(), nullable=False),
        sa.Column("retired_at", real()),
        sa.Column("revoked_at", real()),
        sa.Column("revoked_reason", text()),
    )
    op.create_index("provenance_certs_ward", "provenance_certs", ["ward", "created_at"])


def downgrade() -> None:
    op.drop_index("provenance_certs_ward", table_name="provenance_certs")
    op.drop_table("provenance_certs")
