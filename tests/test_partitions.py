"""Monthly partitions of ``step_intervals`` on PostgreSQL (migration 0013 and
``ingest.partitions``): rows land in their month, DEFAULT takes the rest and the
day view reads them all, partitions are kept ahead idempotently and once per day,
and the migration round trip keeps every row. SQLite keeps its plain table."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, text

from core.schema import StepBatch, StepInterval
from ingest.dayview import load
from ingest.db import alembic_config, make_engine, session_factory, transaction, upgrade
from ingest.models import Patient, Therapist
from ingest.partitions import (
    DEFAULT_PARTITION,
    MONTHS_AHEAD,
    add_months,
    ensure_month_partitions,
    ensure_months,
    is_partitioned,
    month_start,
    partition_name,
)
from ingest.store import _checked_interval, _merge_pg, write_batch
from stridewise.jobs import partitions_tick
from tests.conftest import create_pg_database, drop_pg_database

MINUTE = timedelta(minutes=1)


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE step_intervals, job_runs, patients, therapists CASCADE"))
    yield engine
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE step_intervals, job_runs, patients, therapists CASCADE"))
    engine.dispose()


@pytest.fixture
def private_pg(pg_server: str) -> Iterator[Engine]:
    """A database of this test's own, for migrating down and up."""
    name = f"stridewise_part_{uuid.uuid4().hex[:10]}"
    engine = make_engine(create_pg_database(pg_server, name))
    upgrade(engine)
    yield engine
    engine.dispose()
    drop_pg_database(pg_server, name)


def add_patient(engine: Engine) -> str:
    with transaction(session_factory(engine)) as session:
        session.add(Therapist(id="T1", name="Dr Who", email="t1@example.org"))
        session.flush()
        session.add(Patient(id="P1", name="Pat", timezone="UTC", therapist_id="T1"))
    return "P1"


def write_minutes(engine: Engine, patient: str, starts: list[datetime], steps: int = 50) -> None:
    rows = [StepInterval(patient, "csv", "phone", s, s + MINUTE, 0, steps) for s in starts]
    with transaction(session_factory(engine)) as session:
        write_batch(session, StepBatch(intervals=rows))


def where_rows_are(engine: Engine) -> dict[datetime, str]:
    """Each stored row's start and the partition holding it."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT start_utc, tableoid::regclass::text FROM step_intervals")
        ).all()
    return {start: table for start, table in rows}


def partitions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.scalars(
                text(
                    "SELECT inhrelid::regclass::text FROM pg_inherits "
                    "WHERE inhparent = 'step_intervals'::regclass"
                )
            )
        )


@pytest.mark.postgres
def test_after_upgrade_step_intervals_is_range_partitioned_with_months_ahead(pg_engine):
    with pg_engine.connect() as conn:
        strategy = conn.scalar(
            text(
                "SELECT partstrat FROM pg_partitioned_table "
                "WHERE partrelid = 'step_intervals'::regclass"
            )
        )
        assert is_partitioned(conn)
    assert strategy == "r"
    this_month = month_start(datetime.now(UTC).date())
    ahead = {partition_name(add_months(this_month, n)) for n in range(MONTHS_AHEAD + 1)}
    assert ahead | {DEFAULT_PARTITION} <= partitions(pg_engine)


@pytest.mark.postgres
def test_rows_across_a_month_boundary_land_in_their_months(pg_engine):
    patient = add_patient(pg_engine)
    this_month = month_start(datetime.now(UTC).date())
    boundary = datetime.combine(add_months(this_month, 1), datetime.min.time(), UTC)
    write_minutes(pg_engine, patient, [boundary - 2 * MINUTE, boundary - MINUTE, boundary])
    placed = where_rows_are(pg_engine)
    assert placed == {
        boundary - 2 * MINUTE: partition_name(this_month),
        boundary - MINUTE: partition_name(this_month),
        boundary: partition_name(add_months(this_month, 1)),
    }
    # an update of stored rows, and the staged-merge fallback, keep them there
    write_minutes(pg_engine, patient, [boundary - MINUTE, boundary], steps=70)
    assert where_rows_are(pg_engine) == placed
    later = [boundary - MINUTE, boundary, boundary + MINUTE]
    with transaction(session_factory(pg_engine)) as session:
        rows = [StepInterval(patient, "csv", "phone", s, s + MINUTE, 0, 90) for s in later]
        _merge_pg(session, [_checked_interval(row, {patient}) for row in rows])
    assert where_rows_are(pg_engine) == placed | {
        boundary + MINUTE: partition_name(add_months(this_month, 1))
    }
    with pg_engine.connect() as conn:
        steps = conn.execute(text("SELECT start_utc, steps FROM step_intervals")).all()
    assert dict(steps) == {boundary - 2 * MINUTE: 50} | dict.fromkeys(later, 90)


@pytest.mark.postgres
def test_ensure_month_partitions_creates_the_months_ahead_once(pg_engine):
    far = date(2031, 5, 17)
    created = ensure_month_partitions(pg_engine, far, ahead=2)
    assert created == [date(2031, 5, 1), date(2031, 6, 1), date(2031, 7, 1)]
    assert {partition_name(m) for m in created} <= partitions(pg_engine)
    assert ensure_month_partitions(pg_engine, far, ahead=2) == []
    assert ensure_month_partitions(pg_engine, date(2031, 6, 2), ahead=2) == [date(2031, 8, 1)]


@pytest.mark.postgres
def test_a_row_outside_every_month_goes_to_default_and_is_read_then_moved(pg_engine):
    patient = add_patient(pg_engine)
    odd = datetime(1999, 6, 15, 12, 0, tzinfo=UTC)
    write_minutes(pg_engine, patient, [odd], steps=321)
    assert where_rows_are(pg_engine) == {odd: DEFAULT_PARTITION}
    with session_factory(pg_engine)() as session:
        view = load(session, [patient], date(1999, 6, 15), date(1999, 6, 15))
    assert view.days["steps"].tolist() == [321]
    # creating its month later moves the row out of DEFAULT, and it is still read
    with pg_engine.begin() as conn:
        assert ensure_months(conn, [date(1999, 6, 1)]) == [date(1999, 6, 1)]
    assert where_rows_are(pg_engine) == {odd: partition_name(date(1999, 6, 1))}
    with session_factory(pg_engine)() as session:
        view = load(session, [patient], date(1999, 6, 15), date(1999, 6, 15))
    assert view.days["steps"].tolist() == [321]


@pytest.mark.postgres
def test_the_daily_job_creates_partitions_once_per_day(pg_engine):
    factory = session_factory(pg_engine)
    now = datetime(2032, 1, 10, 0, 25, tzinfo=UTC)
    first = partitions_tick(factory, "w1", now)
    assert first == [add_months(date(2032, 1, 1), n) for n in range(MONTHS_AHEAD + 1)]
    assert partitions_tick(factory, "w2", now + timedelta(hours=6)) is None  # claimed today
    assert partitions_tick(factory, "w2", now + timedelta(days=1)) == []  # nothing new


@pytest.mark.postgres
def test_downgrade_and_upgrade_keep_every_row(private_pg):
    patient = add_patient(private_pg)
    this_month = month_start(datetime.now(UTC).date())
    starts = [
        datetime.combine(this_month, datetime.min.time(), UTC) + 3 * MINUTE,
        datetime(2001, 2, 3, 4, 5, tzinfo=UTC),  # in DEFAULT
    ]
    write_minutes(private_pg, patient, starts)
    command.downgrade(alembic_config(private_pg), "0012")
    with private_pg.connect() as conn:
        assert not is_partitioned(conn)
        assert conn.scalar(text("SELECT to_regnamespace('step_interval_months')")) is None
    assert set(where_rows_are(private_pg).values()) == {"step_intervals"}
    assert set(where_rows_are(private_pg)) == set(starts)

    upgrade(private_pg)
    placed = where_rows_are(private_pg)
    # the migration gives each month holding data its partition: DEFAULT is empty
    assert placed == {
        starts[0]: partition_name(this_month),
        starts[1]: partition_name(date(2001, 2, 1)),
    }
    with private_pg.connect() as conn:
        fk = conn.scalar(
            text(
                "SELECT count(*) FROM pg_constraint WHERE conrelid = 'step_intervals'::regclass "
                "AND contype = 'f'"
            )
        )
    assert fk == 1


def test_sqlite_keeps_its_plain_table(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/plain.db")
    upgrade(engine)
    assert ensure_month_partitions(engine, date(2030, 1, 1)) == []
    with engine.connect() as conn:
        sql = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'step_intervals'"))
    assert "WITHOUT ROWID" in sql
    engine.dispose()


def advisory_waiters(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        )


@pytest.mark.postgres
def test_two_callers_creating_the_same_month_take_turns(pg_engine):
    month = date(2033, 3, 1)
    with ThreadPoolExecutor(1) as pool, pg_engine.connect() as first:
        assert ensure_months(first, [month]) == [month]  # not committed yet
        second = pool.submit(ensure_month_partitions, pg_engine, month, 0)
        deadline = time.monotonic() + 30
        while not advisory_waiters(pg_engine) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert advisory_waiters(pg_engine) == 1  # the second waits its turn
        first.commit()
        assert second.result(timeout=30) == []  # and then finds the month made
    assert partition_name(month) in partitions(pg_engine)
