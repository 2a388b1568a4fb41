"""A real browser for the pages' tests: headless Chromium through Playwright, one per test module.

Skips when Playwright or Chromium is missing, with how to install them; under CI=true a
missing browser fails instead, so CI cannot pass without having looked. One browser per
module: Playwright's sync API cannot start twice in one thread, and its running event loop
would stop later modules' `asyncio.run`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]  # fmt: skip
INSTALL = "install the browser tests' needs: pip install playwright==1.65.2; apt-get install -y chromium"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: a skipped browser test fails): {INSTALL}")
    pytest.skip(f"{reason}: {INSTALL}")


@pytest.fixture(scope="module")  # a module's only: its event loop must not outlive it (asyncio.run)
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed")
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not path:
        _unavailable("Chromium is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=ARGS)
        yield browser
        browser.close()


def visit(browser, url: str, shot: Path | None = None) -> tuple[object, list[str], list[str]]:
    """Open `url` with every non-file request refused; the page, console errors, requests out."""
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith("file://") else None)
    page.route(lambda url: not url.startswith("file://"), lambda route: route.abort())
    page.goto(url)
    page.wait_for_load_state("load")
    if shot is not None:
        page.screenshot(path=str(shot), full_page=True)
    return page, errors, outside


def links(page) -> list[str]:
    return page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
