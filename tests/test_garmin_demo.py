"""End to end: the demo's Garmin patient linked through the sandbox's login and MFA,
synced by the real sync engine; what is stored equals what Garmin says."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from zoneinfo import ZoneInfo

from garmin_support import sandbox_settings as settings_for
from sqlalchemy import select

from core.clock import utcnow
from ingest.db import transaction
from ingest.models import DailyTotalRow, LinkedAccount, StepIntervalRow, Therapist
from ingest.patients import add_patient
from sandbox.garmin import create_app
from sandbox.serve import serve_in_thread
from stridewise.demo.garmin import (
    DEMO_ZONE,
    demo_sandbox,
    link_demo_patient,
    sandbox_settings,
)
from stridewise.wiring import run_cycle


def test_demo_patient_is_linked_and_synced(factory, secret_key):
    with transaction(factory) as session:
        session.add(Therapist(id="T1", name="Dr Gait", email="t1@example.org"))
        session.flush()
        add_patient(session, "demo-garmin", "Gary Min", DEMO_ZONE, "T1")
    sandbox = demo_sandbox()
    with serve_in_thread(create_app(sandbox)) as base_url:
        settings = sandbox_settings(settings_for("http://unused", secret_key), base_url)
        link = link_demo_patient(factory, settings, "demo-garmin")
        report = run_cycle(factory, settings, "test-worker")

    (result,) = report.results
    assert (result.provider, result.outcome) == ("garmin", "success")
    (user,) = sandbox.users.values()
    with factory() as session:
        account = session.scalars(select(LinkedAccount)).one()
        totals = {r.local_date: r.steps for r in session.scalars(select(DailyTotalRow))}
        sums: dict = defaultdict(int)
        for row in session.scalars(select(StepIntervalRow)):
            sums[row.local_date] += row.steps
    assert account.external_user_id == user.display_name == link.display_name
    assert account.last_success_at
    today = utcnow().astimezone(ZoneInfo(DEMO_ZONE)).date()
    past = [d for d in totals if d < today]
    assert len(past) >= 20
    assert all(totals[d] == sandbox.total(user, d) for d in past)
    recent = [today - timedelta(days=n) for n in range(1, 7)]
    assert all(sums[d] == totals[d] for d in recent)
