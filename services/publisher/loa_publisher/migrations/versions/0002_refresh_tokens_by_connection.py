"""Rotated refresh tokens are kept per (channel, connection) and encrypted: `connection_tokens` replaces
`refresh_tokens`.

A channel's connection changes on every OAuth sign-in (Channel.connection_id); keyed by it, a reconnected channel
never reuses the refresh token of the connection it replaced. Rows from before are the channels' env/secret-file
connection (connection_id ""). Their tokens are copied as they were (plaintext): the migration has no key; the
ledger encrypts them with the operator's key when it opens (Ledger.open).

No downgrade: a ledger is never taken back (restore a backup instead, docs/operations/backup-restore.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connection_tokens",
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("connection_id", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "connection_id"),
    )
    op.execute(
        "INSERT INTO connection_tokens (channel, connection_id, token, updated_at) "
        "SELECT channel, '', token, updated_at FROM refresh_tokens"
    )
    op.drop_table("refresh_tokens")
