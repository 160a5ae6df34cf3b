"""``stridewise link``: import a token file, list, unlink; one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from adapters.google_health.auth import SCOPES
from core.errors import StridewiseError
from ingest.credentials import CredentialStore
from ingest.crypto import Cipher
from ingest.db import transaction
from ingest.models import LinkedAccount
from ingest.patients import add_patient, add_therapist
from sandbox.google_health import GoogleSandboxState, create_app, sandbox_settings
from sandbox.serve import serve_in_thread
from stridewise.cli.main import app
from stridewise.logs import configure
from stridewise.settings import Settings
from stridewise.wiring import App

STRIDEWISE = str(Path(sys.executable).with_name("stridewise"))
TOKEN_FILE = {
    "token": "ya29.cli-access-token",
    "refresh_token": "1//cli-refresh-token",
    "token_uri": "https://oauth2.googleapis.com/token",
    "client_id": "client.apps.googleusercontent.com",
    "client_secret": "cli-client-secret",
    "scopes": list(SCOPES),
    "expiry": "2026-11-22T05:00:00.000000Z",
}


@pytest.fixture
def cli(factory, db_url, secret_key):
    with transaction(factory) as session:
        add_therapist(session, "t1", "Ana", "ana@clinic.example")
        add_patient(session, "p1", "Sam", None, "t1")
    built = App(Settings(database_url=db_url, secret_key=secret_key))
    yield lambda *args: CliRunner().invoke(app, list(args), obj=built)
    configure()


def test_import_list_unlink(cli, factory, secret_key, tmp_path):
    path = tmp_path / "token.json"
    path.write_text(json.dumps(TOKEN_FILE))
    imported = cli(
        "link",
        "import",
        "--patient",
        "p1",
        "--provider",
        "google-health",
        "--token-file",
        str(path),
    )
    assert imported.exit_code == 0, imported.output
    with factory() as session:
        account_id = session.scalars(select(LinkedAccount.id)).one()
    saved = CredentialStore(factory, Cipher(secret_key)).load(account_id).data
    assert saved["refresh_token"] == TOKEN_FILE["refresh_token"]
    assert saved["scopes"] == list(SCOPES)

    listed = cli("link", "list")
    assert listed.exit_code == 0 and "google-health" in listed.output and "active" in listed.output
    assert (
        TOKEN_FILE["token"] not in listed.output
        and TOKEN_FILE["refresh_token"] not in listed.output
    )

    assert cli("link", "unlink", "--patient", "p1", "--provider", "google-health").exit_code == 0
    assert "no linked accounts" in cli("link", "list", "--patient", "p1").output


def test_a_bad_token_file_is_one_line_and_nothing_is_stored(cli, factory, tmp_path):
    path = tmp_path / "token.json"
    path.write_text(json.dumps({**TOKEN_FILE, "refresh_token": ""}))
    result = cli(
        *("link", "import", "--patient", "p1", "--provider", "google-health"),
        *("--token-file", str(path)),
    )
    assert result.exit_code != 0
    # A StridewiseError: the root command prints it as one line, without a traceback.
    assert isinstance(result.exception, StridewiseError)
    assert "refresh_token" in str(result.exception)
    with factory() as session:
        assert session.scalars(select(LinkedAccount)).all() == []


def test_every_link_command_has_an_example(cli):
    for command in ("google-health", "import", "list", "unlink"):
        shown = cli("link", command, "--help")
        assert shown.exit_code == 0 and "Example: stridewise link" in shown.output


def test_link_google_health_command_end_to_end(factory, db_url, secret_key):
    """The real command in its own process: it prints the consent address, we play the
    patient's browser (the sandbox consents at once), and the link is stored."""
    state = GoogleSandboxState(seed=2)
    state.add_user("demo", time_zone="Asia/Tokyo")  # the sandbox's default login
    with transaction(factory) as session:
        add_therapist(session, "t1", "Ana", "ana@clinic.example")
        add_patient(session, "p1", "Sam", None, "t1")
    with serve_in_thread(create_app(state)) as base:
        env = {
            **os.environ,
            "STRIDEWISE_DATABASE_URL": db_url,
            "STRIDEWISE_SECRET_KEY": secret_key,
            **{f"STRIDEWISE_{k.upper()}": v for k, v in sandbox_settings(base, state).items()},
        }
        command = [STRIDEWISE, "link", "google-health", "--patient", "p1", "--no-open"]
        with subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as process:
            watchdog = threading.Timer(120, process.kill)  # never hang the suite
            watchdog.start()
            url = process.stdout.readline().strip()
            if not url:  # it ended before printing the address: say why
                watchdog.cancel()
                code, why = process.wait(), process.stderr.read()
                pytest.fail(f"exit {code} before the consent address: {why}")
            assert url.startswith(base + "/o/oauth2/v2/auth?")
            assert "code_challenge_method=S256" in url and "access_type=offline" in url
            httpx.get(url, follow_redirects=True, timeout=10).raise_for_status()
            out, err = process.communicate(timeout=60)
            watchdog.cancel()
    assert process.returncode == 0, err
    assert f"linked p1 to Google Health user {state.users['demo'].health_user_id}" in out
    assert "Asia/Tokyo" in out
    with factory() as session:
        account = session.scalars(select(LinkedAccount)).one()
        assert account.external_user_id == state.users["demo"].health_user_id
    assert state.calls["code_exchange"] == 1 and state.calls["identity"] == 1
