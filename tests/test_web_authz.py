"""The authorization matrix, generated from the app's own route table: for every
page and API route, an anonymous caller, a second therapist and a revoked token
get 401/404 and see nothing of the first therapist's patients. A route added
without an entry here (or in the portal's list) fails the first test."""

from __future__ import annotations

import re

import pytest
from authz_patient_routes import ROUTES as PORTAL_ROUTES
from fastapi.testclient import TestClient
from starlette.routing import Mount
from web_support import add_alert, add_patient, add_therapist, page_csrf, sign_in, web_app

from ingest.db import transaction
from stridewise.web.accounts import create_api_token, revoke_api_token

pytest_plugins = ["web_support"]

SECRET_NAME = "Zebedee Secretname"
ROUTES = {
    ("GET", "/login"): "public",
    ("POST", "/login"): "public",
    ("POST", "/logout"): "public",  # ends only the caller's own session
    ("GET", "/password-reset"): "public",
    ("POST", "/password-reset"): "public",  # the same answer for every address
    ("GET", "/password-reset/{token}"): "public",  # an emailed one-time link
    ("POST", "/password-reset/{token}"): "public",
    ("GET", "/healthz"): "public",
    ("GET", "/metrics"): "public",
    ("GET", "/openapi.json"): "public",
    ("GET", "/docs"): "public",
    ("GET", "/docs/oauth2-redirect"): "public",
    ("GET", "/static"): "public",
    ("GET", "/"): "therapist",
    ("GET", "/patients/{patient_id}"): "therapist",
    ("POST", "/patients/{patient_id}/alerts/{alert_id}/acknowledge"): "therapist",
    ("POST", "/patients/{patient_id}/alerts/{alert_id}/snooze"): "therapist",
    ("POST", "/patients/{patient_id}/exempt"): "therapist",
    ("POST", "/patients/{patient_id}/programme"): "therapist",
    ("POST", "/patients/{patient_id}/invite"): "therapist",
    ("GET", "/api/v1/patients"): "api",
    ("GET", "/api/v1/patients/{patient_id}"): "api",
    ("GET", "/api/v1/patients/{patient_id}/days"): "api",
    ("GET", "/api/v1/patients/{patient_id}/accounts"): "api",
    ("GET", "/api/v1/patients/{patient_id}/fhir"): "api",
    ("POST", "/api/v1/patients/{patient_id}/pain-reports"): "api",
    ("GET", "/api/v1/alerts"): "api",
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): "api",
    **PORTAL_ROUTES,
}
QUERY = {"/api/v1/patients/{patient_id}/fhir": {"from": "2026-03-01", "to": "2026-03-07"}}
BODY = {"/api/v1/patients/{patient_id}/pain-reports": {"score": 3},
        "/patients/{patient_id}/alerts/{alert_id}/snooze": {"days": "1"}}  # fmt: skip


@pytest.fixture
def web(db_url, secret_key):
    """The app with every receiver configured (an unconfigured webhook answers 503)."""
    return web_app(db_url, secret_key, google_webhook_secret="the-webhook-secret")


def _flatten(routes) -> list[tuple[str, str]]:
    """(method, path) of every route. FastAPI keeps included routers as branches
    (``_IncludedRouter``) and resolves their prefixes in ``effective_candidates``."""
    found = []
    for route in routes:
        if hasattr(route, "effective_candidates"):
            found += _flatten(route.effective_candidates())
            continue
        original = getattr(route, "original_route", route)
        path = getattr(route, "path", None) or original.path
        if isinstance(original, Mount):
            found.append(("GET", path))
        else:
            found += [(m, path) for m in sorted((original.methods or {"GET"}) - {"HEAD"})]
    return found


def route_table(web) -> list[tuple[str, str]]:
    return _flatten(web.routes)


def test_every_route_has_an_entry(web):
    missing = [r for r in route_table(web) if r not in ROUTES]
    assert not missing, f"routes without an authorization entry: {missing}"
    stale = [r for r in ROUTES if r not in route_table(web)]
    assert not stale, f"entries for routes that no longer exist: {stale}"


@pytest.fixture
def world(factory):
    """T1 with a patient and an alert; T2 signed in elsewhere; a live and a revoked token."""
    add_therapist(factory, "T1")
    t2 = add_therapist(factory, "T2")
    add_patient(factory, "P1", "T1", SECRET_NAME)
    alert = add_alert(factory, "P1", "flare")
    with transaction(factory) as session:
        t2_token, _ = create_api_token(session, "T2", "t2")
        revoked, row = create_api_token(session, "T1", "old")
        revoke_api_token(session, row.id)
    return {"alert": alert, "t2_email": t2, "t2_token": t2_token, "revoked": revoked}


def _path(template: str, world) -> str:
    values = {"patient_id": "P1", "alert_id": str(world["alert"]), "token": "not-a-real-link",
              "kind": "json"}  # fmt: skip
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def _call(client: TestClient, method: str, template: str, world, headers=None):
    path = _path(template, world)
    body = BODY.get(template, {})
    if template.startswith("/api/"):
        return client.request(method, path, params=QUERY.get(template), json=body or None,
                               headers=headers)  # fmt: skip
    token = page_csrf(client, "/login")  # the CSRF check passes: this is about identity
    return client.request(method, path, data=body or None,
                          headers={"x-csrf-token": token, **(headers or {})})  # fmt: skip


@pytest.mark.parametrize("caller", ["anonymous", "second therapist", "revoked token"])
def test_nobody_else_sees_the_first_therapists_patients(web, world, caller):
    client = TestClient(web, follow_redirects=False)
    headers = {}
    if caller == "second therapist":
        assert sign_in(client, world["t2_email"]).status_code == 303
        headers = {"authorization": f"Bearer {world['t2_token']}"}
    elif caller == "revoked token":
        headers = {"authorization": f"Bearer {world['revoked']}"}
    for (method, template), kind in ROUTES.items():
        if kind == "public":
            continue
        response = _call(client, method, template, world, headers)
        seen = SECRET_NAME in response.text or '"P1"' in response.text
        assert not seen, (caller, method, template)
        if kind == "therapist":
            expected = {404} if caller == "second therapist" and "{" in template else {401}
            if caller == "second therapist" and "{" not in template:
                expected = {200}
        elif kind == "api":
            expected = {401}
            if caller == "second therapist":
                expected = {404} if "{" in template else {200}
        else:  # the portal's signed links and webhooks: a bogus link or no secret
            expected = {400, 401, 403, 404, 410, 422}
        assert response.status_code in expected, (caller, method, template, response.status_code)


def test_the_first_therapist_does_see_them(web, world, factory):
    client = TestClient(web, follow_redirects=False)
    assert sign_in(client, "t1@clinic.example").status_code == 303
    assert SECRET_NAME in client.get("/").text
    with transaction(factory) as session:
        token, _ = create_api_token(session, "T1", "t1")
    response = client.get("/api/v1/patients/P1", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json()["name"] == SECRET_NAME
