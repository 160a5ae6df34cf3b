"""One chart per patient-week: daily steps against the plan's target, and walking
minutes against the planned walk length. A day without data is drawn as a hatched
grey "no data" box, never as a bar of zero; a day still syncing is outlined.

PNG for email (inline ``cid:`` images), SVG for HTML and PDF.
"""

from __future__ import annotations

import io
from functools import cache

from reports.weekly import Day

STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "svg.fonttype": "none",
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@cache
def _matplotlib():
    """matplotlib, imported on first use (a second at start-up every command would pay)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update(STYLE)
    return matplotlib


# Colour-blind safe (Okabe-Ito); low wear and missing also differ by pattern.
VALID, LOW, TARGET = "#0072B2", "#56B4E9", "#D55E00"


def _bars(ax, days: list[Day], values: list[int], top: float) -> None:
    """One ``bar`` call per kind of day (a call per day costs a figure's worth of time)."""
    kinds: dict[str, tuple[list[int], list[int]]] = {}
    for x, (day, value) in enumerate(zip(days, values, strict=True)):
        if day.status == "not_monitored" or day.steps is None:
            missing = day.status != "not_monitored"
            if missing:
                # A pale hatched band with words, never a bar: no data is not zero steps.
                kinds.setdefault("missing", ([], []))[0].append(x)
            ax.text(x, top * 0.04, "no\ndata" if missing else "not\nyet", ha="center",
                    va="bottom", fontsize=7, color="#555555")  # fmt: skip
            continue
        xs, heights = kinds.setdefault(day.status, ([], []))
        xs.append(x)
        heights.append(value)
    styles = {
        "valid": {"color": VALID},
        "low_wear": {"color": LOW, "edgecolor": VALID, "hatch": "..", "linewidth": 0.6},
        "provisional": {"color": "white", "edgecolor": VALID, "linewidth": 1.2, "linestyle": "--"},
    }
    for kind, (xs, heights) in kinds.items():
        if kind == "missing":
            ax.bar(xs, [top] * len(xs), width=0.9, facecolor="#f1f1f1", edgecolor="#c4c4c4",
                   hatch="///", linewidth=0)  # fmt: skip
        else:
            ax.bar(xs, heights, **styles[kind])


def _target(ax, targets: list[int | None], label: str) -> None:
    xs = [x for x, t in enumerate(targets) if t]
    if xs:
        ys = [targets[x] for x in xs]
        ax.hlines(ys, [x - 0.45 for x in xs], [x + 0.45 for x in xs], colors=TARGET,
                  linewidth=2.2, label=label)  # fmt: skip


def week_chart(days: list[Day], minutes_per_walk: int, fmt: str, small: bool = False) -> bytes:
    """The chart as ``fmt`` ("png" or "svg") bytes; ``small`` is the patient's version
    (steps only)."""
    _matplotlib()
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    labels = [f"{d.date:%a}\n{d.date.day}" for d in days]
    steps = [d.steps or 0 for d in days]
    targets = [d.target_steps for d in days]
    rows = 1 if small else 2
    # A bare Figure, not pyplot: no global state, safe in the worker's threads.
    fig = Figure(figsize=(5.2, 2.3 if small else 3.9))
    axes = fig.subplots(
        rows, 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": [3, 2][:rows]}
    )
    top = max([*steps, *(t or 0 for t in targets), 1000]) * 1.12
    ax = axes[0][0]
    _bars(ax, days, steps, top)
    _target(ax, targets, "daily step target")
    ax.set_ylim(0, top)
    ax.set_ylabel("steps")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    if not small:
        mins = [d.walking_minutes for d in days]
        mtop = max([*mins, minutes_per_walk, 10]) * 1.25
        mx = axes[1][0]
        _bars(mx, days, mins, mtop)
        if minutes_per_walk:
            mx.axhline(minutes_per_walk, color=TARGET, linewidth=1.6, linestyle=(0, (4, 2)))
        mx.set_ylim(0, mtop)
        mx.set_ylabel("walking min")
    axes[-1][0].set_xticks(range(len(days)), labels)
    handles = [
        Patch(color=VALID, label="full day of wear"),
        Patch(facecolor=LOW, edgecolor=VALID, hatch="..", label="low wear"),
        Patch(facecolor="#f1f1f1", edgecolor="#c4c4c4", hatch="///", label="no data"),
        Patch(facecolor="white", edgecolor=VALID, linestyle="--", label="still syncing"),
        Line2D([], [], color=TARGET, linewidth=2.2, label="target"),
    ]
    fig.legend(
        handles=handles, loc="lower center", ncol=5, frameon=False, fontsize=7.5,
        bbox_to_anchor=(0.5, 0.0),
    )  # fmt: skip
    # Fixed margins: tight_layout measured every label and cost most of the chart's time.
    fig.subplots_adjust(left=0.15, right=0.98, top=0.97, bottom=0.3 if small else 0.19,
                        hspace=0.12)  # fmt: skip
    out = io.BytesIO()
    fig.savefig(out, format=fmt, dpi=150 if fmt == "png" else None, metadata=_metadata(fmt))
    return out.getvalue()


def _metadata(fmt: str) -> dict:
    # Reproducible files: no creation date in the output.
    return {"Date": None} if fmt == "svg" else {"Software": None}
