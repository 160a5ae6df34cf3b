"""docker-compose.yml must describe a service that can actually start."""

from __future__ import annotations

from pathlib import Path

import click
import yaml
from sqlalchemy.engine import make_url

from stridewise.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
APP_SERVICES = [name for name, svc in COMPOSE["services"].items() if "build" in svc]


def test_app_services_use_only_known_settings():
    known = {f"STRIDEWISE_{name.upper()}" for name in Settings.model_fields}
    for name in APP_SERVICES:
        env = COMPOSE["services"][name]["environment"]
        unknown = {k for k in env if k.startswith("STRIDEWISE_")} - known
        assert not unknown, f"{name} sets settings stridewise does not have: {unknown}"
        assert "STRIDEWISE_SECRET_KEY" in env


def test_database_url_points_at_the_healthy_postgres_service():
    db_service = COMPOSE["services"]["db"]
    db_env = db_service["environment"]
    assert db_service["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(db_service["healthcheck"]["test"])
    assert any(v.endswith("/var/lib/postgresql/data") for v in db_service["volumes"])
    for name in APP_SERVICES:
        service = COMPOSE["services"][name]
        url = make_url(service["environment"]["STRIDEWISE_DATABASE_URL"])
        assert url.get_backend_name() == "postgresql"
        assert url.host in COMPOSE["services"]
        assert COMPOSE["services"][url.host] is db_service
        assert (url.username, url.password, url.database) == (
            db_env["POSTGRES_USER"],
            db_env["POSTGRES_PASSWORD"],
            db_env["POSTGRES_DB"],
        )
        assert service["depends_on"][url.host]["condition"] == "service_healthy"


def test_a_mail_catcher_is_there_for_notifications():
    assert "mailpit" in COMPOSE["services"]["mail"]["image"]


def test_the_commands_the_containers_run_exist():
    """Every ``stridewise ...`` the Dockerfile and compose run parses with the real CLI."""
    from typer.main import get_command

    from stridewise.cli.main import app

    dockerfile = (ROOT / "Dockerfile").read_text()
    commands = [line for line in dockerfile.splitlines() if line.startswith("CMD")]
    commands += [
        " ".join(svc["command"])
        for svc in COMPOSE["services"].values()
        if "command" in svc and "build" in svc
    ]
    invocations = [
        part.strip().strip('"]')
        for text in commands
        for part in text.split("&&")
        if "stridewise " in part
    ]
    assert len(invocations) >= 3
    for invocation in invocations:
        command = get_command(app)
        args = invocation[invocation.index("stridewise ") + len("stridewise ") :].split()
        while isinstance(command, click.Group):  # descend (sub-commands load lazily)
            name, args = args[0], args[1:]
            found = command.get_command(click.Context(command), name)
            assert found is not None, f"no command {name!r} in {invocation!r}"
            command = found
        command.make_context(command.name, args)  # raises on an unknown option


def test_the_image_copies_every_shipped_package():
    """``pip install -e .`` in the image finds every package the wheel ships."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    copied = {
        line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
    }  # fmt: skip
    assert set(shipped) <= copied, f"not copied into the image: {set(shipped) - copied}"
