from loa_core.db import alembic_env

alembic_env()
