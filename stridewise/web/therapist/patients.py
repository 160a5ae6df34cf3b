"""A patient's page for their therapist, and the actions on it. Each action
redirects back (post/redirect/get) with a short confirmation; an invalid form is
shown again with the message next to the field and nothing changed."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from core.clock import utcnow
from core.errors import StridewiseError
from ingest.programme_models import EXEMPT_REASONS
from rules.reports import add_exempt
from stridewise.portal.invitations import create_invitation, invitation_url
from stridewise.web.clinic import (
    SETTINGS,
    SNOOZE_DAYS,
    acknowledge,
    adjust_programme,
    owned_patient,
    programme_values,
    snooze,
)
from stridewise.web.deps import CurrentTherapist, SessionDep, SettingsDep
from stridewise.web.patient_view import patient_view
from stridewise.web.svg import day_chart
from stridewise.web.templating import render

router = APIRouter(prefix="/patients")

DONE = {
    "acknowledged": "Alert acknowledged.",
    "snoozed": "Alert snoozed.",
    "exempt": "Exempt day saved.",
    "programme": "Programme updated.",
}


def _back(patient_id: str, done: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/patients/{patient_id}?done={done}{anchor}", status_code=303)


def _page(request, session, patient, status_code=200, **extra) -> Response:
    now = utcnow()
    view = patient_view(session, patient, now)
    session.commit()  # the refreshed caseload summary
    week = view.current_week
    values = programme_values(patient, view.start, week["level"] if week else None)
    context = {
        "view": view, "now": now, "settings_fields": SETTINGS, "snooze_days": SNOOZE_DAYS,
        "reasons": EXEMPT_REASONS,
        # Wide screens get 8 weeks; phones 4 weeks at a size they can read (CSS picks one).
        "charts": [
            (title, day_chart(days, uid=uid), day_chart(days[-28:], uid=f"{uid}-n", width=360,
                                                        height=220, font=15))
            for title, days, uid in (("Daily steps", view.steps_days, "steps"),
                                     ("Walking minutes a day", view.minutes_days, "minutes"))
        ],
        "programme": {"values": values, "errors": {}},
        "exempt_form": {"values": {"day": "", "reason": "illness", "note": ""}, "errors": {}},
        "flash": DONE.get(request.query_params.get("done", "")),
    }  # fmt: skip
    context.update(extra)
    return render(request, "therapist/patient.html", status_code=status_code, **context)


@router.get("/{patient_id}")
def patient_page(
    request: Request, patient_id: str, session: SessionDep, therapist: CurrentTherapist
) -> Response:
    return _page(request, session, owned_patient(session, therapist, patient_id))


@router.post("/{patient_id}/alerts/{alert_id}/acknowledge")
def acknowledge_alert(
    patient_id: str, alert_id: int, session: SessionDep, therapist: CurrentTherapist
) -> Response:
    owned_patient(session, therapist, patient_id)
    acknowledge(session, therapist, alert_id)
    session.commit()
    return _back(patient_id, "acknowledged", "#alerts")


@router.post("/{patient_id}/alerts/{alert_id}/snooze")
def snooze_alert(
    patient_id: str,
    alert_id: int,
    session: SessionDep,
    therapist: CurrentTherapist,
    days: Annotated[int, Form()],
) -> Response:
    owned_patient(session, therapist, patient_id)
    snooze(session, therapist, alert_id, days)
    session.commit()
    return _back(patient_id, "snoozed", "#alerts")


@router.post("/{patient_id}/exempt")
def exempt_day(
    request: Request,
    patient_id: str,
    session: SessionDep,
    therapist: CurrentTherapist,
    day: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    patient = owned_patient(session, therapist, patient_id)
    values = {"day": day, "reason": reason, "note": note}
    errors = {}
    try:
        parsed = date.fromisoformat(day.strip())
    except ValueError:
        errors["day"] = "Enter the date as YYYY-MM-DD, such as 2026-03-08."
    if reason not in EXEMPT_REASONS:
        errors["reason"] = "Choose why this day does not count."
    if not errors:
        try:
            add_exempt(session, patient.id, parsed, reason, note.strip() or None)
        except StridewiseError as err:
            errors["day"] = f"{str(err)[0].upper()}{str(err)[1:]}."
    if errors:
        session.rollback()
        return _page(request, session, patient, 422,
                     exempt_form={"values": values, "errors": errors})  # fmt: skip
    session.commit()
    return _back(patient_id, "exempt", "#exempt")


@router.post("/{patient_id}/programme")
async def programme(
    request: Request, patient_id: str, session: SessionDep, therapist: CurrentTherapist
) -> Response:
    patient = owned_patient(session, therapist, patient_id)
    form = await request.form()
    typed = {k: str(form.get(k, "")) for k in ("start_date", "level", *SETTINGS)}
    view = patient_view(session, patient, utcnow())
    week = view.current_week
    result = adjust_programme(
        session, patient, typed,
        week["week_start"].date() if week else None, week["level"] if week else None,
    )  # fmt: skip
    if result.errors:
        session.rollback()
        return _page(request, session, patient, 422,
                     programme={"values": result.values, "errors": result.errors})  # fmt: skip
    session.commit()
    return _back(patient_id, "programme", "#programme")


@router.post("/{patient_id}/invite")
def invite(
    request: Request,
    patient_id: str,
    session: SessionDep,
    settings: SettingsDep,
    therapist: CurrentTherapist,
) -> Response:
    patient = owned_patient(session, therapist, patient_id)
    new = create_invitation(session, patient.id, settings.invitation_days, created_by=therapist.id)
    session.commit()
    link = invitation_url(settings.public_url, new.token)
    return _page(request, session, patient, invitation={"url": link, "expires": new.expires_at})
