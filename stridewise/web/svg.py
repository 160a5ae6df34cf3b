"""Server-rendered inline SVG charts (no script, no library): the dashboard's
sparklines and the patient page's daily chart.

A day with no data is never drawn as zero: valid days are solid bars, low-wear
days hatched bars (the figure undercounts), provisional days outlined bars,
missing days a grey "no data" mark below the axis, exempt days a dotted one; a
real zero is a thin solid line on the axis. Colour is never the only signal:
each kind has its own shape, and every chart has a text alternative."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

INK, BRAND, MUTED, LINE, WARN = "#1a1f24", "#0b5cad", "#5f6b76", "#c9d1d9", "#7a4f00"
DEFS = (
    '<defs><pattern id="{id}" width="4" height="4" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="4" height="4" fill="#ffffff"/>'
    f'<line x1="0" y1="0" x2="0" y2="4" stroke="{WARN}" stroke-width="2"/></pattern></defs>'
)
KIND_WORDS = {
    "valid": "", "low_wear": " (low wear)", "provisional": " (still syncing)",
    "missing": "no data", "none": "no data", "exempt": "exempt",
}  # fmt: skip


@dataclass(frozen=True)
class Day:
    date: str  # ISO
    value: int | None
    kind: str  # valid / low_wear / provisional / missing / none / exempt
    target: float | None = None
    unit: str = "steps"


def _bar(x: float, w: float, top: float, base: float, day: Day, hatch: str, tip=True) -> str:
    """One day's mark; ``tip``: a ``<title>`` tooltip with the day's words."""
    label = f"<title>{escape(_words(day))}</title>" if tip else ""
    if day.kind in ("missing", "none"):
        return (f'<rect x="{x:.1f}" y="{base + 2:.1f}" width="{w:.1f}" height="3" '
                f'fill="{MUTED}">{label}</rect>')  # fmt: skip
    if day.kind == "exempt" or day.value is None:
        return (f'<circle cx="{x + w / 2:.1f}" cy="{base + 3.5:.1f}" r="1.6" fill="{INK}">'
                f"{label}</circle>")  # fmt: skip
    height = max(base - top, 1.2)
    fill = {"low_wear": f"url(#{hatch})", "provisional": "#ffffff"}.get(day.kind, BRAND)
    stroke = {"low_wear": WARN, "provisional": BRAND}.get(day.kind, "none")
    return (
        f'<rect x="{x:.1f}" y="{base - height:.1f}" width="{w:.1f}" height="{height:.1f}" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="1">{label}</rect>'
    )


def _words(day: Day) -> str:
    if day.kind in ("missing", "none", "exempt"):
        return f"{day.date}: {KIND_WORDS[day.kind]}"
    return f"{day.date}: {day.value:,} {day.unit}{KIND_WORDS.get(day.kind, '')}"


def summary_words(days: Sequence[Day]) -> str:
    counted = [d.value for d in days if d.value is not None and d.kind not in ("missing", "none")]
    gaps = sum(d.kind in ("missing", "none") for d in days)
    low = sum(d.kind == "low_wear" for d in days)
    if not counted:
        return f"No data in the last {len(days)} days."
    unit = days[0].unit
    return (f"Daily {unit} over {len(days)} days: median {sorted(counted)[len(counted) // 2]:,}, "
            f"highest {max(counted):,}; {gaps} day(s) without data, {low} low-wear.")  # fmt: skip


def sparkline(days: Sequence[Day], uid: str, width: int = 140, height: int = 34) -> Markup:
    """A small bar chart of daily values; ``uid`` keeps pattern ids unique on a page."""
    if not days:
        return Markup('<span class="muted">no figures yet</span>')
    hatch = f"hatch-{uid}"
    base = height - 7
    peak = max([d.value or 0 for d in days] + [1])
    step = width / len(days)
    bars = [
        _bar(i * step + 0.5, max(step - 1.2, 1), base - (d.value or 0) / peak * (base - 2), base,
             d, hatch, tip=False)
        for i, d in enumerate(days)
    ]  # fmt: skip
    label = escape(summary_words(days))
    return Markup(
        f'<svg class="sparkline" role="img" aria-label="{label}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f"{DEFS.format(id=hatch) if any(d.kind == 'low_wear' for d in days) else ''}"
        f'<line x1="0" y1="{base + 0.5}" x2="{width}" y2="{base + 0.5}" stroke="{LINE}"/>'
        f"{''.join(bars)}</svg>"
    )


def day_chart(
    days: Sequence[Day], uid: str, width: int = 720, height: int = 220, font: int = 11
) -> Markup:
    """Daily values against the target (a dashed line where one applies), one bar a day,
    with a y axis and the first day of each week labelled (``font`` in chart units)."""
    if not days:
        return Markup('<p class="muted">No days to show yet.</p>')
    hatch = f"hatch-{uid}"
    left, right, top, bottom = 46, 8, 10, 34
    base = height - bottom
    peak = max([d.value or 0 for d in days] + [d.target or 0 for d in days] + [1]) * 1.08
    span = width - left - right
    step = span / len(days)

    def y(value: float) -> float:
        return base - value / peak * (base - top)

    parts = [DEFS.format(id=hatch)]
    for tick in _ticks(peak):
        parts.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" '
                     f'y2="{y(tick):.1f}" stroke="{LINE}" stroke-width="1"/>'
                     f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" '
                     f'font-size="{font}" fill="{INK}">{_short(tick)}</text>')  # fmt: skip
    for i, day in enumerate(days):
        x = left + i * step + 1
        parts.append(_bar(x, max(step - 2, 1), y(day.value or 0), base, day, hatch))
        if i % 7 == 0:
            parts.append(f'<text x="{x:.1f}" y="{base + 22}" font-size="{font}" fill="{INK}">'
                         f"{day.date[5:]}</text>")  # fmt: skip
    targets = [(i, d.target) for i, d in enumerate(days) if d.target]
    if targets:
        points = " ".join(
            f"{left + i * step:.1f},{y(t):.1f} {left + (i + 1) * step:.1f},{y(t):.1f}"
            for i, t in targets
        )
        parts.append(f'<polyline points="{points}" fill="none" stroke="{INK}" '
                     f'stroke-width="2" stroke-dasharray="5 3"/>')  # fmt: skip
    label = escape(summary_words(days))
    return Markup(
        f'<svg class="chart" role="img" aria-label="{label}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )


def _ticks(peak: float) -> list[float]:
    raw = peak / 4
    magnitude = 10 ** (len(str(int(raw))) - 1) if raw >= 1 else 1
    nice = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [nice * i for i in range(0, 5) if nice * i <= peak]


def _short(value: float) -> str:
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"
