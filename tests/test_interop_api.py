"""``GET /api/v1/patients/{id}/fhir``: the CLI's Bundle as application/fhir+json, for
the patient's own therapist only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle

from ingest.db import transaction
from stridewise.web.accounts import create_api_token
from tests.interop_support import FIRST, LAST, export_bundle, two_weeks
from tests.web_support import add_therapist

pytest_plugins = ["web_support"]
NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)


@pytest.fixture
def tokens(factory, patient) -> dict[str, str]:
    """P1's therapist T1 (from the patient fixture) and another, T2, each with a token."""
    add_therapist(factory, "T2")
    out = {}
    with transaction(factory) as session:
        for therapist in ("T1", "T2"):
            out[therapist], _ = create_api_token(session, therapist, "ehr")
    return out


def _get(client: TestClient, patient: str, token: str | None, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    query = {"from": str(FIRST), "to": str(LAST), **params}
    return client.get(f"/api/v1/patients/{patient}/fhir", params=query, headers=headers)


def test_the_bundle_as_fhir_json(db_url, monkeypatch, factory, patient, tokens, web):
    two_weeks(factory, patient)
    monkeypatch.setattr("stridewise.web.api.fhir.utcnow", lambda: NOW)
    response = _get(TestClient(web), patient, tokens["T1"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    Bundle.model_validate(bundle)
    assert bundle == export_bundle(db_url, monkeypatch, patient, FIRST, LAST, NOW)


def test_only_the_patients_own_therapist_reads_it(factory, patient, tokens, web):
    client = TestClient(web)
    assert _get(client, patient, None).status_code == 401
    assert _get(client, patient, "sw_not-a-token").status_code == 401
    other = _get(client, patient, tokens["T2"])
    assert other.status_code == 404
    assert other.json()["status"] == 404
    missing = _get(client, "P404", tokens["T1"])
    assert missing.status_code == 404
    assert missing.json()["detail"] == other.json()["detail"].replace(patient, "P404")


def test_bad_dates_are_problems(factory, patient, tokens, web):
    client = TestClient(web)
    assert _get(client, patient, tokens["T1"], to="2026-02-01").status_code == 422
    assert _get(client, patient, tokens["T1"], **{"from": "March"}).status_code == 422
