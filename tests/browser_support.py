"""What the browser tests share: Playwright driving Debian's Chromium (skipped, with how to get
it, where it is missing), one browser per module, a page signed in with a personal link (its
script errors collected), and where screenshots go (build/screenshots/, or
$VIDCURATE_SCREENSHOTS)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labelling_support import BROWSER_ARGS, CHROMIUM

playwright_api = pytest.importorskip("playwright.sync_api")

BROWSER_MARKS = [
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)",
    ),
    pytest.mark.xdist_group("browser"),
]

SCREENSHOTS = Path(
    os.environ.get("VIDCURATE_SCREENSHOTS")
    or Path(__file__).resolve().parents[1] / "build" / "screenshots"
)


@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator[Any]:
    """Chromium for the module's tests."""
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield launched
        launched.close()


def signed_in(
    browser: Any, base: str, token: str, *, width: int = 1280, height: int = 900
) -> tuple[Any, list[str]]:
    """A new page signed in with ``token``'s link (on the labelling page), and the list its
    script errors are collected in."""
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base}/signin#{token}")
    page.wait_for_url(f"{base}/label**")
    return page, errors


def screenshot(page: Any, name: str) -> None:
    """The whole page, saved under :data:`SCREENSHOTS`."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
