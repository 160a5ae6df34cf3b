"""Five demo patients, each telling one story the rules must recognise.

Steps come from the shared synthetic walker (its everyday pottering about) with
scripted walks laid over it, so each story is exactly reproducible: which days
hold a walk, how long, a hike, quiet days, days off the wrist. The programme's
own prescription (baseline of two 15-minute walks: 3 walks x 12 min, +10% and
one walk a week) decides how much the progressing patients walk.

``seed_stories`` writes them; ``evaluate_stories`` runs the rules at the demo's
clock; ``show_stories`` prints what each story raised.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.schema import StepBatch, StepInterval
from ingest.crypto import Cipher, generate_key
from ingest.db import transaction
from ingest.models import LinkedAccount, PainReport
from ingest.patients import add_patient
from ingest.programme_models import Alert, ProgrammeStart
from ingest.store import write_batch
from rules.evaluate import evaluate
from rules.messages import render
from sandbox.walker import DayShape, Walker

PROVIDER, DEVICE = "demo", "walker"
WEEK = timedelta(days=7)
WALK_HOURS = (9, 13, 17)
# Days of a 7-day week holding a walk, by walks planned: never 3 quiet days in a row.
LAYOUT = {2: (2, 5), 3: (0, 3, 5), 4: (0, 2, 4, 6), 5: (0, 1, 3, 4, 6)}


@dataclass(frozen=True, slots=True)
class Day:
    walks: tuple[int, ...] = ()  # minutes of each walk, at WALK_HOURS
    worn: bool = True
    potter_scale: float = 1.0  # below 1: a quiet day spent mostly sitting


@dataclass
class Story:
    patient_id: str
    name: str
    zone: str
    tells: str
    expected: frozenset[tuple[str, str]]  # (rule, audience) the story should raise
    days: list[Day] = field(default_factory=list)
    pain: list[tuple[int, int, int]] = field(default_factory=list)  # (day, hour, score)


def story_now(today: date) -> datetime:
    """The demo's clock: midday UTC on ``today`` (today is partial, as in real life)."""
    return datetime.combine(today, time(12), UTC)


def _plan(level: int) -> tuple[int, int]:
    """(walks, minutes) of the default programme after a 2 x 15 min baseline."""
    return min(5, 3 + level), min(30, round(12 * 1.1**level))


def _baseline() -> list[Day]:
    return [Day((15,)) if i in LAYOUT[2] else Day() for i in range(7)]


def _weeks(levels: list[int], extra: int = 1) -> list[Day]:
    days = []
    for level in levels:
        walks, minutes = _plan(level)
        days += [Day((minutes + extra,)) if i in LAYOUT[walks] else Day() for i in range(7)]
    return days


def stories() -> list[Story]:
    steady = Story(
        "demo-steady",
        "Maria Steady",
        "Europe/London",
        "follows the plan week after week: progresses, no alerts",
        frozenset(),
        _baseline() + _weeks(list(range(8))) + _weeks([8])[:3],
    )
    week4 = _weeks([4])
    week4[1] = Day((180,))  # a three-hour hike
    week4[2] = week4[3] = Day(potter_scale=0.3)  # then two days on the sofa
    week4[4] = Day((20,))
    overdoer = Story(
        "demo-overdoer",
        "Olek Boom",
        "Europe/Oslo",
        "a hike well over the ceiling, then two very quiet days",
        frozenset({("overdoing", "patient"), ("boom_bust", "patient"), ("boom_bust", "therapist")}),
        _baseline() + _weeks([0, 1, 2, 3]) + week4[:5],
    )
    stopped = Story(
        "demo-stopped",
        "Sam Drawer",
        "America/New_York",
        "takes the watch off a week ago: the app still syncs, no new steps",
        frozenset({("no_sync", "patient"), ("no_sync", "therapist")}),
        _baseline() + _weeks([0, 1, 2, 3]) + _weeks([4])[:3] + [Day(worn=False)] * 10,
    )
    flare = Story(
        "demo-flare",
        "Fatima Flare",
        "Europe/London",
        "pain 7/10 one evening: the therapist hears at once, the level is held",
        frozenset({("flare", "therapist"), ("flare", "patient")}),
        _baseline() + _weeks([0, 1, 2, 3, 4, 5, 6]) + _weeks([6])[:2],
        [(d, 9, 2 + (d // 3) % 2) for d in range(0, 7 + 7 * 6, 3)]
        + [(7 + 7 * 6 + 6, 19, 7), (7 + 7 * 6 + 7, 9, 3)],
    )
    drift = [Day((15,)) if i in LAYOUT[4] else Day() for i in range(7)]
    drifter = Story(
        "demo-drifter",
        "Dev Drift",
        "Europe/Dublin",
        "reached 30 min x 5 in week 2, then slipped to 4 short walks a week",
        frozenset({("maintenance", "patient"), ("maintenance", "therapist")}),
        [Day((35,)) if i in LAYOUT[5] else Day() for i in range(7)]
        + [Day((32,)) if i in LAYOUT[5] else Day() for i in range(7)] * 3
        + drift * 3
        + drift[:3],
    )
    return [steady, overdoer, stopped, flare, drifter]


def _minutes(walker: Walker, story: Story, day: date, spec: Day, until: datetime) -> list:
    zone = ZoneInfo(story.zone)
    if not spec.worn:
        return []
    base = walker.day(story.patient_id, day, story.zone, DayShape(walk_scale=0.0))
    steps = {m.start_utc: (m.utc_offset_s, m.steps) for m in base}
    rng = random.Random(f"{story.patient_id}:{day}")
    if spec.potter_scale != 1.0:
        steps = {t: (o, int(s * spec.potter_scale)) for t, (o, s) in steps.items()}
    for hour, length in zip(WALK_HOURS, spec.walks, strict=False):
        start = datetime.combine(day, time(hour), zone).astimezone(UTC)
        for i in range(length):
            t = start + timedelta(minutes=i)
            offset = int(t.astimezone(zone).utcoffset().total_seconds())
            steps[t] = (offset, 110 + rng.randint(-4, 4))
    return [
        StepInterval(story.patient_id, PROVIDER, DEVICE, t, t + timedelta(minutes=1), o, s)
        for t, (o, s) in sorted(steps.items())
        if s > 0 and t + timedelta(minutes=1) <= until
    ]


def seed_stories(factory: sessionmaker[Session], today: date, therapist_id: str) -> list[str]:
    """Create the five story patients with their steps, pain and linked accounts.

    Their last day is ``today`` (partial, up to ``story_now(today)``). The
    accounts use the "demo" provider and are not due for a sync for ten years.
    """
    now = story_now(today)
    walker = Walker(seed=2026)
    cipher = Cipher(generate_key())
    ids = []
    for story in stories():
        zone = ZoneInfo(story.zone)
        first = today - timedelta(days=len(story.days) - 1)
        batch = StepBatch()
        for index, spec in enumerate(story.days):
            batch.intervals += _minutes(walker, story, first + timedelta(days=index), spec, now)
        with transaction(factory) as session:
            add_patient(session, story.patient_id, story.name, story.zone, therapist_id)
            session.flush()
            linked = datetime.combine(first, time(8), zone).astimezone(UTC)
            session.add(
                LinkedAccount(
                    patient_id=story.patient_id,
                    provider=PROVIDER,
                    external_user_id=story.patient_id,
                    credentials=cipher.encrypt_json({"demo": True}),
                    status="active",
                    created_at=linked,
                    updated_at=linked,
                    last_success_at=now - timedelta(minutes=30),
                    synced_through=today,
                    # No server speaks the demo provider: never due for a sync.
                    next_sync_due=now + timedelta(days=3650),
                )
            )
            # The therapist starts the programme after the first week: that week is
            # the baseline.
            session.add(ProgrammeStart(patient_id=story.patient_id, start_date=first + WEEK))
            for day, hour, score in story.pain:
                at = datetime.combine(first + timedelta(days=day), time(hour), zone)
                session.add(PainReport(patient_id=story.patient_id, reported_at=at, score=score))
            session.flush()
            write_batch(session, batch)
        ids.append(story.patient_id)
    return ids


def evaluate_stories(factory: sessionmaker[Session], today: date) -> None:
    """Run the rules as the daily job would at the demo's clock."""
    evaluate(factory, today=today, now=story_now(today))


def story_alerts(factory: sessionmaker[Session]) -> dict[str, set[tuple[str, str]]]:
    """(rule, audience) of every open alert, per story patient."""
    with factory() as session:
        rows = session.execute(
            select(Alert.patient_id, Alert.rule, Alert.audience).where(Alert.status != "withdrawn")
        ).all()
    found: dict[str, set[tuple[str, str]]] = {s.patient_id: set() for s in stories()}
    for patient_id, rule, audience in rows:
        found.setdefault(patient_id, set()).add((rule, audience))
    return found


def show_stories(factory: sessionmaker[Session], console: Console, today: date) -> None:
    """Print each story, what it should raise and the alerts it raised."""
    with factory() as session:
        alerts = list(
            session.scalars(
                select(Alert).where(Alert.status != "withdrawn").order_by(Alert.created_at)
            )
        )
    for story in stories():
        table = Table(
            title=f"{story.name} ({story.patient_id}): {story.tells}", title_justify="left"
        )
        for column in ("rule", "period", "audience", "message"):
            table.add_column(column, overflow="fold")
        mine = [a for a in alerts if a.patient_id == story.patient_id]
        for alert in mine:
            text = render(alert, today).text
            table.add_row(alert.rule, alert.period, alert.audience, text)
        if not mine:
            table.add_row("(none)", "", "", "on track: nothing to tell anyone")
        console.print(table)
