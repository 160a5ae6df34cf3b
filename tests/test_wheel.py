"""The wheel built from pyproject.toml: the product, without the provider fakes."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEFT_BEHIND = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "build", "dist", "*.egg-info", "__pycache__", "*.db*",
    ".pytest_cache", ".ruff_cache", ".hypothesis", "demo-out",
)  # fmt: skip


def top_level_names(source: str) -> set[str]:
    tree = ast.parse(source)
    return {n.name for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """Built from a copy of the checkout, so no build/ lands in the shared tree."""
    work = tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, work / "src", ignore=LEFT_BEHIND)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
         "-q", "-w", str(work / "out")],
        cwd=work / "src", check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    [built] = (work / "out").glob("stridewise-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


@pytest.mark.slow
def test_the_wheel_ships_the_product_and_no_fake_provider(wheel):
    names = wheel.namelist()
    packages = {name.split("/")[0] for name in names if name.endswith(".py")}
    assert {"core", "adapters", "ingest", "rules", "stridewise"} <= packages
    migrations = (ROOT / "ingest" / "migrations" / "versions").glob("*.py")
    assert {f"ingest/migrations/versions/{m.name}" for m in migrations} <= set(names)
    assert "sandbox" not in packages
    assert not [n for n in names if n.startswith("sandbox/")]

    # No product module carries a fake's code under another name either.
    fakes = set()
    for path in (ROOT / "sandbox").glob("*.py"):
        fakes |= top_level_names(path.read_text())
    # Private helpers and the usual entry points are too common a name to mean a fake.
    fakes = {n for n in fakes if not n.startswith("_")} - {"create_app", "sandbox_settings", "main"}
    assert {"GoogleSandboxState", "GarminSandbox", "Walker"} <= fakes
    for name in names:
        if name.endswith(".py"):
            shipped = top_level_names(wheel.read(name).decode())
            assert not shipped & fakes, f"{name} defines {shipped & fakes} of sandbox/"


@pytest.mark.slow
def test_an_installed_wheel_finds_its_shipped_programme(wheel, tmp_path):
    """Installed outside the checkout, the rules still load the WalkBack programme
    (config/programmes/walkback.toml; without it no patient can be evaluated) and
    the documented settings file is there too: both travel in the wheel."""
    names = set(wheel.namelist())
    assert {"config/stridewise.toml", "config/programmes/walkback.toml"} <= names
    target = tmp_path / "site"
    wheel.extractall(target)
    probe = (
        "import rules.programme_config as p; print(p.__file__);"
        "print(p.load_programme('walkback').cadence_threshold)"
    )
    shown = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path[:0] = {[str(target)]!r}; " + probe],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    module, threshold = shown.stdout.split("\n")[:2]
    assert module.startswith(str(target))  # the installed copy, not the checkout
    assert threshold == "100"
