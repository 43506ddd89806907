"""Headless Chromium for the browser tests: Debian's `chromium` package driven by Playwright, launched with the
flags this project's UI test uses (no sandbox as root in a container, no GPU, no background network)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = os.environ.get("SKUSTUDIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 60_000


@contextmanager
def chromium_page(viewport=(1440, 960), env: dict | None = None):
    """A new page in headless Chromium; yields (page, page_errors). Fails the test when Chromium is missing."""
    import pytest
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: the browser tests need Debian's chromium package (apt-get install -y "
                    "chromium; scripts/test.sh does it as root), or SKUSTUDIO_CHROMIUM pointing at a Chromium binary",
                    pytrace=False)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=TIMEOUT_MS,
                                     env={**os.environ, **(env or {})})
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            yield page, errors
        finally:
            browser.close()


def images_loaded(page, selector: str = "img") -> bool:
    """Wait until every image matching `selector` has loaded; True when all have pixels."""
    page.wait_for_function(
        "sel => Array.from(document.querySelectorAll(sel)).every(i => i.complete)", arg=selector, timeout=TIMEOUT_MS)
    return page.evaluate("sel => Array.from(document.querySelectorAll(sel)).every(i => i.naturalWidth > 0)", selector)
