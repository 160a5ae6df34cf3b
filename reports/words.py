"""The one place an alert becomes words, rendered when a report is built or a message
is sent: alerts store facts, ``rules.messages.render`` words them as true on the
recipient's local date (issue 10's interface)."""

from __future__ import annotations

from datetime import date, datetime

from core.clock import patient_zone
from ingest.programme_models import Alert
from rules.messages import RenderedMessage, render


def alert_words(alert: Alert, as_of: date) -> RenderedMessage:
    """Subject line and sentence of one alert as of local date ``as_of``."""
    return render(alert, as_of)


def local_date(now: datetime, zone: str | None) -> date:
    return now.astimezone(patient_zone(zone)).date()
