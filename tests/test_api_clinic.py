"""The REST API: tokens from the CLI, each route's answers, RFC 9457 errors, and
schemathesis over the OpenAPI document (no 5xx, nothing that breaks the schema)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy import select
from typer.testing import CliRunner
from web_support import add_account, add_alert, add_patient, add_therapist, web_app

from core.schema import StepBatch, StepInterval
from ingest.access_models import ApiToken
from ingest.db import make_engine, session_factory, transaction
from ingest.models import PainReport
from ingest.programme_models import Alert
from ingest.store import write_batch
from stridewise.cli.main import app as cli
from stridewise.settings import Settings
from stridewise.web.accounts import create_api_token
from stridewise.wiring import App

pytest_plugins = ["web_support"]


def _token(factory, therapist="T1") -> dict:
    with transaction(factory) as session:
        secret, _ = create_api_token(session, therapist, "test")
    return {"Authorization": f"Bearer {secret}"}


def test_tokens_are_shown_once_stored_hashed_and_revocable(db_url, secret_key, factory, client):
    add_therapist(factory, "T1")
    obj = App(Settings(database_url=db_url, secret_key=secret_key))
    created = CliRunner().invoke(cli, ["api-token", "create", "--therapist", "T1", "--name", "ehr"],
                                 obj=obj)  # fmt: skip
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    assert secret.startswith("swt_")
    with factory() as session:
        row = session.scalars(select(ApiToken)).one()
        assert secret not in (row.token_digest, row.name)
    listed = CliRunner().invoke(cli, ["api-token", "list"], obj=obj)
    assert "ehr" in listed.output and secret not in listed.output
    headers = {"authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/patients", headers=headers).status_code == 200
    revoked = CliRunner().invoke(cli, ["api-token", "revoke", str(row.id)], obj=obj)
    assert revoked.exit_code == 0
    refused = client.get("/api/v1/patients", headers=headers)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert refused.headers["content-type"] == "application/problem+json"
    unknown = CliRunner().invoke(cli, ["api-token", "create", "--therapist", "NOPE"], obj=obj)
    assert unknown.exit_code == 1


def test_therapist_password_from_stdin_and_prompted_twice(db_url, secret_key, factory, client):
    add_therapist(factory, "T2", password="x" * 12)
    obj = App(Settings(database_url=db_url, secret_key=secret_key))
    args = ["therapist", "password", "T2"]
    short = CliRunner().invoke(cli, [*args, "--password-stdin"], input="short\n", obj=obj)
    assert short.exit_code == 1
    differ = CliRunner().invoke(cli, args, input="a new long password\nanother one here\n",
                                obj=obj)  # fmt: skip
    assert differ.exit_code == 1
    ok = CliRunner().invoke(cli, [*args, "--password-stdin"], input="a new long password\n",
                            obj=obj)  # fmt: skip
    assert ok.exit_code == 0, ok.output
    from web_support import sign_in

    assert sign_in(client, "t2@clinic.example", "a new long password").status_code == 303
    assert sign_in(client, "t2@clinic.example", "x" * 12).status_code == 401


def test_patients_accounts_alerts_and_acknowledge(factory, client):
    add_therapist(factory, "T1")
    add_patient(factory, "P1", "T1", "Sam Lee")
    add_account(factory, "P1", status="needs_relink")
    flare = add_alert(factory, "P1", "flare")
    add_alert(factory, "P1", "under_target", status="acknowledged")
    headers = _token(factory)
    patients = client.get("/api/v1/patients", headers=headers).json()
    assert [p["id"] for p in patients] == ["P1"]
    assert patients[0]["link"] == "needs_relink" and patients[0]["urgent_alerts"] == 1
    one = client.get("/api/v1/patients/P1", headers=headers).json()
    assert one["name"] == "Sam Lee"
    accounts = client.get("/api/v1/patients/P1/accounts", headers=headers).json()
    assert accounts[0]["provider"] == "google-health" and accounts[0]["status"] == "needs_relink"
    open_ = client.get("/api/v1/alerts", params={"status": "open"}, headers=headers).json()
    assert [a["id"] for a in open_] == [flare] and "Pain flare" in open_[0]["subject"]
    done = client.post(f"/api/v1/alerts/{flare}/acknowledge", headers=headers)
    assert done.status_code == 200 and done.json()["status"] == "acknowledged"
    with factory() as session:
        assert session.get(Alert, flare).status == "acknowledged"
    # An id past 64 bits names no alert (it overflowed the driver: a 500, found by
    # schemathesis).
    huge = client.post(f"/api/v1/alerts/{2**64}/acknowledge", headers=headers)
    assert huge.status_code == 404 and huge.json()["status"] == 404
    bad = client.get("/api/v1/alerts", params={"status": "sideways"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["status"] == 422 and bad.json()["errors"]


def test_pain_reports_are_validated(factory, client):
    add_therapist(factory, "T1")
    add_patient(factory, "P1", "T1")
    headers = _token(factory)
    made = client.post("/api/v1/patients/P1/pain-reports", json={"score": 4, "note": "ok"},
                       headers=headers)  # fmt: skip
    assert made.status_code == 201 and made.json()["score"] == 4
    for body in ({"score": 11}, {"score": "high"}, {}):
        refused = client.post("/api/v1/patients/P1/pain-reports", json=body, headers=headers)
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    later = client.post("/api/v1/patients/P1/pain-reports", json={"score": 2, "at": future},
                        headers=headers)  # fmt: skip
    assert later.status_code == 422 and "future" in later.json()["detail"]
    with factory() as session:
        assert [r.score for r in session.scalars(select(PainReport))] == [4]


def test_days_are_the_days_the_rules_see(factory, client):
    add_therapist(factory, "T1")
    add_patient(factory, "P1", "T1")
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    intervals = [
        StepInterval("P1", "csv", "watch", start + timedelta(days=d, minutes=15 * q),
                     start + timedelta(days=d, minutes=15 * (q + 1)), 0, 400)
        for d in (0, 2) for q in range(8)
    ]  # fmt: skip
    with transaction(factory) as session:
        write_batch(session, StepBatch(intervals=intervals))
    headers = _token(factory)
    days = client.get("/api/v1/patients/P1/days", params={"from": "2026-03-02", "to": "2026-03-04"},
                      headers=headers).json()  # fmt: skip
    by_date = {d["date"]: d for d in days}
    assert by_date["2026-03-02"]["steps"] == 3200
    assert by_date["2026-03-03"]["steps"] is None  # not worn: missing, never 0
    assert by_date["2026-03-03"]["status"] == "missing"
    backwards = client.get("/api/v1/patients/P1/days", params={"from": "2026-03-04",
                           "to": "2026-03-02"}, headers=headers)  # fmt: skip
    assert backwards.status_code == 422
    # A range past the patient's today (or over a year) is refused, not computed day by
    # day: year 9999 would be millions of empty days.
    for route in ("days", "fhir"):
        future = client.get(f"/api/v1/patients/P1/{route}", params={"from": "9999-12-01",
                            "to": "9999-12-31"}, headers=headers)  # fmt: skip
        assert future.status_code == 422 and "today" in future.json()["detail"]
        long = client.get(f"/api/v1/patients/P1/{route}", params={"from": "2024-01-01",
                          "to": "2026-01-01"}, headers=headers)  # fmt: skip
        assert long.status_code == 422 and "at most 366 days" in long.json()["detail"]


# schemathesis over the whole API, against a database holding one patient and alert.
@pytest.fixture(scope="module")
def api_world(sqlite_template, tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "api.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    factory = session_factory(make_engine(url))
    add_therapist(factory, "T1")
    add_patient(factory, "P1", "T1")
    add_alert(factory, "P1", "flare")
    from ingest.crypto import generate_key

    return web_app(url, generate_key()), _token(factory)


@pytest.mark.slow
def test_the_api_keeps_its_schema(api_world):
    """Every operation, with inputs Hypothesis draws from the OpenAPI document: no 5xx,
    every response as documented (schemathesis' checks). Driven by hand: schemathesis'
    pytest plugin does not load under this pytest."""
    web, headers = api_world
    schema = schemathesis.openapi.from_asgi("/openapi.json", web)
    operations = [op for op in (r.ok() for r in schema.get_all_operations())
                  if op.path.startswith("/api/")]  # fmt: skip
    assert len(operations) >= 8
    for operation in operations:

        @settings(max_examples=6, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=operation.as_strategy())
        def check(case):
            case.call_and_validate(headers=headers)

        check()
