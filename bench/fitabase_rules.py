"""The rules on the 11 shared Fitabase people, as the daily job would run them.

    python bench/fitabase_rules.py [--data ../shared/data/fitabase-2016]

Imports the month of minute steps into a fresh SQLite database, starts every programme
on 2016-04-13 and evaluates day by day to 2016-05-12 (the daily run: stored day
summaries, only changed days read), then prints the alerts by rule and audience, the
people-weeks over the patient budget and each evaluation's time. The baseline, in the
same run: the last day evaluated again with no stored summaries (every minute of the
history read and recomputed), against the last daily run.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

# This folder holds a ``rules.py``; keep it off the path so ``rules`` is the package.
sys.path[:] = [p for p in sys.path if Path(p).resolve() != Path(__file__).resolve().parent]

from sqlalchemy import delete, select  # noqa: E402

from ingest.db import make_engine, session_factory, transaction, upgrade  # noqa: E402
from ingest.patients import add_patient, add_therapist  # noqa: E402
from ingest.programme_models import Alert, DaySummary, SummaryBasis  # noqa: E402
from rules.enrolment import start_programme  # noqa: E402
from rules.evaluate import evaluate  # noqa: E402
from stridewise.imports.csv_import import import_csv  # noqa: E402

START, LAST = date(2016, 4, 13), date(2016, 5, 12)
OUTSIDE_BUDGET = {"flare", "disconnected"}
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fitabase-2016"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/fitabase.db")
        upgrade(engine)
        factory = session_factory(engine)
        with gzip.open(args.data / "minute-steps.csv.gz", "rt", newline="") as handle:
            people = sorted({line.split(",", 1)[0] for line in list(handle)[1:]})
        with transaction(factory) as session:
            add_therapist(session, "t1", "Ana", "ana@clinic.example")
            session.flush()
            for pid in people:
                add_patient(session, pid, pid, "America/New_York", "t1")
            session.flush()
            for pid in people:
                start_programme(session, pid, START)
        t = time.perf_counter()
        with gzip.open(args.data / "minute-steps.csv.gz", "rt", newline="") as handle:
            report = import_csv(factory, handle)
        print(
            f"fitabase rules: {len(people)} people, {report.accepted:,} minutes "
            f"imported in {time.perf_counter() - t:.1f} s"
        )
        timings = []
        day = START
        while day <= LAST:
            t = time.perf_counter()
            evaluate(factory, today=day)
            timings.append(time.perf_counter() - t)
            day += timedelta(days=1)
        with transaction(factory) as session:  # the baseline: nothing stored
            session.execute(delete(DaySummary))
            session.execute(delete(SummaryBasis))
        t = time.perf_counter()
        evaluate(factory, today=LAST)
        full = time.perf_counter() - t
        with factory() as session:
            alerts = list(session.scalars(select(Alert).where(Alert.status != "withdrawn")))
        engine.dispose()

    table = Counter((a.rule, a.audience + (" (muted)" if a.muted else "")) for a in alerts)
    print(f"  alerts (not withdrawn): {len(alerts)} on {len({a.patient_id for a in alerts})} "
          "people")  # fmt: skip
    for (rule, audience), n in sorted(table.items()):
        print(f"    {rule:<20} {audience:<18} {n}")
    # Muted findings reach only the therapist; the budget is the patient's.
    weeks = Counter(
        (a.patient_id, a.raised_on.isocalendar()[:2])
        for a in alerts
        if a.audience == "patient" and a.rule not in OUTSIDE_BUDGET and not a.muted
    )
    over = sum(1 for n in weeks.values() if n > 2)
    print(f"  people-weeks over the patient budget (> 2 findings): {over} of {len(weeks)}")
    print(
        f"  daily evaluate: first day {timings[0]:.2f} s, median {statistics.median(timings):.2f}"
        f" s, last day {timings[-1]:.2f} s; the last day with nothing stored (every minute "
        f"read): {full:.2f} s -> {full / timings[-1]:.1f}x"
    )


if __name__ == "__main__":
    main()
