"""The patient's last weeks of steps as an SVG bar chart, drawn on the server (no
script); the same figures are in a table beside it for screen readers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from core.clock import patient_zone

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 220, 62, 28, 12


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    provisional: bool


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[float, str]]  # (y, label)
    weeks: list[tuple[float, str]]  # (x, label) at each week's first day
    baseline: float
    left: int = LEFT


def _nice_top(peak: int) -> int:
    for top in (2000, 5000, 10000, 15000, 20000, 30000, 50000):
        if peak <= top:
            return top
    return (peak // 10000 + 1) * 10000


def step_chart(days: list[tuple[date, int | None, bool]]) -> Chart:
    """``days``: (date, steps or None, provisional), oldest first."""
    top = _nice_top(max([s for _, s, _ in days if s] + [1]))
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(days), 1)
    baseline = TOP + plot_h
    bars, weeks = [], []
    for i, (day, steps, provisional) in enumerate(days):
        x = LEFT + i * slot
        if i % 7 == 0:
            weeks.append((x, f"{day:%d %b}"))
        if steps:
            height = plot_h * steps / top
            label = f"{day:%a %d %b}: {steps:,} steps" + (" (still syncing)" if provisional else "")
            bars.append(Bar(x + 1, baseline - height, max(slot - 2, 1), height, label, provisional))
    ticks = [(baseline - plot_h * f, f"{top * f / 1000:g}k" if f else "0") for f in (0, 0.5, 1)]
    return Chart(WIDTH, HEIGHT, bars, ticks, weeks, baseline)


def patient_time(moment: datetime, zone: str | None) -> str:
    """An instant on the patient's own clock, as a person writes it."""
    return moment.astimezone(patient_zone(zone)).strftime("%a %-d %b, %H:%M")
