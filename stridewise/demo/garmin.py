"""The demo's Garmin patient: a sandbox user, linked through the real login (password
and MFA code typed by a script instead of a person). Serve ``create_app(demo_sandbox())``
and point the settings at it with :func:`sandbox_settings`; the sync engine's cycle
then syncs the link through the real adapter.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from adapters.garmin.login import GarminLink
from ingest.crypto import Cipher
from sandbox.garmin import GarminSandbox, GarminUser
from sandbox.garmin import sandbox_settings as garmin_hosts
from stridewise.linking.garmin import link_garmin
from stridewise.providers import garmin_config
from stridewise.settings import Settings

DEMO_ZONE = "Europe/Berlin"  # give the demo patient this zone: the watch lives there
DEMO_EMAIL = "demo.walker@example.org"
DEMO_PASSWORD = "demo-only-password"
DEMO_MFA_CODE = "246810"


def demo_sandbox(person: str = "demo-garmin") -> GarminSandbox:
    """A Garmin sandbox holding the demo user (email login with an MFA code);
    ``person`` names the walker, so the same name gives the same steps everywhere."""
    sandbox = GarminSandbox()
    sandbox.add_user(
        GarminUser(
            DEMO_EMAIL,
            DEMO_PASSWORD,
            "5e6d7c8b-demo-4a1b-9c2d-garminwalker",
            tz=DEMO_ZONE,
            mfa_code=DEMO_MFA_CODE,
            person=person,
        )
    )
    return sandbox


def sandbox_settings(settings: Settings, base_url: str) -> Settings:
    """``settings`` with every Garmin host pointing at a sandbox at ``base_url``."""
    return settings.model_copy(update=garmin_hosts(base_url))


def link_demo_patient(
    factory: sessionmaker[Session], settings: Settings, patient_id: str
) -> GarminLink:
    """Link the existing patient to the demo Garmin user: the real login, with the MFA
    code typed by a script. ``settings`` must point at the sandbox."""
    return link_garmin(
        factory,
        Cipher(settings.secret_key),
        garmin_config(settings),
        patient_id,
        DEMO_EMAIL,
        DEMO_PASSWORD,
        mfa_code=lambda: DEMO_MFA_CODE,
    )
