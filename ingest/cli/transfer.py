"""``stridewise import`` and ``stridewise export``."""

from __future__ import annotations

from ingest.cli.common import app_for

import_app = app_for("Bring step data in from files.")
export_app = app_for("Take step data out.")
