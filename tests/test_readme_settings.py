"""The README's configuration tables list exactly the settings the code reads, with
the model's defaults, and the shipped config file agrees with both."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from pydantic_core import PydanticUndefined

from stridewise.settings import CONFIG_DIR, Settings

ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| `STRIDEWISE_([A-Z0-9_]+)` \| (.+?) \| (.+) \|$")


def readme_rows() -> dict[str, str]:
    """setting name -> the default cell, from the README's Configuration section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        if line.startswith("| `STRIDEWISE_"):
            match = ROW.match(line)
            assert match, f"malformed row: {line}"
            name = match[1].lower()
            assert name not in rows, f"{name} is listed twice"
            rows[name] = match[2]
    return rows


def documented(cell: str):
    """The value a default cell shows: `unset` is None, JSON where it parses."""
    value = cell.strip().strip("`")
    if value == "unset":
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def model_default(name: str):
    default = Settings.model_fields[name].default
    assert default is not PydanticUndefined, f"{name} has no default"
    return default


def test_every_setting_has_a_row_and_every_row_a_setting():
    rows, fields = set(readme_rows()), set(Settings.model_fields)
    assert fields - rows == set(), "settings missing from the README"
    assert rows - fields == set(), "README rows that are no setting"


def test_the_documented_defaults_are_the_models():
    for name, cell in readme_rows().items():
        assert documented(cell) == model_default(name), name


def test_the_shipped_config_file_agrees_with_the_model():
    shipped = tomllib.loads((CONFIG_DIR / "stridewise.toml").read_text())
    for key, value in shipped.items():
        assert key in Settings.model_fields, f"config/stridewise.toml: unknown key {key}"
        assert value == model_default(key), f"config/stridewise.toml: {key}"


def test_the_parser_sees_what_it_should():
    """Guards the guard: a changed default in the table would be caught."""
    rows = readme_rows()
    assert documented(rows["sync_max_backoff_seconds"]) == 21600
    assert documented(rows["secret_key"]) is None
    assert documented(rows["source_priority"])[0] == "garmin/*"
