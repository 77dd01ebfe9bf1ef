"""People's acts on the citizens' inbox (assign, tag, handled, reopen, hide, unhide, reply) are audited in the same
log as decisions and post actions (loa_ingest/audit.py), with the item they are about: `item_id`, and no footage.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite cannot change a column's nullability in place: batch mode copies the table (the log is small).
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("footage_id", existing_type=sa.Text(), nullable=True)
        batch.add_column(sa.Column("item_id", sa.Text()))
    op.create_index("audit_log_by_item", "audit_log", ["item_id", "seq"])
