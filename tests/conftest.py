"""Shared fixtures. Servers are real and local; nothing here reaches beyond loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.demo.webserver import WebServer
from tests.support.databases import database_url

# skips: one line per skip reason, MONITOR_REQUIRE; browser: headless Chromium; pytester: runs
# a suite inside a test (tests/test_capabilities.py).
pytest_plugins = ["tests.support.skips", "tests.support.browser", "pytester"]


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a fresh SQLite file and on the real PostgreSQL (skipped without it)."""
    return database_url(request.param, tmp_path)


@pytest.fixture
def web_server() -> Iterator[WebServer]:
    """A real HTTP/1.1 server on 127.0.0.1 and a free port; program it with `route(...)`."""
    with WebServer() as server:
        yield server
