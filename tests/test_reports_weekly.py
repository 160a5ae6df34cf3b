"""The weekly report against a scripted week whose figures are worked out here from
the script itself, and the PDF and CSV read back."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from delivery_support import seed_people, write_day
from pypdf import PdfReader

from ingest.db import transaction
from ingest.models import PainReport
from reports.render import weekly_csv, weekly_html, weekly_pdf
from reports.weekly import build_weekly
from rules.enrolment import start_programme

MONDAY = date(2026, 11, 16)  # ISO week 2026-W47
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
ZONE = "Europe/London"
FULL, SHORT = (7, 21), (9, 12)  # 14 worn hours (valid), 3 (low wear)
# The scripted week: (walk minutes, worn hours) per day; None = nothing synced.
WEEK = [(35, FULL), (40, SHORT), None, (12, FULL), (45, FULL), (0, FULL), None]


@pytest.fixture
def scripted(factory):
    seed_people(factory, patients=2, zone=ZONE)
    with transaction(factory) as session:
        for pid in ("P0", "P1"):
            start_programme(session, pid, MONDAY - timedelta(days=21))
        session.add(PainReport(patient_id="P0", score=3, note="after gardening",
                               reported_at=datetime(2026, 11, 18, 12, tzinfo=UTC)))  # fmt: skip
    totals = {}
    # Three weeks before: a walk of 20 minutes a day, all worn, one day in four missing.
    for back in range(1, 22):
        day = MONDAY - timedelta(days=back)
        if back % 4:
            totals[day] = write_day(factory, "P0", ZONE, day, 20, FULL)
    for offset, spec in enumerate(WEEK):
        if spec:
            totals[MONDAY + timedelta(days=offset)] = write_day(
                factory, "P0", ZONE, MONDAY + timedelta(days=offset), *spec
            )
    write_day(factory, "P1", ZONE, MONDAY - timedelta(days=20), 30, FULL)
    with factory() as session:
        report = build_weekly(session, "T1", MONDAY, NOW)
    return report, totals


def test_figures_match_the_script(scripted):
    report, totals = scripted
    p0 = next(p for p in report.patients if p.id == "P0")
    week_days = [MONDAY + timedelta(days=i) for i in range(7)]
    assert [d.date for d in p0.days] == week_days
    assert [d.steps for d in p0.days] == [totals.get(day) for day in week_days]
    assert [d.status for d in p0.days] == [
        "valid", "low_wear", "missing", "valid", "valid", "valid", "missing"
    ]  # fmt: skip
    walks = [spec[0] if spec else 0 for spec in WEEK]
    # Walking minutes are bouts of 10 minutes or more.
    assert [d.walking_minutes for d in p0.days] == [w if w >= 10 else 0 for w in walks]
    assert p0.walking_minutes == sum(w for w in walks if w >= 10)
    planned = p0.minutes_per_walk
    assert planned > 0 and p0.walks_planned > 0
    assert p0.walks_done == sum(1 for w in walks if w >= planned)
    assert (p0.valid_days, p0.low_wear_days, p0.missing_days) == (4, 1, 2)
    window = {MONDAY + timedelta(days=6 - back) for back in range(30)}
    assert p0.days_with_data_30 == len(window & set(totals))
    assert p0.last_data_day == MONDAY + timedelta(days=5)
    assert p0.pain == [(date(2026, 11, 18), 3, "after gardening")]

    p1 = next(p for p in report.patients if p.id == "P1")
    assert p1.missing_days == 7 and p1.days_with_data_30 == 1
    # Sorted by need: the patient with no data this week comes first.
    assert report.patients[0].id == "P1"
    assert "7 days without data" in p1.reasons
    assert report.completeness == pytest.approx(4 / 14)


def test_csv_has_one_row_per_patient_day(scripted):
    report, totals = scripted
    rows = list(csv.DictReader(io.StringIO(weekly_csv(report))))
    assert len(rows) == 14
    p0 = [r for r in rows if r["patient_id"] == "P0"]
    assert [r["steps"] for r in p0] == [
        str(totals[d]) if d in totals else "" for d in (MONDAY + timedelta(i) for i in range(7))
    ]
    assert [r["status"] for r in p0][2] == "missing"


def test_pdf_holds_names_and_figures(scripted):
    report, totals = scripted
    html, _ = weekly_html(report)
    reader = PdfReader(io.BytesIO(weekly_pdf(report, html)))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "Sam P0" in text and "Sam P1" in text and "Ana Silva" in text
    p0 = next(p for p in report.patients if p.id == "P0")
    assert f"{p0.walks_done} of {p0.walks_planned} planned" in text
    assert f"{totals[MONDAY]:,}" in text
    assert "no data" in text
    assert len(reader.pages) <= 3


def test_email_html_references_inline_pngs(scripted):
    report, _ = scripted
    html, images = weekly_html(report, for_email=True)
    assert set(images) == {"chart-P0", "chart-P1"}
    assert all(png.startswith(b"\x89PNG") for png in images.values())
    assert 'src="cid:chart-P0"' in html and "data:image/svg" not in html
