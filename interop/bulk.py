"""A whole clinic as FHIR Bulk Data NDJSON: one file per resource type, one resource
per line, as a Bulk Data ``$export`` delivers it.

Patients stream through: resources are validated, written and dropped as each
slice is built, so memory stays flat however many patients the clinic has.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from interop.fhir import bulk_ref, patient_resources
from interop.slices import PatientSlice
from interop.validate import checked

RESOURCE_TYPES = ("Patient", "Device", "Goal", "CarePlan", "Observation")


@dataclass
class BulkReport:
    patients: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESOURCE_TYPES, 0))
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def resources(self) -> int:
        return sum(self.counts.values())


def write_ndjson(
    slices: Iterable[PatientSlice],
    directory: Path,
    first: date | None = None,
    last: date | None = None,
) -> BulkReport:
    """Write ``<Type>.ndjson`` files into ``directory`` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    report = BulkReport()
    with ExitStack() as stack:
        handles = {}
        for kind in RESOURCE_TYPES:
            path = directory / f"{kind}.ndjson"
            handles[kind] = stack.enter_context(path.open("w", encoding="utf-8"))
            report.files[kind] = path
        for s in slices:
            report.patients += 1
            for resource in patient_resources(s, first, last, bulk_ref):
                kind = resource["resourceType"]
                handles[kind].write(json.dumps(checked(resource), separators=(",", ":")) + "\n")
                report.counts[kind] += 1
    return report
