"""The rules' contract with people: per (rule, audience) a severity and the words.

Alerts store facts (numbers, ISO dates); ``render`` writes the message when it is
shown or sent, in the tense true then: a ``now`` template only while the alert is
open or acknowledged and ``as_of`` is on or before the fact ``until`` (the last
day the condition can still be running: "so far today" on the day itself), the
plain template otherwise. A rule is one function in ``rules.findings`` and one
row per audience here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

PATIENT, THERAPIST = "patient", "therapist"
INFO, WARNING, URGENT = "info", "warning", "urgent"
ACTIVE = ("open", "acknowledged")


@dataclass(frozen=True, slots=True)
class Wording:
    severity: str
    subject: str
    text: str
    # While the condition is still running (see the module docstring).
    now: str | None = None


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    subject: str
    text: str


class AlertLike(Protocol):
    rule: str
    audience: str
    status: str
    facts: dict


CATALOGUE: dict[tuple[str, str], Wording] = {
    ("overdoing", PATIENT): Wording(
        WARNING,
        "Pace it",
        "Great energy! You did {steps:,} steps on {last_day}, more than your body is used to "
        "({days} such day(s) in the week of {week_start}). Pace it: save some for the next day.",
        now="Great energy! You've done {steps:,} steps so far today, more than your body is "
        "used to. Pace it: save some for tomorrow.",
    ),
    ("boom_bust", PATIENT): Wording(
        WARNING,
        "Steady does it",
        "A big day, then a couple of quiet ones: that's the boom-bust swing. Steady, smaller "
        "walks every day will get you further.",
    ),
    ("boom_bust", THERAPIST): Wording(
        INFO,
        "Activity swing",
        "Activity swing: {steps:,} steps on {day} (ceiling {ceiling:,}, recent median "
        "{median:,}), then {after} steps.",
    ),
    ("under_target", THERAPIST): Wording(
        INFO,
        "Under target",
        "Under target for {weeks_running} weeks running: {walks} of {walks_planned} planned "
        "walks in the week of {week_start}. Adjust the plan?",
    ),
    ("under_target", PATIENT): Wording(
        INFO,
        "Your walks this week",
        "In the week of {week_start} you did {walks} of your {walks_planned} walks by day "
        "{nudge_day}. A short walk counts, every day.",
        now="You've done {walks} of your {walks_planned} walks so far this week. There's "
        "still time: a short walk today counts!",
    ),
    ("inactive_streak", PATIENT): Wording(
        INFO,
        "A short walk?",
        "You had {days} quiet days in a row, from {start} to {end}. Every walk counts.",
        now="It's been a few days without a longer walk. How about a short, easy one today? "
        "Every walk counts.",
    ),
    ("inactive_streak", THERAPIST): Wording(
        INFO,
        "Inactive streak",
        "{days} valid days in a row with no walking bout and under {steps_limit:,} steps "
        "({start} to {end}).",
    ),
    ("low_completeness", THERAPIST): Wording(
        INFO,
        "Monitoring incomplete",
        "Monitoring incomplete: {days} of the last {window} days have data (as of {day}).",
    ),
    ("flare", THERAPIST): Wording(URGENT, "Pain flare", "Pain flare on {day}: {why}. Level held."),
    ("flare", PATIENT): Wording(
        INFO,
        "Hold, don't stop",
        "Sorry your back is sore. Keep walking, but hold at this week's level: shorter, "
        "gentler walks are fine. Hold, don't stop.",
    ),
    ("maintenance", PATIENT): Wording(
        INFO,
        "Keep it up",
        "You reached your walking goal: well done! Walking has slipped a little lately; "
        "keeping it up is what keeps your back protected.",
    ),
    ("maintenance", THERAPIST): Wording(
        INFO,
        "Maintenance",
        "Maintenance: {mean:.0f} walking min/week over the last {weeks} weeks ({minutes}), "
        "goal {goal}.",
    ),
    ("implausible_data", THERAPIST): Wording(
        INFO,
        "Implausible data",
        "Implausible data on {day}: {steps:,} steps, {minutes} min above the per-minute "
        "limit (source {source}). Check the device or duplicates.",
    ),
    ("no_sync", PATIENT): Wording(
        INFO,
        "Please sync",
        "Your watch did not sync from {last_data} for a while; it has synced again since.",
        now="We haven't received new steps since {last_data}. Please open your watch's app "
        "so it can sync.",
    ),
    ("no_sync", THERAPIST): Wording(
        URGENT,
        "No sync",
        "No new data after {last_data} for {gap_days:.1f} days; syncing has resumed.",
        now="No new data for {gap_days:.1f} days (last data {last_data}); minute data is at "
        "risk after about 7 days.",
    ),
    ("disconnected", PATIENT): Wording(
        URGENT,
        "Reconnect your watch",
        "Your watch was disconnected on {since} and is connected again.",
        now="Your watch has been disconnected from stridewise. Please reconnect it so we can "
        "keep cheering you on.",
    ),
    ("disconnected", THERAPIST): Wording(
        URGENT,
        "Disconnected",
        "Provider access was revoked on {since}; the patient has relinked since.",
        now="Provider access revoked on {since}; the patient must relink.",
    ),
}

# How a flare's kind reads (``rules.pain``).
_FLARE_WHY = {
    "high": "pain {score}/10",
    "rise": "pain {score}/10, usually {usual}",
    "morning": "worse next morning: {previous} -> {score}",
}


def wording(rule: str, audience: str) -> Wording:
    return CATALOGUE[(rule, audience)]


def severity(rule: str, audience: str) -> str:
    return CATALOGUE[(rule, audience)].severity


def _running(alert: AlertLike, as_of: date) -> bool:
    until = alert.facts.get("until")
    return alert.status in ACTIVE and (until is None or as_of <= date.fromisoformat(until))


def _view(facts: dict) -> dict:
    """Facts as the templates use them: lists joined with thousands separators."""
    view = {
        k: ", ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in value)
        if isinstance(value, list)
        else value
        for k, value in facts.items()
    }
    if "kind" in facts and "score" in facts:
        view["why"] = _FLARE_WHY[facts["kind"]].format(**facts)
    return view


def render(alert: AlertLike, as_of: date) -> RenderedMessage:
    """The alert's subject and text as true on local date ``as_of``."""
    entry = CATALOGUE[(alert.rule, alert.audience)]
    template = entry.now if entry.now and _running(alert, as_of) else entry.text
    return RenderedMessage(entry.subject, template.format(**_view(alert.facts)))
