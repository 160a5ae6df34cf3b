"""The CLI as a user meets it: commands, help, one-line errors."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from ingest.credentials import CredentialStore
from ingest.crypto import Cipher
from ingest.db import transaction
from ingest.linking import link_account
from ingest.models import StepIntervalRow, Therapist
from stridewise.cli.main import app
from stridewise.settings import Settings
from stridewise.wiring import App

runner = CliRunner()
STRIDEWISE = Path(sys.executable).with_name("stridewise")


def invoker(settings: Settings, catch_exceptions: bool = False) -> Callable[..., Result]:
    """Invoke the CLI in-process with the App the root command would build from
    ``settings`` (no environment variables)."""
    built = App(settings)
    return lambda *args: runner.invoke(
        app, list(args), obj=built, catch_exceptions=catch_exceptions
    )


@pytest.fixture
def cli(db_url):
    """The CLI against a fresh database."""
    return invoker(Settings(database_url=db_url))


def test_people_import_and_export_round_trip(cli, tmp_path):
    assert cli("therapist", "add", "T1", "--name", "Ana", "--email", "ana@x.org").exit_code == 0
    assert (
        cli(
            "patient",
            "add",
            "P1",
            "--name",
            "Sam",
            "--timezone",
            "America/New_York",
            "--therapist",
            "T1",
        ).exit_code
        == 0
    )
    source = tmp_path / "in.csv"
    source.write_text(
        "patient,start,end,steps,device\n"
        "P1,2026-03-08T01:59:00-05:00,2026-03-08T02:00:00-05:00,50,phone\n"
        "P1,2026-03-08T03:00:00-04:00,2026-03-08T03:01:00-04:00,60,phone\n"
        "P1,2026-03-08T23:59:00-04:00,2026-03-09T00:00:00-04:00,7,phone\n"
        "P1,2026-03-09T00:00:00-04:00,not a time,7,phone\n"
        "P1,2026-03-09T00:00:00-04:00,2026-03-09T00:01:00-04:00,-4,phone\n"
    )
    result = cli("import", "csv", str(source))
    assert result.exit_code == 1  # some lines were refused ...
    assert "3 accepted" in result.output and "2 rejected" in result.output
    assert "line 5: end 'not a time' is not an ISO 8601 date-time" in result.output
    assert "line 6: negative steps (-4)" in result.output

    result = cli("export", "steps", "--patient", "P1", "--from", "2026-03-01", "--to", "2026-03-31")
    data = json.loads(result.output)
    assert [(d["date"], d["steps"], d["source"]) for d in data["days"]] == [
        ("2026-03-08", 117, "csv/phone")
    ]
    assert [i["start"] for i in data["intervals"]] == [
        "2026-03-08T06:59:00Z",
        "2026-03-08T07:00:00Z",
        "2026-03-09T03:59:00Z",
    ]
    assert {i["local_date"] for i in data["intervals"]} == {"2026-03-08"}

    # The interval CSV export is in import format: importing it again changes nothing.
    exported = tmp_path / "out.csv"
    cli(
        "export",
        "steps",
        "--patient",
        "P1",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-31",
        "--format",
        "csv",
        "--intervals",
        "--output",
        str(exported),
    )
    again = cli("import", "csv", str(exported))
    assert again.exit_code == 0
    assert "3 accepted (0 new or revised), 0 rejected" in again.output


def test_patient_add_refuses_bad_input(cli):
    cli("therapist", "add", "T1", "--name", "Ana", "--email", "ana@x.org")
    with pytest.raises(Exception, match="unknown time zone 'Mars/Olympus'"):
        cli(
            "patient",
            "add",
            "P1",
            "--name",
            "Sam",
            "--timezone",
            "Mars/Olympus",
            "--therapist",
            "T1",
        )
    with pytest.raises(Exception, match="no therapist 'T9'"):
        cli("patient", "add", "P1", "--name", "Sam", "--therapist", "T9")


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(STRIDEWISE), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_errors_are_one_line_without_traceback_unless_debug(tmp_path):
    env = {"STRIDEWISE_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    missing = _run("patient", "list", env=env)
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("error: the database at sqlite:///")
    assert "run 'stridewise db upgrade' first" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert _run("db", "upgrade", env=env).returncode == 0
    unknown = _run("patient", "show", "P404", env=env)
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
    assert "no patient 'P404'" in unknown.stderr
    debug = _run("--debug", "patient", "show", "P404", env=env)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["db", "upgrade"],
        ["therapist", "add"],
        ["patient", "add"],
        ["patient", "list"],
        ["patient", "show"],
        ["import", "csv"],
        ["export", "steps"],
        ["demo"],
        ["secret", "generate"],
        ["secret", "rotate"],
    ],
)
def test_every_command_has_help_with_an_example(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert re.search(rf"Example: .*stridewise {command[0]}", " ".join(result.output.split()))


def test_secret_rotate_reencrypts_under_the_new_key(cli, factory, db_url):
    old = cli("secret", "generate").output.strip()
    new = cli("secret", "generate").output.strip()
    assert old != new and len(old) == 44
    cli("therapist", "add", "T1", "--name", "Ana", "--email", "ana@x.org")
    cli("patient", "add", "P1", "--name", "Sam", "--therapist", "T1")
    with transaction(factory) as session:
        link_account(session, Cipher(old), "P1", "garmin", {"di_token": "t"})
    rotating = invoker(Settings(database_url=db_url, secret_key=f"{new},{old}"))
    assert "1 linked account(s)" in rotating("secret", "rotate").output
    assert CredentialStore(factory, Cipher(new)).load(1).data == {"di_token": "t"}


BIG = 20_050  # more than one import chunk (20,000 rows)


def minute_rows(count: int, patient: str = "P1") -> list[str]:
    """``count`` one-minute intervals from 2026-03-01 on, in New York time (EST)."""
    start = datetime(2026, 3, 1, 0, 0, tzinfo=timezone(timedelta(hours=-5)))
    rows = []
    for n in range(count):
        begin = start + timedelta(minutes=n)
        end = begin + timedelta(minutes=1)
        rows.append(f"{patient},{begin.isoformat()},{end.isoformat()},{n % 90},phone\n")
    return rows


def stored_intervals(factory) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(StepIntervalRow))


@pytest.fixture
def clinic(cli):
    cli("therapist", "add", "T1", "--name", "Ana", "--email", "ana@x.org")
    cli("patient", "add", "P1", "--name", "Sam", "--timezone", "UTC", "--therapist", "T1")
    return cli


@pytest.mark.parametrize("compressed", [False, True], ids=["csv", "csv.gz"])
def test_a_csv_longer_than_one_chunk_imports_whole(clinic, factory, tmp_path, compressed):
    text = "patient,start,end,steps,device\n" + "".join(minute_rows(BIG))
    source = tmp_path / ("big.csv.gz" if compressed else "big.csv")
    if compressed:
        source.write_bytes(gzip.compress(text.encode()))
    else:
        source.write_text(text)
    result = clinic("import", "csv", str(source))
    assert result.exit_code == 0, result.output
    assert f"{BIG} rows read: {BIG} accepted ({BIG} new or revised), 0 rejected" in result.output
    assert stored_intervals(factory) == BIG


def test_an_import_that_stops_part_way_says_which_lines_are_stored(
    clinic, factory, db_url, tmp_path
):
    rows = minute_rows(21_000)
    rows[3] = rows[3].replace("P1,2026", "P1,x2026")  # a bad line, rejected
    rows[20_700] = rows[20_700].replace("phone", "ph\xff\xfene")  # bytes that are no UTF-8
    source = tmp_path / "damaged.csv"
    source.write_bytes(b"patient,start,end,steps,device\n" + "".join(rows).encode("latin-1"))

    lenient = invoker(Settings(database_url=db_url), catch_exceptions=True)
    result = lenient("import", "csv", str(source))

    assert result.exit_code == 1
    # The first chunk: 20,000 good rows and the bad one, lines 2-20002.
    stored = "lines 2-20002 are stored, nothing after line 20002 is"
    assert stored in str(result.exception) and "UnicodeDecodeError" in str(result.exception)
    assert "line 5:" in result.output  # the rejected line among the stored ones is listed
    assert stored_intervals(factory) == 20_000
    again = lenient("import", "csv", str(source))  # importing again changes nothing stored
    assert stored_intervals(factory) == 20_000 and "lines 2-20002 are stored" in str(
        again.exception
    )


def test_a_truncated_gzip_stops_with_the_lines_stored(clinic, factory, db_url, tmp_path):
    text = "patient,start,end,steps,device\n" + "".join(minute_rows(BIG))
    packed = gzip.compress(text.encode())
    source = tmp_path / "cut.csv.gz"
    source.write_bytes(packed[: len(packed) - 40])
    result = invoker(Settings(database_url=db_url), catch_exceptions=True)(
        "import", "csv", str(source)
    )
    assert result.exit_code == 1
    assert "lines 2-20001 are stored" in str(result.exception)
    assert stored_intervals(factory) == 20_000


def test_a_therapists_time_zone_is_checked_set_and_cleared(db_url, factory):
    cli = invoker(Settings(database_url=db_url), catch_exceptions=True)
    refused = cli("therapist", "add", "T1", "--name", "Ana", "--email", "ana@x.org",
                  "--timezone", "Europe/Lisbonn")  # fmt: skip
    assert refused.exit_code == 1
    assert "unknown time zone 'Europe/Lisbonn'" in str(refused.exception)
    added = cli("therapist", "add", "T1", "--name", "Ana", "--email", "ana@x.org",
                "--timezone", "Europe/Lisbon")  # fmt: skip
    assert added.exit_code == 0
    assert cli("therapist", "set", "T1", "--timezone", "Asia/Tokyo").exit_code == 0
    with factory() as session:
        assert session.get(Therapist, "T1").timezone == "Asia/Tokyo"
    cleared = cli("therapist", "set", "T1", "--timezone", "")
    assert cleared.exit_code == 0 and "their patients' most common zone" in cleared.output
    with factory() as session:
        assert session.get(Therapist, "T1").timezone is None
    unknown = cli("therapist", "set", "T9", "--timezone", "UTC")
    assert unknown.exit_code == 1 and "no therapist 'T9'" in str(unknown.exception)
