"""The CLI starts without loading what its commands need: ``stridewise --help``
imports no data-science, database, web or provider library, and every lazily
listed command is the real one, with the help the listing shows."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
import typer.main
from typer.testing import CliRunner

from stridewise.cli.lazy import load
from stridewise.cli.main import COMMANDS, app

HEAVY = ("pandas", "numpy", "sqlalchemy", "alembic", "fastapi", "garminconnect", "google.auth",
         "httpx", "structlog", "pydantic_settings", "matplotlib", "weasyprint")  # fmt: skip

LOADED_BY_HELP = """
import sys
from stridewise.cli.main import run
sys.argv = ["stridewise", "--help"]
try:
    run()
except SystemExit:
    pass
print("\\n".join(sorted(sys.modules)), file=sys.stderr)
"""


def test_help_imports_none_of_the_heavy_libraries():
    result = subprocess.run([sys.executable, "-c", LOADED_BY_HELP], capture_output=True,
                            text=True, check=True)  # fmt: skip
    loaded = set(result.stderr.split())
    assert "Commands" in result.stdout and "doctor" in result.stdout
    assert [m for m in HEAVY if m in loaded] == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_listed_command_is_real_and_its_help_is_the_listed_one(name):
    command = load(name, COMMANDS[name])
    own = inspect.cleandoc(command.help or "").split("\n\n")[0]
    assert own == COMMANDS[name].help
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f" {name} [OPTIONS]" in result.output  # the usage line of the real command


@pytest.mark.parametrize(
    ("group", "sub"),
    [("therapist", "password"), ("patient", "invite"), ("import", "fitbit-export"),
     ("link", "garmin")],
)  # fmt: skip
def test_subcommands_registered_by_other_modules_are_there(group, sub):
    result = CliRunner().invoke(app, [group, sub, "--help"])
    assert result.exit_code == 0, result.output


def test_the_listing_names_every_command_once():
    root = typer.main.get_command(app)
    names = root.list_commands(None)
    assert names == list(dict.fromkeys(names)) and set(COMMANDS) <= set(names)


def test_a_mistyped_command_is_told_the_close_one():
    result = CliRunner().invoke(app, ["sycn"])
    assert result.exit_code == 2 and "Did you mean 'sync'?" in result.output


NO_DATA_SCIENCE = ("db", "therapist", "patient", "secret", "link", "sync", "status", "worker",
                   "serve", "doctor", "api-token")  # fmt: skip
LOADED_BY_COMMANDS = """
import sys
from stridewise.cli.lazy import load
from stridewise.cli.main import COMMANDS
for name in sys.argv[1:]:
    load(name, COMMANDS[name])
print(" ".join(m for m in ("pandas", "numpy", "matplotlib", "weasyprint") if m in sys.modules))
"""


def test_commands_that_need_no_data_science_do_not_load_it():
    result = subprocess.run([sys.executable, "-c", LOADED_BY_COMMANDS, *NO_DATA_SCIENCE],
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert result.stdout.split() == []
