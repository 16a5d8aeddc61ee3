"""Headless Debian Chromium for the student-page tests: launch, log in, screenshots.

Screenshots go to test-artifacts/; with QBANK_SCREENSHOTS=docs the ones the README shows are
written to docs/screenshots/ instead (to refresh the committed pictures after a page change).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from tests.support.api_server import ARTIFACTS, ROOT
from tests.support.people import PASSWORD

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"


@contextmanager
def chromium_page(width: int = 1200, height: int = 900):
    """A page and the list of uncaught page errors (a test asserts it stays empty)."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page, errors
        finally:
            browser.close()


def log_in(page: Page, url: str, email: str, tenant: str | None = None) -> None:
    page.goto(url + "/")
    if tenant is not None:
        page.fill("#login-tenant", tenant)
    page.fill("#login-email", email)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#view-home")).to_be_visible()


def screenshot_path(name: str) -> Path:
    """docs/screenshots/<name> when refreshing the README's pictures, else test-artifacts/."""
    target = DOCS_SCREENSHOTS if os.environ.get("QBANK_SCREENSHOTS") == "docs" else ARTIFACTS
    target.mkdir(parents=True, exist_ok=True)
    return target / name
