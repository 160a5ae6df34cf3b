"""The web foundation: health, errors as pages and problem details, cookies,
security headers, CSRF, and the login page in a real browser."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from web_support import PASSWORD, add_therapist, page_csrf, sign_in, web_app

from ingest.db import make_engine, session_factory

pytest_plugins = ["web_support", "browser_support"]


def test_healthz_reports_the_database_and_the_scheduler(web, client):
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}

    class Stopped:
        running = False

    web.state.scheduler = Stopped()
    stopped = client.get("/healthz")
    assert stopped.status_code == 503 and stopped.json()["scheduler"] == "stopped"
    web.state.scheduler = None
    web.state.factory = session_factory(make_engine("sqlite:////nonexistent/dir/x.db"))
    broken = client.get("/healthz")
    assert broken.status_code == 503 and broken.json()["database"] == "unreachable"


def test_unknown_paths_are_a_page_for_people_and_a_problem_for_the_api(client):
    page = client.get("/no/such/page")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert '<h1 id="error-title">Page not found</h1>' in page.text
    assert "<p>Not Found</p>" not in page.text  # the status is not said twice
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"
    assert api.json() == {"type": "about:blank", "title": "Not Found", "status": 404,
                          "detail": "Not Found", "instance": "/api/v1/no-such-thing"}  # fmt: skip


def test_pages_need_a_session_and_show_the_sign_in_form(client):
    response = client.get("/")
    assert response.status_code == 401
    assert 'action="/login"' in response.text and 'name="next" value="/"' in response.text


def test_security_headers_and_cookie_attributes(client):
    response = client.get("/login")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in response.headers  # http: no HSTS
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie


def test_https_deployments_get_secure_cookies_and_hsts(db_url, secret_key):
    web = web_app(db_url, secret_key, public_url="https://stridewise.example")
    response = TestClient(web, base_url="https://testserver").get("/login")
    assert "Secure" in response.headers["set-cookie"]
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_forms_are_refused_without_the_csrf_token(factory, client):
    email = add_therapist(factory, "T1")
    form = {"email": email, "password": PASSWORD}
    assert client.post("/login", data=form).status_code == 403
    assert client.post("/login", data={**form, "csrf_token": "forged"}).status_code == 403
    other_browser = TestClient(client.app)
    token = page_csrf(other_browser)  # valid, but bound to the other browser's cookie
    assert client.post("/login", data={**form, "csrf_token": token}).status_code == 403
    assert "sw_session" not in client.cookies
    assert sign_in(client, email).status_code == 303


def test_the_session_cookie_is_signed(factory, client):
    email = add_therapist(factory, "T1")
    assert sign_in(client, email).status_code == 303
    assert client.get("/").status_code == 200
    value = client.cookies["sw_session"]
    client.cookies.set("sw_session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert client.get("/").status_code == 401


@pytest.mark.browser
def test_the_sign_in_page_is_accessible_at_both_widths(web, page):
    from browser_support import assert_accessible, screenshots

    from sandbox.serve import serve_in_thread

    with serve_in_thread(web) as base:
        page.goto(base + "/login")
        assert_accessible(page, "on /login")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
        page.click("button[type=submit]")  # empty form: refused, message shown
        assert page.locator("[role=alert]").is_visible()
        assert_accessible(page, "on /login with an error")
        shots = screenshots(page, "login")
    assert all(p.stat().st_size > 1000 for p in shots)


def test_metrics_in_prometheus_format(factory, client):
    from web_support import add_account, add_alert, add_patient

    add_therapist(factory, "T1")
    add_patient(factory, "P1", "T1")
    add_account(factory, "P1", status="needs_relink")
    add_alert(factory, "P1", "flare")
    client.get("/login")
    text = client.get("/metrics").text
    assert 'stridewise_accounts{state="needs_relink"} 1.0' in text
    assert 'stridewise_alerts_raised_total{rule="flare"} 1.0' in text
    assert "stridewise_sync_lag_seconds" in text
    assert 'stridewise_request_seconds_count{method="GET",route="/login",status="200"} 1.0' in text
