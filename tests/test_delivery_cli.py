"""The delivery and report commands end to end: patient emails, a webhook endpoint,
``deliver --now`` to a real SMTP server, ``outbox list``, ``report weekly``."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from delivery_support import FLARE, add_alert, smtp_server
from sqlalchemy import select
from typer.testing import CliRunner

from ingest.models import Patient
from stridewise.cli.main import app
from stridewise.settings import Settings
from stridewise.wiring import App

runner = CliRunner()
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def cli_for(settings: Settings):
    built = App(settings)
    return lambda *args: runner.invoke(app, list(args), obj=built, catch_exceptions=False)


def _setup(cli) -> None:
    assert cli("therapist", "add", "T1", "--name", "Ana Silva", "--email", "ana@clinic.test"
               ).exit_code == 0  # fmt: skip
    result = cli("patient", "add", "P0", "--name", "Sam Lee", "--timezone", "Europe/London",
                 "--therapist", "T1", "--email", "sam@home.test")  # fmt: skip
    assert result.exit_code == 0, result.output


def test_deliver_sends_due_messages_and_outbox_lists_them(db_url, factory, secret_key):
    with smtp_server() as (mailbox, port):
        settings = Settings(database_url=db_url, smtp_host="127.0.0.1", smtp_port=port,
                            secret_key=secret_key, mail_from="sw <n@clinic.test>")  # fmt: skip
        cli = cli_for(settings)
        _setup(cli)
        assert cli("patient", "set", "P0", "--email", "sam.lee@home.test").exit_code == 0
        with factory() as session:
            assert session.scalar(select(Patient.email)) == "sam.lee@home.test"
        added = cli("webhook", "add", "--therapist", "T1", "--url", "http://127.0.0.1:9/hooks")
        assert added.exit_code == 0
        assert re.search(r"signing secret \(shown once\): whsec_\S+", added.output)
        add_alert(factory, "P0", "flare", "therapist", "urgent", facts=FLARE, created_at=NOW)
        from delivery.queueing import queue_urgent
        from ingest.db import transaction

        with transaction(factory) as session:
            assert queue_urgent(session, NOW) == 2  # email + webhook
        result = cli("deliver", "--now", "2026-11-20T10:00Z")
        assert result.exit_code == 0
        # The webhook's port is closed: it waits for a retry.
        assert "1 failed, 1 sent" in result.output
    assert [m["To"] for m in mailbox.messages] == ["ana@clinic.test"]
    listed = cli("outbox", "list", "--status", "failed")
    assert "therapist_urgent" in listed.output and "webhook" in listed.output
    assert "ana@clinic.test" not in listed.output
    everything = cli("outbox", "list").output
    assert "sent" in everything and "failed" in everything


def test_bad_inputs_are_one_line_errors(db_url):
    from stridewise.cli.main import run  # noqa: F401  (errors are printed by run())

    cli = cli_for(Settings(database_url=db_url))
    _setup(cli)
    with pytest.raises(Exception, match="not an email address"):
        cli("patient", "set", "P0", "--email", "not-an-address")
    with pytest.raises(Exception, match="ISO week like 2026-W47"):
        cli("report", "weekly", "--therapist", "T1", "--week", "2026-47")
    with pytest.raises(Exception, match="--status must be one of"):
        cli("outbox", "list", "--status", "lost")


def test_report_weekly_writes_the_files(db_url, tmp_path):
    cli = cli_for(Settings(database_url=db_url))
    _setup(cli)
    result = cli("report", "weekly", "--therapist", "T1", "--week", "2026-W47",
                 "--out", str(tmp_path), "--format", "html,csv")  # fmt: skip
    assert result.exit_code == 0, result.output
    html = tmp_path / "walking-report-T1-2026-W47.html"
    csv_file = tmp_path / "walking-report-T1-2026-W47.csv"
    assert "Sam Lee" in html.read_text() and "data:image/svg+xml" in html.read_text()
    assert csv_file.read_text().count("\n") == 8  # header + 7 days
    assert not (tmp_path / "walking-report-T1-2026-W47.pdf").exists()


@pytest.mark.parametrize(
    "command",
    [["deliver"], ["outbox", "list"], ["webhook", "add"], ["report", "weekly"], ["patient", "set"]],
)
def test_help_has_an_example(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert re.search(rf"Example: .*stridewise {command[0]}", " ".join(result.output.split()))
