"""The patient portal's routes for the authorization matrix (tests/test_web_authz.py):
each needs a valid one-time invitation / data link (or, for /link/*, the signed
cookie an invitation sets), or the provider's webhook secret."""

ROUTES = {
    ("GET", "/invite/{token}"): "patient_link",
    ("GET", "/relink/{token}"): "patient_link",
    ("POST", "/link/google-health/start"): "patient_link",
    ("GET", "/link/google-health/callback"): "patient_link",
    ("GET", "/link/garmin"): "patient_link",
    ("POST", "/link/garmin"): "patient_link",
    ("POST", "/link/garmin/code"): "patient_link",
    ("GET", "/link/done"): "patient_link",
    ("GET", "/link/progress"): "patient_link",
    ("POST", "/link/my-data"): "patient_link",
    ("GET", "/me/{token}"): "patient_link",
    ("POST", "/me/{token}/pain"): "patient_link",
    ("GET", "/me/{token}/export.{kind}"): "patient_link",
    ("POST", "/me/{token}/unlink"): "patient_link",
    ("POST", "/me/{token}/relink"): "patient_link",
    ("GET", "/me/{token}/delete"): "patient_link",
    ("POST", "/me/{token}/delete"): "patient_link",
    ("POST", "/webhooks/google-health"): "webhook",
}
