"""The one place an alert becomes words, rendered when a message is sent.

Today alerts carry their sentence (``Alert.message``); once the rules store facts
(issue 10) this calls ``rules.messages.render(alert, as_of)`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ingest.programme_models import Alert

TITLES = {
    "flare": "Pain flare reported",
    "disconnected": "Wearable disconnected",
    "no_sync": "No data synced",
    "overdoing": "A big jump in walking",
    "boom_bust": "Boom and bust pattern",
    "under_target": "Below this week's plan",
    "inactive_streak": "Several quiet days",
    "low_completeness": "Few days with data",
    "maintenance": "Maintenance check",
    "implausible_data": "Implausible data",
}


@dataclass(frozen=True)
class Words:
    subject: str
    text: str


def alert_words(alert: Alert, as_of: datetime) -> Words:
    """Subject line and sentence of one alert as of ``as_of``."""
    del as_of  # the stored sentence does not depend on it yet
    return Words(TITLES.get(alert.rule, alert.rule.replace("_", " ").capitalize()), alert.message)
