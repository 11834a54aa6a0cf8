"""Headless Chromium for tests that look at a page as a reader would, driven by Playwright.

The browser is Debian's `chromium` (/usr/bin/chromium: `apt-get install chromium`), never one
downloaded by `playwright install`: the machines this project runs on reach no browser
download. Without it the tests that need it skip, or fail where MONITOR_REQUIRE names
`chromium` (CI).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.capabilities import unavailable

CHROMIUM = Path("/usr/bin/chromium")
# Chromium reaches for Google's services at start; on a closed network every attempt is refused
# (and logged). These keep it to the page under test.
FLAGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def chromium_installed() -> bool:
    return os.access(CHROMIUM, os.X_OK)


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, for as long as the block runs."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module: a launch costs a second or two. Module scope, not
    session: while Playwright's sync API runs, its event loop counts as running in this
    thread, and the other modules' `asyncio.run` would refuse to start."""
    if not chromium_installed():
        unavailable("chromium", f"Chromium is not installed ({CHROMIUM}, Debian's chromium)")
    with launch_chromium() as launched:
        yield launched
