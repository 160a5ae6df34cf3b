"""Alembic environment: runs against the engine handed in by ``ingest.db.upgrade``
(or ``$STRIDEWISE_DATABASE_URL`` when called from the ``alembic`` command line)."""

import os

from alembic import context

import ingest.access_models
import ingest.delivery_models
import ingest.job_models
import ingest.ops_models
import ingest.portal_models
import ingest.programme_models  # noqa: F401
from ingest.db import make_engine
from ingest.models import Base

engine = context.config.attributes.get("engine") or make_engine(
    os.environ["STRIDEWISE_DATABASE_URL"]
)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
