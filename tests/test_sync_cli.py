"""The operator's side: ``stridewise sync``/``status``/``serve`` as real processes,
the health endpoint, and the scheduler's job table."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from sync_support import seed_accounts, sqlite_file_db
from sync_worlds import GarminWorld

from stridewise.cli.sync_cmd import run_and_show_cycle
from stridewise.jobs import (
    DAILY_RULES_JOB,
    DELIVERY_JOB,
    PARTITIONS_JOB,
    SYNC_TICK_JOB,
    WEEKLY_REPORTS_JOB,
    build_scheduler,
    patients_in_their_morning,
)
from stridewise.settings import Settings

STRIDEWISE = str(Path(sys.executable).with_name("stridewise"))


def run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([STRIDEWISE, *args], env=env, capture_output=True, text=True, timeout=120)


def base_env(db_url: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIDEWISE_")}
    env |= {"STRIDEWISE_DATABASE_URL": db_url, "COLUMNS": "200", **extra}
    return env


def test_serve_and_worker_refuse_to_start_without_the_secret_key(tmp_path):
    env = base_env(f"sqlite:///{tmp_path}/x.db")
    for command in ("serve", "worker"):
        result = run([command], env)
        assert result.returncode == 1
        assert "STRIDEWISE_SECRET_KEY" in result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_sync_and_status_in_the_foreground(tmp_path, secret_key, cipher):
    world = GarminWorld()
    with sqlite_file_db(tmp_path) as (db_url, factory), world.serving() as urls:
        seed_accounts(factory, cipher, 3, "garmin", ("Europe/Oslo",), link=world.link)
        world.revoke("P00002")
        world.expire_tokens("P00002")
        env = base_env(
            db_url,
            STRIDEWISE_SECRET_KEY=secret_key,
            **{f"STRIDEWISE_{k.upper()}": v for k, v in urls.items()},
        )
        synced = run(["sync", "--all"], env)
        status = run(["status"], env)
        unknown = run(["sync", "--patient", "NOPE"], env)
        again = run(["sync"], env)  # nothing due any more
        one = run(["sync", "--patient", "P00001", "--since", "2026-01-01"], env)

    assert synced.returncode == 1, synced.stderr  # one account failed
    assert "3 accounts" in synced.stdout and "2 success" in synced.stdout
    assert "auth_revoked" in synced.stdout
    rows = {line.split("│")[1].strip(): line for line in status.stdout.splitlines()
            if line.startswith("│ P0")}  # fmt: skip
    assert set(rows) == {"P00000", "P00001", "P00002"}
    assert "needs relink" in rows["P00002"] and "auth_revoked" in rows["P00002"]
    assert "active" in rows["P00000"] and "needs relink" not in rows["P00000"]
    assert unknown.returncode == 1 and "NOPE" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    assert again.returncode == 0 and "nothing was due" in again.stdout
    assert one.returncode == 0 and "1 accounts" in one.stdout and "P00001" in one.stdout
    assert "2026-01-01.." in one.stdout  # --since opened the window


def test_the_scheduler_has_stable_single_instance_jobs(factory, secret_key):
    settings = Settings(database_url="sqlite://", secret_key=secret_key)
    scheduler = build_scheduler(factory, settings, "w1")
    scheduler.start(paused=True)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {
            SYNC_TICK_JOB,
            DAILY_RULES_JOB,
            DELIVERY_JOB,
            WEEKLY_REPORTS_JOB,
            PARTITIONS_JOB,
        }
        assert all(j.max_instances == 1 and j.coalesce for j in jobs.values())
        # rebuilding replaces rather than duplicates
        scheduler.add_job(print, "interval", seconds=5, id=SYNC_TICK_JOB, replace_existing=True)
        assert len(scheduler.get_jobs()) == len(jobs)
    finally:
        scheduler.shutdown(wait=False)


def test_the_daily_rules_run_in_each_patients_own_morning(factory, cipher):
    seed_accounts(factory, cipher, 4, zones=("Europe/Oslo", "America/New_York", "Asia/Tokyo",
                                             None))  # fmt: skip
    # 06:10 UTC: 07:10 in Oslo (winter), 01:10 in New York, 15:10 in Tokyo.
    now = datetime(2026, 1, 15, 6, 10, tzinfo=UTC)
    assert list(patients_in_their_morning(factory, 7, now)) == ["P00000"]
    assert list(patients_in_their_morning(factory, 6, now)) == ["P00003"]  # no zone: UTC
    assert list(patients_in_their_morning(factory, 15, now)) == ["P00002"]


def test_the_demo_cycle_syncs_every_active_account_and_shows_it(factory, secret_key, cipher):
    world = GarminWorld()
    with world.serving() as urls:
        seed_accounts(factory, cipher, 2, "garmin", ("Europe/Oslo",), link=world.link)
        settings = Settings(database_url="sqlite://", secret_key=secret_key, **urls)
        out = Console(record=True, width=200)
        report = run_and_show_cycle(factory, settings, out)
        again = run_and_show_cycle(factory, settings, out)  # forced: not waiting for due
    assert sorted(r.patient_id for r in report.results) == ["P00000", "P00001"]
    assert report.outcomes == {"success": 2} and again.outcomes == {"success": 2}
    assert again.results[0].intervals_written == 0  # the same data, stored once
    text = out.export_text()
    assert text.count("P00000") == 2 and "success" in text
