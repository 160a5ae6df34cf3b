"""Alembic environment: runs against the engine handed in by ``ingest.db.upgrade``
(or the configured database when called from the ``alembic`` command line)."""

from alembic import context

import rules.models  # noqa: F401
from ingest.db import make_engine
from ingest.models import Base
from ingest.settings import get_settings

engine = context.config.attributes.get("engine") or make_engine(get_settings().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
