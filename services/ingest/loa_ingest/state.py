"""Ingest's database: the tus upload records, the catalog (with its outbox of announcements) and the role tokens.

One database for the three (loa_core.db): `<data_dir>/ingest.sqlite3` by default, `LOA_DATABASE_URL` (schema
`ingest`) when replicas share it. Its schema is loa_ingest/migrations, applied here before anything reads it; the
first revision copies in the three SQLite files the previous code kept (ingest-uploads, ingest-catalog and
ingest-tokens.sqlite3).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from loa_core import db
from loa_core.contracts import INGEST
from loa_ingest.access import TokenStore
from loa_ingest.catalog import Catalog
from loa_ingest.uploads import UploadStore


@dataclass(frozen=True)
class IngestState:
    catalog: Catalog
    tokens: TokenStore
    uploads: UploadStore
    engines: tuple[Engine, ...]

    @property
    def engine(self) -> Engine:
        """The database's main engine (every commit synced): for stores built in the bootstrap (the channels)."""
        return self.engines[0]

    def close(self) -> None:
        for engine in self.engines:
            engine.dispose()


def open_state(location: str | Path, spool_dir: Path | None) -> IngestState:
    """Connect, bring the schema to its newest revision (an older database is adopted in place), build the stores.

    `spool_dir`: the tus uploads' local spool; None with the shared spool (parts in object storage)."""
    # FULL: a catalog row lost to a power cut lets the same file become a second footage; a lost revocation
    # revives a token (docs/decisions/0007).
    engine = db.make_engine(location, service=INGEST, synchronous="FULL")
    db.migrate(engine, INGEST)
    engines: tuple[Engine, ...] = (engine,)
    if engine.dialect.name == "sqlite":
        # The tus offsets through connections of their own that do not fsync each commit (SQLite's synchronous is
        # per connection; the WAL is shared): an fsync per PATCH halved upload throughput. After a power cut the
        # last offsets may be lost; the spool is then longer than the row says, its tail is cut off and the client
        # resends it.
        engines = (engine, db.make_engine(location, service=INGEST, synchronous="NORMAL"))
    return IngestState(Catalog(engine), TokenStore(engine), UploadStore(engines[-1], spool_dir), engines)
