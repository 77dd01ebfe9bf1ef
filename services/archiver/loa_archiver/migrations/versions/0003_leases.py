"""Replicas share the archiver's state: leases (which replica records into an archive, runs a pull, or finalizes an
archive, until when), a stop asked of an archive through any replica, and how many live chunks an archive has
announced. An archive recording when this runs gets a lapsed lease from now, so a publisher has the usual silence
timeout to come back, as it had after a restart. No downgrade: restore a backup instead.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    leases = op.create_table(
        "leases",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Text(), nullable=False),
    )
    op.add_column("archives", sa.Column("stop_requested_at", sa.Text(), nullable=True))
    op.add_column("archives", sa.Column("live_chunks_sent", sa.Integer(), nullable=False, server_default="0"))
    archives = sa.table("archives", sa.column("archive_id", sa.Text()), sa.column("state", sa.Text()))
    recording = op.get_bind().execute(sa.select(archives.c.archive_id).where(archives.c.state == "recording")).all()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    if recording:
        rows = [{"name": f"archive:{r.archive_id}", "holder": "", "expires_at": now} for r in recording]
        op.bulk_insert(leases, rows)
