"""How long ``stridewise --help`` takes to start, against a bare ``python -c pass``
measured in the same run (the interpreter's own start-up, the floor).

    .venv/bin/python bench/cli_startup.py            # 10 runs each
    .venv/bin/python bench/cli_startup.py --runs 30 --imports 15

Run with the project's interpreter from any checkout: it measures that checkout.

``--imports N`` also lists the N slowest imports of ``stridewise --help``
(cumulative, from ``python -X importtime``).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `python -m stridewise` from this checkout (the console script runs the same code),
# so a copy of an older checkout measures that version.
HELP = [sys.executable, "-m", "stridewise", "--help"]
BARE = [sys.executable, "-c", "pass"]
TARGET_S = 0.3


def timed_runs(command: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (user + system) seconds of each run of ``command``. CPU time
    barely moves with the machine's load; wall time does (2 shared cores here)."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def show(label: str, walls: list[float], cpus: list[float]) -> None:
    print(f"{label}: wall median {statistics.median(walls):.3f} s "
          f"(min {min(walls):.3f}, max {max(walls):.3f}), "
          f"cpu median {statistics.median(cpus):.3f} s over {len(walls)} runs")  # fmt: skip


def slowest_imports(count: int) -> list[tuple[int, str]]:
    """(cumulative microseconds, module) of the slowest imports."""
    result = subprocess.run([sys.executable, "-X", "importtime", *HELP[1:]], cwd=ROOT,
                            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    rows = []
    for line in result.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    return sorted(rows, reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each command (default 10)")
    parser.add_argument("--imports", type=int, default=0, help="list the N slowest imports")
    args = parser.parse_args()
    os.environ.setdefault("COLUMNS", "100")

    timed_runs(HELP, 1)  # warm the file cache and byte-code
    help_wall, help_cpu = timed_runs(HELP, args.runs)
    bare_wall, bare_cpu = timed_runs(BARE, args.runs)
    show("stridewise --help", help_wall, help_cpu)
    show("python -c pass   ", bare_wall, bare_cpu)
    help_s, bare_s = statistics.median(help_wall), statistics.median(bare_wall)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"--help above the bare interpreter: {help_s - bare_s:.3f} s wall, "
          f"{statistics.median(help_cpu) - statistics.median(bare_cpu):.3f} s cpu")  # fmt: skip
    print(f"stridewise --help / python -c pass: {help_s / bare_s:.1f} x wall, "
          f"{statistics.median(help_cpu) / statistics.median(bare_cpu):.1f} x cpu")  # fmt: skip
    verdict = "under" if help_s < TARGET_S else "over"
    print(f"target {TARGET_S:.1f} s wall: {verdict}")
    if args.imports:
        print("\nslowest imports of stridewise --help (cumulative):")
        for micros, module in slowest_imports(args.imports):
            print(f"  {micros / 1000:8.1f} ms  {module}")


if __name__ == "__main__":
    main()
