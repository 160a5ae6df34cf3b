"""The one place that turns settings into services: the database, the cipher,
the provider adapters and the sync context. The CLI builds one :class:`App`
in its callback; the web app, the jobs and the demo are handed it (tests build
their own from a ``Settings(...)``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.errors import StridewiseError
from ingest.credentials import CredentialStore
from ingest.crypto import Cipher
from ingest.db import make_engine, schema_is_current, session_factory
from ingest.sync.backoff import BackoffPolicy
from ingest.sync.engine import Sources, SyncContext, SyncResult
from ingest.sync.runner import CycleReport, run_with
from ingest.sync.window import WindowPolicy
from stridewise.providers import build_source
from stridewise.settings import Settings


def sources_for(factory: sessionmaker[Session], settings: Settings) -> Sources:
    credentials = CredentialStore(factory, Cipher(settings.secret_key))
    return Sources(lambda provider: build_source(provider, settings, credentials), credentials)


def sync_context(
    factory: sessionmaker[Session],
    settings: Settings,
    worker: str,
    sources: Sources | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> SyncContext:
    return SyncContext(
        factory=factory,
        sources=sources or sources_for(factory, settings),
        worker=worker,
        window=WindowPolicy(
            backfill_days=settings.sync_backfill_days,
            lookback_days=settings.sync_lookback_days,
            settle_hours=settings.provisional_settle_hours,
            overlap_minutes=settings.sync_overlap_minutes,
            full_read_hours=settings.sync_full_read_hours,
        ),
        backoff=BackoffPolicy(
            interval_s=settings.sync_interval_minutes * 60,
            base_s=settings.sync_base_backoff_seconds,
            max_s=settings.sync_max_backoff_seconds,
            jitter_s=settings.sync_jitter_seconds,
        ),
        lease_seconds=settings.sync_lease_seconds,
        clock=clock,
    )


def run_cycle(
    factory: sessionmaker[Session],
    settings: Settings,
    worker_id: str,
    *,
    sources: Sources | None = None,
    patient_id: str | None = None,
    force: bool = False,
    since: date | None = None,
    on_result: Callable[[SyncResult], None] | None = None,
    clock: Callable[[], datetime] | None = None,
    stopping: Callable[[], bool] | None = None,
) -> CycleReport:
    """Sync every account due now (the scheduler tick, the CLI and the demo all
    call this). ``force`` syncs active accounts even if not due; ``patient_id``
    limits the cycle to one patient; ``since`` overrides the window's first day;
    once ``stopping()`` is true no more accounts are claimed (running ones finish)."""
    ctx = sync_context(factory, settings, worker_id, sources, clock or utcnow)
    return run_with(ctx, settings.sync_concurrency, patient_id, force, since, on_result, stopping)


@dataclass
class App:
    """Settings plus the services built from them, each on first use."""

    settings: Settings = field(default_factory=Settings)

    @cached_property
    def engine(self) -> Engine:
        # Room in the pool for every sync thread plus the command's own session.
        return make_engine(self.settings.database_url, pool_size=self.settings.sync_concurrency + 2)

    @cached_property
    def factory(self) -> sessionmaker[Session]:
        """The configured database, refused with a hint when its schema is not current."""
        if not schema_is_current(self.engine):
            shown = make_url(self.settings.database_url).render_as_string(hide_password=True)
            raise StridewiseError(
                f"the database at {shown} is missing or behind; run 'stridewise db upgrade' first"
            )
        return session_factory(self.engine)

    @cached_property
    def cipher(self) -> Cipher:
        return Cipher(self.settings.secret_key)
