"""The CLI as a user meets it: commands, help, one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.credentials import CredentialStore
from ingest.crypto import Cipher
from ingest.db import transaction
from ingest.linking import link_account
from stridewise.cli.main import app

runner = CliRunner()
STRIDEWISE = Path(sys.executable).with_name("stridewise")


@pytest.fixture
def cli(db_url, monkeypatch):
    """Invoke the CLI in-process against a fresh database."""
    monkeypatch.setenv("STRIDEWISE_DATABASE_URL", db_url)
    yield lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


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


def test_secret_rotate_reencrypts_under_the_new_key(cli, factory, monkeypatch):
    old = cli("secret", "generate").output.strip()
    new = cli("secret", "generate").output.strip()
    assert old != new and len(old) == 44
    cli("therapist", "add", "T1", "--name", "Ana", "--email", "ana@x.org")
    cli("patient", "add", "P1", "--name", "Sam", "--therapist", "T1")
    with transaction(factory) as session:
        link_account(session, Cipher(old), "P1", "garmin", {"di_token": "t"})
    monkeypatch.setenv("STRIDEWISE_SECRET_KEY", f"{new},{old}")
    assert "1 linked account(s)" in cli("secret", "rotate").output
    assert CredentialStore(factory, Cipher(new)).load(1).data == {"di_token": "t"}
