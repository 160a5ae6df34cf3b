"""Linking a Garmin account through the sandbox's login and MFA endpoints: only
tokens are stored, and a failed login says why in one line."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from garmin_support import NOW, new_sandbox, new_user, sandbox_settings
from sqlalchemy import select
from typer.testing import CliRunner

from adapters.garmin import GarminAdapter
from core.errors import NotFound, StridewiseError
from core.source import AccountRef, DateWindow
from ingest.credentials import CredentialStore
from ingest.crypto import Cipher
from ingest.db import transaction
from ingest.models import LinkedAccount, Therapist
from ingest.patients import add_patient
from sandbox.garmin import create_app
from sandbox.garmin import sandbox_settings as garmin_hosts
from sandbox.serve import serve_in_thread
from stridewise.cli.main import app
from stridewise.linking.garmin import link_garmin
from stridewise.providers import garmin_config


@pytest.fixture(scope="module")
def served():
    sandbox = new_sandbox()
    with serve_in_thread(create_app(sandbox)) as base_url:
        yield sandbox, base_url


@pytest.fixture
def settings(served, secret_key):
    return sandbox_settings(served[1], secret_key)


@pytest.fixture
def patient(factory) -> str:
    with transaction(factory) as session:
        session.add(Therapist(id="T1", name="Dr Gait", email="t1@example.org"))
        session.flush()
        add_patient(session, "P1", "Pat", "America/New_York", "T1")
    return "P1"


class Codes:
    """The person at the keyboard: types the code Garmin emailed, counting prompts."""

    def __init__(self, code: str) -> None:
        self.code, self.asked = code, 0

    def __call__(self) -> str:
        self.asked += 1
        return self.code


def stored_link(factory) -> LinkedAccount | None:
    with factory() as session:
        return session.scalars(select(LinkedAccount)).one_or_none()


def test_mfa_link_stores_only_working_tokens(served, settings, factory, cipher, patient):
    sandbox, _ = served
    user = sandbox.add_user(new_user(mfa_code="482913"))
    codes = Codes("482913")

    link_garmin(
        factory,
        Cipher(settings.secret_key),
        garmin_config(settings),
        patient,
        user.email,
        user.password,
        codes,
    )

    account = stored_link(factory)
    assert codes.asked == 1
    assert account.provider == "garmin" and account.external_user_id == user.display_name
    secret = cipher.decrypt_json(account.credentials)
    assert set(secret) == {"di_token", "di_refresh_token", "di_client_id"}
    assert user.password not in str(secret) and user.password.encode() not in account.credentials
    ref = AccountRef(account.id, patient, "garmin", account.external_user_id, "America/New_York")
    today = NOW.date()
    result = GarminAdapter(
        garmin_config(settings), CredentialStore(factory, cipher), clock=lambda: NOW
    ).fetch(ref, DateWindow(today - timedelta(days=1), today))
    assert len(result.batch.daily_totals) == 2


def test_no_code_is_asked_when_garmin_wants_none(served, settings, factory, patient):
    sandbox, _ = served
    user = sandbox.add_user(new_user())
    codes = Codes("never used")
    link = link_garmin(
        factory,
        Cipher(settings.secret_key),
        garmin_config(settings),
        patient,
        user.email,
        user.password,
        codes,
    )
    assert codes.asked == 0 and link.display_name == user.display_name
    assert stored_link(factory).external_user_id == user.display_name


@pytest.mark.parametrize(
    ("password", "code", "rate_limited", "reason"),
    [
        ("wrong", "111111", False, "refused the email or password"),
        (None, "000000", False, "did not accept the MFA code"),
        (None, "", False, "needs the MFA code"),
        (None, "111111", True, "rate-limiting logins"),
    ],
)
def test_failed_login_says_why_and_stores_nothing(
    served, settings, factory, patient, password, code, rate_limited, reason
):
    sandbox, _ = served
    user = sandbox.add_user(new_user(mfa_code="111111"))
    sandbox.rate_limit_logins = rate_limited
    try:
        with pytest.raises(StridewiseError) as caught:
            link_garmin(
                factory,
                Cipher(settings.secret_key),
                garmin_config(settings),
                patient,
                user.email,
                password or user.password,
                Codes(code),
            )
    finally:
        sandbox.rate_limit_logins = False
    message = str(caught.value)
    assert reason in message and "\n" not in message and user.password not in message
    assert stored_link(factory) is None


def test_unknown_patient_costs_no_login(served, settings, factory):
    sandbox, _ = served
    user = sandbox.add_user(new_user())
    before = sandbox.logins
    with pytest.raises(NotFound):
        link_garmin(
            factory,
            Cipher(settings.secret_key),
            garmin_config(settings),
            "nobody",
            user.email,
            user.password,
            Codes("1"),
        )
    assert sandbox.logins == before


@pytest.fixture
def cli_env(served, db_url, secret_key):
    """The CLI reads its settings from the environment, like in production."""
    env = {"STRIDEWISE_DATABASE_URL": db_url, "STRIDEWISE_SECRET_KEY": secret_key}
    env.update({f"STRIDEWISE_{k.upper()}": v for k, v in garmin_hosts(served[1]).items()})
    yield env


def test_cli_link_types_password_and_mfa_code(served, cli_env, factory, cipher, patient):
    sandbox, _ = served
    user = sandbox.add_user(new_user(mfa_code="731001"))
    result = CliRunner().invoke(
        app,
        ["link", "garmin", "--patient", patient],
        input=f"{user.email}\n{user.password}\n731001\n",
        env=cli_env,
    )
    assert result.exit_code == 0, result.output
    assert user.password not in result.output  # typed hidden
    account = stored_link(factory)
    assert account.external_user_id == user.display_name
    assert set(cipher.decrypt_json(account.credentials)) == {
        "di_token",
        "di_refresh_token",
        "di_client_id",
    }


def test_cli_failed_login_is_one_line(served, cli_env, factory, patient):
    sandbox, _ = served
    user = sandbox.add_user(new_user())
    result = CliRunner().invoke(
        app,
        ["link", "garmin", "--patient", patient, "--email", user.email],
        input="not the password\n",
        env=cli_env,
    )
    assert result.exit_code != 0 and isinstance(result.exception, StridewiseError)
    assert str(result.exception) == "Garmin login failed: Garmin refused the email or password"
    assert stored_link(factory) is None


def test_cli_import_of_a_token_file_then_sync(
    served, cli_env, settings, factory, cipher, patient, tmp_path
):
    sandbox, _ = served
    user = sandbox.add_user(new_user())
    token_file = tmp_path / "garmin_tokens.json"
    token_file.write_text(json.dumps(sandbox.issue_tokens(user.display_name)))
    result = CliRunner().invoke(
        app,
        [
            "link",
            "import",
            "--patient",
            patient,
            "--provider",
            "garmin",
            "--token-file",
            token_file,
        ],
        env=cli_env,
    )
    assert result.exit_code == 0, result.output
    account = stored_link(factory)
    ref = AccountRef(account.id, patient, "garmin", account.external_user_id, "America/New_York")
    fetched = GarminAdapter(
        garmin_config(settings), CredentialStore(factory, cipher), clock=lambda: NOW
    ).fetch(ref, DateWindow(NOW.date(), NOW.date()))
    assert fetched.batch.daily_totals[0].steps == sandbox.total(user, NOW.date())
