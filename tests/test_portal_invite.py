"""``stridewise patient invite``: the URL alone on the first line, a QR code in the
terminal and as PNG or SVG; invitations listed and revoked; and no token, password
or code of a link flow in a log line."""

from __future__ import annotations

import json
import re
import time

import pytest
from portal_support import Sandboxes, add_people, consent, csrf, portal_settings, web_client
from sqlalchemy import select
from typer.testing import CliRunner

from ingest.models import LinkedAccount
from ingest.portal_models import Invitation
from sandbox.garmin import GarminUser
from sandbox.garmin import create_app as garmin_app
from sandbox.garmin_state import GarminSandbox
from sandbox.google_health import GoogleSandboxState
from sandbox.google_health import create_app as google_app
from sandbox.serve import serve_in_thread
from stridewise.cli.main import app as cli
from stridewise.logs import configure
from stridewise.portal.tokens import token_hash
from stridewise.settings import Settings
from stridewise.wiring import App

URL = re.compile(r"^https://clinic\.example/invite/[A-Za-z0-9_-]{43}$")


@pytest.fixture
def run(db_url, secret_key, factory):
    add_people(factory, "P1")
    settings = Settings(database_url=db_url, secret_key=secret_key,
                        public_url="https://clinic.example", invitation_days=3)  # fmt: skip
    yield lambda *args: CliRunner().invoke(cli, list(args), obj=App(settings))
    configure()


def test_invite_prints_the_url_first_then_a_qr_code_and_saves_an_image(run, factory, tmp_path):
    png, svg = tmp_path / "p1.png", tmp_path / "p1.svg"
    result = run("patient", "invite", "P1", "--qr-file", str(png), "--by", "T1")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert URL.match(lines[0])
    assert sum("█" in line or "▀" in line for line in lines[1:]) > 10  # the terminal QR code
    assert png.read_bytes().startswith(b"\x89PNG")
    token = lines[0].rsplit("/", 1)[1]
    with factory() as session:
        row = session.scalars(select(Invitation)).one()
        assert row.token_hash == token_hash(token) and token not in json.dumps(row.token_hash)
        assert (row.expires_at - row.created_at).days == 3 and row.created_by == "T1"
    assert run("patient", "invite", "P1", "--qr-file", str(svg)).exit_code == 0
    assert b"<svg" in svg.read_bytes()[:500]


def test_invitations_are_listed_and_revoked(run, tmp_path):
    run("patient", "invite", "P1", "--qr-file", str(tmp_path / "a.png"))
    listed = run("patient", "invitations", "P1")
    assert "pending" in listed.output
    assert run("patient", "uninvite", "1").exit_code == 0
    assert "revoked" in run("patient", "invitations", "P1").output


def test_bad_invitations_are_one_line_errors(run, tmp_path):
    for args in (
        ["patient", "invite", "nobody", "--qr-file", str(tmp_path / "x.png")],
        ["patient", "invite", "P1", "--qr-file", str(tmp_path / "x.gif")],
        ["patient", "invite", "P1", "--relink", "fitbit", "--qr-file", str(tmp_path / "x.png")],
    ):
        result = run(*args)
        assert result.exit_code != 0


@pytest.fixture(scope="module")
def boxes():
    google, garmin = GoogleSandboxState(), GarminSandbox()
    garmin.add_user(GarminUser("log@example.org", "s3cret-pass", "logger", "UTC", "135790"))
    with (
        serve_in_thread(google_app(google)) as google_url,
        serve_in_thread(garmin_app(garmin)) as garmin_url,
    ):
        yield Sandboxes(google, google_url, garmin, garmin_url)


def test_no_secret_reaches_a_log_line(db_url, secret_key, factory, boxes, capfd):
    """Both link flows at DEBUG in JSON: the log holds ids, never the invitation token,
    the password, the MFA code, the OAuth code or state, or a provider token."""
    configure("json", "DEBUG")
    add_people(factory, "P1", "P2")
    app = App(portal_settings(db_url, secret_key, boxes))
    from portal_support import invite

    secrets: list[str] = ["s3cret-pass", "135790"]
    with web_client(app) as client:
        token = invite(factory, "P1")
        secrets.append(token)
        page = client.get(f"/invite/{token}")
        callback = consent(client.post("/link/google-health/start",
                                       data={"csrf_token": csrf(page.text)}))  # fmt: skip
        secrets += re.findall(r"(?:code|state)=([^&]+)", callback)
        assert client.get(callback).status_code == 303
    with web_client(app) as client:
        token = invite(factory, "P2")
        secrets.append(token)
        form = csrf(client.get(f"/invite/{token}").text)
        page = client.post("/link/garmin", data={"csrf_token": form, "email": "log@example.org",
                                                 "password": "s3cret-pass"})  # fmt: skip
        key = page.text.split('name="key" value="')[1].split('"')[0]
        secrets.append(key)
        done = client.post("/link/garmin/code", data={"csrf_token": form, "key": key,
                                                      "code": "135790"})  # fmt: skip
        assert done.status_code == 303
        deadline = time.monotonic() + 30
        while client.get("/link/progress").json()["state"] not in ("done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
    with factory() as session:
        for sealed in session.scalars(select(LinkedAccount.credentials)):
            stored = app.cipher.decrypt_json(sealed)
            secrets += [v for k, v in stored.items() if "token" in k and isinstance(v, str)]
    logged = capfd.readouterr()
    output = logged.out + logged.err
    assert output.count('"portal.linked"') == 2  # the links were logged, by id
    leaked = [s for s in secrets if s and s in output]
    assert leaked == []
    configure()
