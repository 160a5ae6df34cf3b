"""A patient's pages in headless chromium (Debian's, through Playwright), served by
uvicorn on loopback with both provider sandboxes: an invitation linked through
Google's consent to the first sync's result, Garmin through the password and code
forms, a relink, the own-data page; each checked with axe-core (WCAG 2.2 AA) and
photographed at desktop and phone widths (build/screenshots/patient-*.png)."""

from __future__ import annotations

import socket

import pytest
from browser_support import assert_accessible, screenshots
from portal_support import Sandboxes, add_people, data_link, invite, portal_settings
from sqlalchemy import update

from ingest.db import transaction
from ingest.models import LinkedAccount, LinkStatus, PainReport
from sandbox.garmin import GarminUser
from sandbox.garmin import create_app as garmin_app
from sandbox.garmin_state import GarminSandbox
from sandbox.google_health import GoogleSandboxState
from sandbox.google_health import create_app as google_app
from sandbox.serve import serve_in_thread
from stridewise.web.app import create_app
from stridewise.wiring import App

pytest_plugins = ["browser_support"]
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def site(tmp_path, secret_key, chromium):
    """The web app on a loopback port that is also its public URL, over SQLite."""
    from ingest.db import make_engine, session_factory, upgrade

    url = f"sqlite:///{tmp_path / 'browser.db'}"
    engine = make_engine(url)
    upgrade(engine)
    factory = session_factory(engine)
    add_people(factory, "P1", "P2", "P3")
    google, garmin = GoogleSandboxState(), GarminSandbox()
    garmin.add_user(GarminUser("gary@example.org", "correct horse", "gary", "Europe/Berlin",
                               "424242"))  # fmt: skip
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        serve_in_thread(google_app(google)) as google_url,
        serve_in_thread(garmin_app(garmin)) as garmin_url,
    ):
        boxes = Sandboxes(google, google_url, garmin, garmin_url)
        app = App(portal_settings(url, secret_key, boxes, public_url=base))
        with serve_in_thread(create_app(app), port=port):
            yield base, factory
    engine.dispose()


def test_google_invitation_to_first_sync(site, page):
    base, factory = site
    page.goto(f"{base}/invite/{invite(factory, 'P1')}")
    assert page.get_by_role("heading", name="Link your watch").is_visible()
    assert_accessible(page, "on the invitation")
    screenshots(page, "patient-invitation")
    page.get_by_role("button", name="Link with Google").click()
    page.wait_for_url(f"{base}/link/done")
    page.get_by_text("days of steps received").wait_for(timeout=30000)
    assert page.get_by_text("Fitbit or Pixel Watch (Google)").is_visible()
    assert page.get_by_text("Charge 6").is_visible()
    assert page.get_by_text("Europe/London").is_visible()
    assert_accessible(page, "on the confirmation")
    screenshots(page, "patient-google-linked")
    page.get_by_role("button", name="See your steps and your data").click()
    page.get_by_role("heading", name="Your walking and your data").wait_for()
    assert page.get_by_text("Fitbit or Pixel Watch (Google)", exact=True).is_visible()


def test_garmin_password_and_code_forms(site, page):
    base, factory = site
    page.goto(f"{base}/invite/{invite(factory, 'P2')}")
    page.get_by_role("link", name="Link Garmin").click()
    page.get_by_label("Garmin email").fill("gary@example.org")
    page.get_by_label("Garmin password").fill("wrong password")
    page.get_by_role("button", name="Link Garmin").click()
    assert page.get_by_role("alert").inner_text().startswith("Garmin did not accept")
    assert_accessible(page, "on the Garmin form with an error")
    screenshots(page, "patient-garmin-error")
    page.get_by_label("Garmin password").fill("correct horse")
    page.get_by_role("button", name="Link Garmin").click()
    page.get_by_role("heading", name="Enter the code from Garmin").wait_for()
    assert_accessible(page, "on the code form")
    screenshots(page, "patient-garmin-code")
    page.get_by_label("Security code").fill("424242")
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{base}/link/done")
    page.get_by_text("days of steps received").wait_for(timeout=30000)
    assert page.get_by_text("Garmin", exact=True).is_visible()
    screenshots(page, "patient-garmin-linked")


def test_relink_and_own_data(site, page):
    base, factory = site
    page.goto(f"{base}/invite/{invite(factory, 'P3')}")
    page.get_by_role("link", name="Link Garmin").click()
    page.get_by_label("Garmin email").fill("gary@example.org")
    page.get_by_label("Garmin password").fill("correct horse")
    page.get_by_role("button", name="Link Garmin").click()
    page.get_by_label("Security code").fill("424242")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("days of steps received").wait_for(timeout=30000)
    with transaction(factory) as session:
        session.execute(update(LinkedAccount).values(status=LinkStatus.NEEDS_RELINK))
        session.add(PainReport(patient_id="P3", score=4, note="stiff after sitting"))

    page.goto(f"{base}/me/{data_link(factory, 'P3')}")
    assert page.get_by_text("disconnected").is_visible()
    assert_accessible(page, "on the own-data page")
    screenshots(page, "patient-data")
    page.get_by_role("button", name="Reconnect").click()
    page.get_by_role("heading", name="Reconnect your Garmin").wait_for()
    assert_accessible(page, "on the relink page")
    screenshots(page, "patient-relink")
    page.get_by_role("link", name="Link Garmin").click()
    page.get_by_label("Garmin email").fill("gary@example.org")
    page.get_by_label("Garmin password").fill("correct horse")
    page.get_by_role("button", name="Link Garmin").click()
    page.get_by_label("Security code").fill("424242")
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{base}/link/done")
    page.get_by_text("days of steps received").wait_for(timeout=30000)

    page.goto(f"{base}/me/{data_link(factory, 'P3')}")
    assert page.get_by_text("connected", exact=True).is_visible()
    page.get_by_text("6", exact=True).click()
    page.get_by_role("button", name="Save pain report").click()
    assert "pain 6 out of 10 is recorded" in page.get_by_role("status").inner_text()
    screenshots(page, "patient-pain-advice")
    page.get_by_role("link", name="Delete all my data").click()
    assert_accessible(page, "on the delete confirmation")
    screenshots(page, "patient-delete")


def test_a_used_invitation_page(site, page):
    base, factory = site
    token = invite(factory, "P1")
    with transaction(factory) as session:
        from ingest.portal_models import Invitation

        session.execute(update(Invitation).values(used_at=Invitation.created_at))
    page.goto(f"{base}/invite/{token}")
    assert page.get_by_role("heading", name="This link cannot be used").is_visible()
    assert_accessible(page, "on the refused page")
    screenshots(page, "patient-refused")
