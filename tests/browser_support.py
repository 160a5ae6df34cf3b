"""Browser test support: Debian's chromium driven by Playwright (never a browser
Playwright downloads), the app served by uvicorn on a loopback port, axe-core's
WCAG 2.2 AA check, and screenshots at desktop and phone widths.

Use with ``pytest_plugins = ["browser_support"]`` and ``@pytest.mark.browser``.
Without chromium or axe-core (``npm ci``) the tests skip; in CI they fail."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(os.environ.get("STRIDEWISE_SCREENSHOTS", ROOT / "build" / "screenshots"))
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (CI=true: browser tests must run)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def chromium() -> Iterator:
    """One headless chromium for the session."""
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} not installed (apt-get install chromium)")
    if not AXE.exists():
        _missing(f"{AXE} missing (npm ci)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium) -> Iterator:
    """A fresh browser context (no cookies) at desktop width."""
    # bypass_csp: the pages allow no injected script, and axe-core is injected.
    context = chromium.new_context(viewport=WIDTHS["desktop"], bypass_csp=True)
    page = context.new_page()
    yield page
    context.close()


def assert_accessible(page, context: str = "") -> None:
    """axe-core finds no WCAG 2.2 A/AA violation on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_22_AA
    )
    violations = [
        {"rule": v["id"], "impact": v["impact"], "help": v["help"],
         "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]  # fmt: skip
    assert not violations, f"WCAG 2.2 AA violations {context}:\n" + json.dumps(violations, indent=2)


def screenshots(page, name: str, folder: Path = SCREENSHOTS) -> list[Path]:
    """Full-page screenshots of the current page at each width; the paths written.
    The viewport is left at desktop width."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for label, size in WIDTHS.items():
        page.set_viewport_size(size)
        path = folder / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    page.set_viewport_size(WIDTHS["desktop"])
    return paths
