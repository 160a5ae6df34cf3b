"""Signing in and resetting a password in headless chromium, the link read from a
real SMTP server on loopback: every page on the way (sign in with a wrong
password, the request form, the sent page, the new-password form with an error,
the done page, the link used twice, a page that does not exist) passes axe-core's
WCAG 2.2 AA check and is screenshotted at desktop and phone widths."""

from __future__ import annotations

import re

import pytest
from browser_support import assert_accessible, screenshots
from delivery_support import smtp_server
from web_support import add_therapist, web_app

from sandbox.serve import serve_in_thread

pytest_plugins = ["browser_support"]

NEW = "a brand new passphrase"
_LINK = re.compile(r"https?://[^/\s]+(/password-reset/[A-Za-z0-9_-]+)")


def _wait_for_mail(mailbox, page, count: int) -> None:
    for _ in range(100):
        if len(mailbox.messages) >= count:
            return
        page.wait_for_timeout(100)
    raise AssertionError("no reset email arrived")


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sign_in_and_a_password_reset_page_by_page(db_url, secret_key, factory, page):
    email = add_therapist(factory, "T1", name="Ana Silva")
    with smtp_server() as (mailbox, port):
        web = web_app(db_url, secret_key, smtp_host="127.0.0.1", smtp_port=port,
                      mail_from="stridewise <noreply@clinic.example>")  # fmt: skip
        with serve_in_thread(web) as base:
            page.goto(base + "/login")
            page.fill("#email", email)
            page.fill("#password", "not the password")
            page.click("button[type=submit]")
            assert page.locator("#login-error").is_visible()
            assert page.get_attribute("#password", "aria-invalid") == "true"
            assert_accessible(page, "on sign-in with an error")
            screenshots(page, "therapist-sign-in-error")

            page.click("a:has-text('Forgot your password?')")
            page.wait_for_url(base + "/password-reset")
            assert_accessible(page, "on the reset request form")
            screenshots(page, "therapist-reset-request")
            page.fill("#email", email)
            page.click("button:has-text('Send the link')")
            assert page.locator("h1").inner_text() == "Check your email"
            assert_accessible(page, "on the link-sent page")
            screenshots(page, "therapist-reset-sent")

            _wait_for_mail(mailbox, page, 1)
            body = mailbox.messages[-1].get_body(("plain",)).get_content()
            path = _LINK.search(body).group(1)
            page.goto(base + path)
            assert page.locator("h1").inner_text() == "Choose a new password"
            page.fill("#f-password", NEW)
            page.fill("#f-confirm", NEW + "!")
            page.click("button:has-text('Set the new password')")
            assert page.locator("#f-confirm-error").is_visible()
            assert_accessible(page, "on the new-password form with an error")
            screenshots(page, "therapist-reset-form-error")
            page.fill("#f-password", NEW)
            page.fill("#f-confirm", NEW)
            page.click("button:has-text('Set the new password')")
            assert page.locator("h1").inner_text() == "Your password is changed"
            assert_accessible(page, "on the password-changed page")
            screenshots(page, "therapist-reset-done")

            page.goto(base + path)
            assert page.locator("h1").inner_text() == "This link does not work"
            assert_accessible(page, "on the used link")
            screenshots(page, "therapist-reset-invalid")

            page.goto(base + "/login")
            page.fill("#email", email)
            page.fill("#password", NEW)
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            assert page.locator("h1").inner_text() == "Caseload"

            page.goto(base + "/patients/nobody")
            assert page.locator("h1").is_visible()
            assert_accessible(page, "on the not-found page")
            screenshots(page, "not-found")
