"""The migration history builds exactly the schema the models describe, on both backends;
settings come from the shipped file and yield to the environment."""

from __future__ import annotations

import pkgutil
from importlib import import_module

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import adapters
import ingest
import rules
from ingest.db import schema_is_current
from ingest.models import Base
from stridewise.settings import Settings


def _import_all_models() -> None:
    for package in (ingest, rules, adapters):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if module.name.rsplit(".", 1)[-1].endswith("models"):
                import_module(module.name)


def test_migrations_match_the_models(engine):
    _import_all_models()
    assert schema_is_current(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_environment_overrides_shipped_defaults(monkeypatch):
    shipped = Settings()
    assert shipped.database_url == "sqlite:///./stridewise.db"
    assert shipped.source_priority[0] == "garmin/*"
    monkeypatch.setenv("STRIDEWISE_DATABASE_URL", "postgresql+psycopg://db/x")
    monkeypatch.setenv("STRIDEWISE_SOURCE_PRIORITY", '["csv/*"]')
    overridden = Settings()
    assert overridden.database_url == "postgresql+psycopg://db/x"
    assert overridden.source_priority == ["csv/*"]
