"""People, not just tokens: wards, accounts (argon2 password hash, TOTP, lockout), browser sessions (the id stored
hashed, with its CSRF token), and tokens owned by an account (tokens from before accounts, and the static ones, have
none)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0007"  # after 0004-0007 (channels, credentials, footage wards, audit log), which landed first
branch_labels = None
depends_on = None


def upgrade() -> None:
    text, real = sa.Text, sa.Float
    op.create_table(
        "wards",
        sa.Column("id", text(), primary_key=True),
        sa.Column("display_name", text(), nullable=False),
        sa.Column("created_at", real(), nullable=False),
    )
    op.create_table(
        "accounts",
        sa.Column("id", text(), primary_key=True),
        sa.Column("username", text(), nullable=False, unique=True),
        sa.Column("display_name", text(), nullable=False),
        sa.Column("ward", text(), sa.ForeignKey("wards.id"), nullable=False),
        sa.Column("role", text(), nullable=False),
        sa.Column("password_hash", text(), nullable=False),
        # The TOTP secret, encrypted with the operator's key (loa_core.secrets) once that is wired in; NULL: none.
        sa.Column("totp_secret", text()),
        sa.Column("totp_confirmed_at", real()),  # NULL while the secret is shown but not yet confirmed with a code
        sa.Column("totp_last_step", sa.BigInteger()),  # the last 30 s step a code was accepted for: no replay
        sa.Column("failed_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", real()),
        sa.Column("disabled_at", real()),
        sa.Column("created_by", text(), nullable=False),
        sa.Column("created_at", real(), nullable=False),
    )
    op.create_index("accounts_ward", "accounts", ["ward"])
    op.create_table(
        "sessions",
        sa.Column("sha256", text(), primary_key=True),
        sa.Column("account_id", text(), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("csrf_token", text(), nullable=False),
        # "password": the password was right, the TOTP step is still to come; "full": signed in.
        sa.Column("stage", text(), nullable=False),
        sa.Column("created_at", real(), nullable=False),
        sa.Column("expires_at", real(), nullable=False),
    )
    op.create_index("sessions_account", "sessions", ["account_id"])
    op.add_column("tokens", sa.Column("account_id", text()))
    op.create_index("tokens_account", "tokens", ["account_id"])
