"""Ingest's schema history (Alembic), applied on start by `loa_core.db.migrate(engine, "ingest")`."""
