"""The audit log of approvers' decisions (loa_ingest/audit.py): append-only, one row per decision with exactly what was
decided (the cuts' sha256, the text) and the `PostDecision` record it sends on `posts.decisions`, with whether that
record is known to be sent (the outbox: the only column ever updated).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Text(), nullable=False, unique=True),
        sa.Column("at", sa.Text(), nullable=False),
        sa.Column("ward", sa.Text(), nullable=False),
        sa.Column("footage_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("by", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("cuts", sa.Text(), nullable=False),
        sa.Column("text", sa.Text()),
        sa.Column("text_sha256", sa.Text(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
    )
    op.create_index("audit_log_by_ward", "audit_log", ["ward", "seq"])
    op.create_index("audit_log_by_footage", "audit_log", ["footage_id", "seq"])
    op.create_index("audit_log_unsent", "audit_log", ["sent"])
