"""A patient's steps out of stridewise: days (merged, with their source) and the
stored intervals (all sources, each marked whether it counts toward its day).

Each day carries its wear ``status`` (the spec's "Wear and valid days"): ``valid``
(``valid_wear_hours`` hours holding a step, or a daily-total-only day of
``valid_daily_total_steps``), ``low-wear``, ``missing`` (synced but never worn: its
steps are null, never a plain 0) or ``provisional`` (still being revised). Days
with nothing stored are not listed."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone

import pandas as pd
from sqlalchemy.orm import Session

from ingest import dayview
from ingest.patients import get_patient

_KEY = ["provider", "device", "start_utc", "end_utc"]


def _iso_utc(value: pd.Timestamp) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _statuses(
    merged: pd.DataFrame, days: pd.DataFrame, wear_hours: int, daily_total_steps: int
) -> list[str]:
    hours = (
        merged[merged["steps"] > 0]
        .assign(hour=lambda f: f["start_utc"].dt.floor("h"))
        .groupby("local_date")["hour"]
        .nunique()
    )
    out = []
    for d in days.itertuples():
        if pd.notna(d.provisional) and bool(d.provisional):
            out.append("provisional")
        elif not d.steps:
            out.append("missing")
        elif d.basis == "intervals":
            out.append("valid" if hours.get(d.local_date, 0) >= wear_hours else "low-wear")
        else:
            out.append("valid" if d.steps >= daily_total_steps else "low-wear")
    return out


def collect(
    session: Session,
    patient_id: str,
    first: date,
    last: date,
    source_priority: Sequence[str] = dayview.DEFAULT_SOURCE_PRIORITY,
    valid_wear_hours: int = 10,
    valid_daily_total_steps: int = 1500,
) -> dict:
    get_patient(session, patient_id)
    view = dayview.load(session, [patient_id], first, last, source_priority)
    raw, merged, days = view.raw, view.merged, view.days
    counted = set(map(tuple, merged[_KEY].itertuples(index=False)))
    intervals = [
        {
            "start": _iso_utc(r.start_utc),
            "end": _iso_utc(r.end_utc),
            "utc_offset_s": int(r.utc_offset_s),
            "local_date": r.local_date.date().isoformat(),
            "steps": int(r.steps),
            "provider": r.provider,
            "device": r.device,
            "recording_method": r.recording_method,
            "counted": (r.provider, r.device, r.start_utc, r.end_utc) in counted,
        }
        for r in raw.sort_values(["start_utc", "provider", "device"]).itertuples()
    ]
    statuses = _statuses(merged, days, valid_wear_hours, valid_daily_total_steps)
    day_rows = [
        {
            "date": d.local_date.date().isoformat(),
            "status": status,
            "steps": None if status == "missing" else int(d.steps),
            "source": d.source,
            "basis": d.basis,
            "provisional": bool(d.provisional),
            "daily_total_steps": None if pd.isna(d.daily_total_steps) else int(d.daily_total_steps),
        }
        for d, status in zip(days.itertuples(), statuses, strict=True)
    ]
    return {
        "patient": patient_id,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "days": day_rows,
        "intervals": intervals,
    }


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2)


def days_csv(data: dict) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(
        out,
        ["date", "status", "steps", "source", "basis", "provisional", "daily_total_steps"],
        lineterminator="\n",
    )
    writer.writeheader()
    writer.writerows(data["days"])
    return out.getvalue()


def intervals_csv(data: dict) -> str:
    """In the import format, so an export can be imported elsewhere unchanged."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["patient", "start", "end", "steps", "provider", "device"])
    for r in data["intervals"]:
        zone = timezone(timedelta(seconds=r["utc_offset_s"]))
        start, end = (datetime.fromisoformat(r[k]).astimezone(zone) for k in ("start", "end"))
        writer.writerow(
            [
                data["patient"],
                start.isoformat(),
                end.isoformat(),
                r["steps"],
                r["provider"],
                r["device"],
            ]
        )
    return out.getvalue()
