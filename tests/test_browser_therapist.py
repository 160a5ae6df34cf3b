"""A therapist end to end in headless chromium over the demo's five stories: sign in,
the caseload sorted by need, open a patient, acknowledge an alert, change the level,
sign out; axe-core's WCAG 2.2 AA check and screenshots at desktop and phone widths."""

from __future__ import annotations

import pytest
from browser_support import assert_accessible, screenshots
from sqlalchemy import select
from web_support import PASSWORD, add_therapist, web_app

from core.clock import local_today, utcnow
from ingest.programme_models import Alert, LevelOverride
from sandbox.serve import serve_in_thread
from stridewise.demo.stories import evaluate_stories, seed_stories
from stridewise.web.summaries import refresh_stale

pytest_plugins = ["browser_support"]


@pytest.fixture
def clinic(db_url, secret_key, factory):
    email = add_therapist(factory, "T1", name="Ana Silva")
    today = local_today(utcnow(), None)
    seed_stories(factory, today, "T1")
    evaluate_stories(factory, today)
    refresh_stale(factory)
    return web_app(db_url, secret_key), email


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_therapist_works_through_the_caseload(clinic, page, factory):
    web, email = clinic
    with serve_in_thread(web) as base:
        page.goto(base + "/")
        assert page.locator("h1").inner_text() == "Sign in"
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        assert page.locator("h1").inner_text() == "Caseload"
        rows = page.locator("table.caseload tbody tr")
        assert rows.count() == 5
        # Sorted by need: the rows with urgent alerts come first, then the rest.
        urgent = [rows.nth(i).locator(".badge.urgent").count() > 0 for i in range(5)]
        assert urgent == sorted(urgent, reverse=True) and urgent[0]
        assert_accessible(page, "on the caseload")
        screenshots(page, "therapist-caseload")

        page.click("a.patient-name:has-text('Flare')")
        page.wait_for_url("**/patients/demo-flare")
        assert_accessible(page, "on a patient page")
        screenshots(page, "therapist-patient")
        page.locator("li.alert.open button:has-text('Acknowledge')").first.click()
        page.wait_for_url("**/patients/demo-flare?done=acknowledged*")
        assert page.locator(".flash").inner_text() == "Alert acknowledged."
        with factory() as session:
            statuses = {a.rule: a.status for a in session.scalars(
                select(Alert).where(Alert.patient_id == "demo-flare", Alert.audience == "therapist")
            )}  # fmt: skip
        assert "acknowledged" in statuses.values()

        level = int(page.input_value("#f-level"))
        page.fill("#f-level", str(level + 1))
        page.click("button:has-text('Save programme')")
        page.wait_for_url("**/patients/demo-flare?done=programme*")
        assert page.locator(".flash").inner_text() == "Programme updated."
        assert page.input_value("#f-level") == str(level + 1)
        with factory() as session:
            override = session.scalars(select(LevelOverride)).one()
            assert (override.patient_id, override.level) == ("demo-flare", level + 1)

        # The field's bounds reach the browser as attributes (not escaped text).
        assert page.get_attribute("#f-walks_per_week", "max") == "7"
        assert page.get_attribute("#f-walks_per_week", "inputmode") == "numeric"
        page.fill("#f-walks_per_week", "9")
        page.click("button:has-text('Save programme')")
        assert "between 1 and 7" in page.locator("#f-walks_per_week-error").inner_text()
        assert_accessible(page, "on a patient page with a form error")
        screenshots(page, "therapist-patient-form-error")

        page.click("button:has-text('Sign out')")
        page.wait_for_url(base + "/login")
        page.goto(base + "/")
        assert page.locator("h1").inner_text() == "Sign in"
