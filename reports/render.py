"""Reports into files and message parts: HTML (Jinja2), PDF (WeasyPrint from the same
HTML), CSV (one row per patient-day), plain text, and the patient's weekly summary."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape

from reports.charts import week_chart
from reports.weekly import PatientWeek, WeeklyReport

STATUS_WORDS = {
    "valid": "full day",
    "low_wear": "low wear",
    "missing": "no data",
    "provisional": "still syncing",
    "not_monitored": "not monitored yet",
}
CSV_COLUMNS = [
    "therapist_id", "patient_id", "patient_name", "date", "status", "steps", "target_steps",
    "walking_minutes", "longest_walk_minutes", "walk_done", "source",
]  # fmt: skip


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def chart_cid(patient_id: str) -> str:
    return f"chart-{patient_id}"


def _svg_uri(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def weekly_html(report: WeeklyReport, *, for_email: bool = False) -> tuple[str, dict[str, bytes]]:
    """The report's HTML; for email the charts are PNG parts referenced by ``cid:``
    (returned as cid -> bytes), otherwise SVG embedded in the page."""
    images: dict[str, bytes] = {}

    def chart_src(p: PatientWeek) -> str:
        if for_email:
            images[chart_cid(p.id)] = week_chart(p.days, p.minutes_per_walk, "png")
            return f"cid:{chart_cid(p.id)}"
        return _svg_uri(week_chart(p.days, p.minutes_per_walk, "svg"))

    html = (
        environment()
        .get_template("weekly.html")
        .render(r=report, chart_src=chart_src, status_words=STATUS_WORDS)
    )
    return html, images


def weekly_text(report: WeeklyReport) -> str:
    return environment().get_template("weekly.txt").render(r=report)


def weekly_pdf(report: WeeklyReport, html: str | None = None) -> bytes:
    from weasyprint import HTML  # slow to import; only PDF writers need it

    return HTML(string=html or weekly_html(report)[0]).write_pdf()


def weekly_csv(report: WeeklyReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in report.patients:
        for d in p.days:
            writer.writerow(
                [
                    report.therapist_id,
                    p.id,
                    p.name,
                    d.date.isoformat(),
                    d.status,
                    "" if d.steps is None else d.steps,
                    d.target_steps or "",
                    d.walking_minutes,
                    d.longest_walk,
                    int(d.walk_done),
                    d.source,
                ]
            )
    return out.getvalue()


@dataclass(frozen=True)
class PatientSummary:
    subject: str
    text: str
    html: str
    chart_png: bytes


PACING = (
    "Pacing tip: keep to the plan on good days too. Steady walking, a little more each "
    "week, is what settles a sore back, not big days."
)


def patient_summary(
    p: PatientWeek,
    today_lines: list[str],
    chart_src: str,
    links: Sequence[tuple[str, str]] = (),
) -> PatientSummary:
    """The patient's weekly note: warm, short, never shaming; ``chart_src`` is where the
    HTML finds the chart (``cid:...`` in email); ``links``: (label, url) at its end."""
    first_name = p.name.split()[0] if p.name else "there"
    if p.walks_planned and p.walks_done >= p.walks_planned:
        headline = (
            f"You did all {p.walks_planned} planned walks this week, {p.walking_minutes} "
            "minutes of walking in all. Well done."
        )
    elif p.walks_done:
        headline = (
            f"You walked {p.walks_done} of your planned walks this week, "
            f"{p.walking_minutes} minutes in all. Every walk counts."
        )
    elif p.walking_minutes:
        headline = f"You fitted in {p.walking_minutes} minutes of walking this week."
    else:
        headline = (
            "This week was a quieter one, and that is fine: weeks vary. A short, easy walk "
            "is a good way to pick things up again."
        )
    if p.next_walks:
        plan_line = f"{p.next_walks} walks of about {p.next_minutes} minutes, at an easy pace."
    else:
        plan_line = "keep walking as you normally do; your plan starts after this first week."
    context = {
        "p": p,
        "first_name": first_name,
        "headline": headline,
        "plan_line": plan_line,
        "pacing": PACING,
        "today_lines": today_lines,
        "chart_src": chart_src,
        "links": links,
    }
    env = environment()
    return PatientSummary(
        subject="Your week of walking",
        text=env.get_template("patient_summary.txt").render(**context),
        html=env.get_template("patient_summary.html").render(**context),
        chart_png=week_chart(p.days, p.minutes_per_walk, "png", small=True),
    )


def patient_week(report: WeeklyReport, patient_id: str) -> PatientWeek | None:
    return next((p for p in report.patients if p.id == patient_id), None)
