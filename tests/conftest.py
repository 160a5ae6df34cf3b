"""Shared fixtures. Storage tests take the ``engine`` fixture and so run on both
SQLite and PostgreSQL; PostgreSQL tests skip locally when no server answers and
fail in CI (``CI=true``), where the server must be up."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from ingest.crypto import Cipher, generate_key
from ingest.db import make_engine, session_factory, transaction, upgrade
from ingest.models import Base, Patient, Therapist

PG_ADMIN_URL = os.environ.get(
    "STRIDEWISE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_unavailable() -> str | None:
    try:
        engine = make_engine(PG_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as err:  # any failure to connect means "no server here"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(err).__name__}"
    return None


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin URL of a reachable PostgreSQL, or a skip (a failure in CI)."""
    reason = _pg_unavailable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(reason)
    return PG_ADMIN_URL


def create_pg_database(admin_url: str, name: str) -> str:
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(admin_url: str, name: str) -> None:
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_url(pg_server: str) -> Iterator[str]:
    """A migrated PostgreSQL database private to this test run."""
    name = f"stridewise_test_{uuid.uuid4().hex[:10]}"
    url = create_pg_database(pg_server, name)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    drop_pg_database(pg_server, name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _truncate_all(engine: Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database URL on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "stridewise.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("pg_url")
    yield url
    engine = make_engine(url)
    _truncate_all(engine)
    engine.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def secret_key() -> str:
    return generate_key()


@pytest.fixture
def cipher(secret_key: str) -> Cipher:
    return Cipher(secret_key)


@pytest.fixture
def patient(factory) -> str:
    """Patient P1 (America/New_York) under therapist T1, in the test's database."""
    with transaction(factory) as session:
        session.add(Therapist(id="T1", name="Dr Who", email="t1@example.org"))
        session.flush()
        session.add(Patient(id="P1", name="Pat", timezone="America/New_York", therapist_id="T1"))
    return "P1"
