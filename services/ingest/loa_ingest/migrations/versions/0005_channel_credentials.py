"""A channel's OAuth sign-in: the pending sign-ins (`oauth_states`) and each connection's tokens
(`channel_credentials`, encrypted with the operator's key, loa_core.secrets).

A state is kept as its sha256 (the state itself travels in the platform's redirect), with the ward and channel it
was made for, who made it, the hash of the browser binding cookie, the PKCE verifier (encrypted), when it expires and
when it was used (once). A connection's row holds the tokens the platform gave (an encrypted JSON object) under a
connection id that changes on every sign-in.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_states",
        sa.Column("state_sha256", sa.Text(), primary_key=True),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("ward", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("browser_sha256", sa.Text(), nullable=False),
        sa.Column("verifier", sa.Text(), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("used_at", sa.Float()),
    )
    op.create_table(
        "channel_credentials",
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("connection_id", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("rotated_at", sa.Float()),
        sa.PrimaryKeyConstraint("channel", "connection_id"),
    )
