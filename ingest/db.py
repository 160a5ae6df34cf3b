"""Engines, sessions and schema upgrades for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, Select, create_engine, event, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from ingest.partitions import ensure_month_partitions

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
PG_CONNECT_ARGS = {
    "connect_timeout": 10,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,  # ms of unacknowledged writes
}


def make_engine(url: str, **kwargs) -> Engine:
    """An engine tuned per dialect: SQLite gets WAL, foreign keys and a busy timeout
    so a worker and the CLI can share the file."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    # A worker outlives a lost database: the pre-ping replaces dead pooled
    # connections, and libpq gives up on an unanswered connect or a silent peer
    # (a partition, not a refusal) within about a minute instead of TCP's ~15.
    connect_args = PG_CONNECT_ARGS | kwargs.pop("connect_args", {})
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed on success, rolled back on any error."""
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the schema to ``revision``; safe to run on every start. On PostgreSQL
    this also creates the coming months' ``step_intervals`` partitions."""
    command.upgrade(alembic_config(engine), revision)
    ensure_month_partitions(engine, datetime.now(UTC).date())


def schema_is_current(engine: Engine) -> bool:
    """True when the database is at every migration head (nothing left to apply)."""
    heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads()) == heads


def leasable(session: Session, candidates: Select) -> Select:
    """The ids ``candidates`` picks (ordered, with a LIMIT), for an UPDATE that leases
    them: ``WHERE id IN (leasable(...))``. On PostgreSQL they are locked with SKIP
    LOCKED in a MATERIALIZED CTE, picked once: as a plain ``IN (subquery)`` the
    planner may run the subquery again, each run skipping the rows the last one
    locked, so one claim leased every due row instead of ``limit`` (seen: all 500
    outbox rows at a limit of 50, on a loaded machine)."""
    if session.get_bind().dialect.name != "postgresql":
        return candidates  # SQLite: the single write lock serialises claimers
    picked = candidates.with_for_update(skip_locked=True).cte("picked")
    picked = picked.prefix_with("MATERIALIZED")
    return select(*picked.c)


def database_unavailable(err: BaseException) -> bool:
    """True when ``err`` says the database cannot be reached now (a refused, dropped
    or timed-out connection, a pool with no connection to give), not that a
    statement was wrong: what a worker waits out instead of reporting a bug."""
    if isinstance(err, DBAPIError):
        return err.connection_invalidated or isinstance(err, (OperationalError, InterfaceError))
    return isinstance(err, PoolTimeout)
