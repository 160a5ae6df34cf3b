"""``stridewise report weekly``: a therapist's weekly report into files."""

from __future__ import annotations

from pathlib import Path

import typer

from core.clock import utcnow
from core.errors import StridewiseError
from reports.render import weekly_csv, weekly_html, weekly_pdf
from reports.weekly import build_weekly
from reports.weeks import parse_week
from stridewise.cli.common import app_for, console, open_db

report_app = app_for("Reports for therapists.")
FORMATS = ("html", "pdf", "csv")


def write_weekly(factory, therapist: str, week: str, out: Path, formats: list[str]) -> list[Path]:
    """Write the report files; returns their paths (used by the demo too)."""
    monday = parse_week(week)
    with factory() as session:
        report = build_weekly(session, therapist, monday, utcnow())
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"walking-report-{therapist}-{report.week}"
    html = weekly_html(report)[0] if {"html", "pdf"} & set(formats) else ""
    written = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        if fmt == "html":
            path.write_text(html, encoding="utf-8")
        elif fmt == "pdf":
            path.write_bytes(weekly_pdf(report, html))
        else:
            path.write_text(weekly_csv(report), encoding="utf-8")
        written.append(path)
    return written


@report_app.command("weekly")
def report_weekly(
    therapist: str = typer.Option(..., "--therapist", help="The therapist's id."),
    week: str = typer.Option(..., "--week", help="ISO week, e.g. 2026-W47."),
    out: Path = typer.Option(Path("."), "--out", help="Folder to write into."),
    fmt: str = typer.Option("html,pdf,csv", "--format", help="Comma-separated: html, pdf, csv."),
) -> None:
    """Write a therapist's weekly adherence report as HTML, PDF and/or CSV.

    Example: stridewise report weekly --therapist T1 --week 2026-W47 --out out/ --format html,pdf
    """
    formats = [f.strip() for f in fmt.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise StridewiseError(f"--format: use html, pdf and/or csv (not {', '.join(unknown)})")
    for path in write_weekly(open_db(), therapist, week, out, formats):
        console.print(f"wrote {path}")
