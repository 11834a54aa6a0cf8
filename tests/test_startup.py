"""The read commands start without the machinery of the commands that fetch, nor SQLAlchemy.

What a user notices of `monitor list` is mostly how long Python takes to import what it runs,
so the guard is the set of modules each read command has loaded when it exits: never the
pipeline, the extractor, the HTTP client, the process pool or Alembic, and, as they read on
the DB-API (monitor.store.reads), neither SQLAlchemy, the models nor asyncio. Each command
runs in a fresh interpreter, on the small SQLite database `bench.startup` measures (a timing
would only measure the machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.startup import fill_database, write_config
from monitor.config import CONFIG_ENV, DATABASE_ENV

# main() ends with SystemExit; the modules it loaded are written to stderr on the way out.
PROBE = """\
import json, sys
from monitor.cli import main
try:
    main()
finally:
    sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)))
"""
FETCHING_ONLY = (
    "trafilatura",
    "numpy",
    "selectolax",
    "httpx",
    "lxml",
    "feedparser",
    "multiprocessing",
    "concurrent.futures.process",
    "monitor.pipeline",
    "monitor.core.extract",
    "monitor.fetch",
    "alembic",
)
# What monitor.store.reads spares the read commands: SQLAlchemy's core and ORM, the models and
# the queries built on them, and the event loop (nothing reads asynchronously).
SQLALCHEMY_PATH = (
    "sqlalchemy",
    "monitor.store.models",
    "monitor.store.queries",
    "monitor.store.db",
    "monitor.app",
    "asyncio",
)
READ_COMMANDS = [
    ("list", "--json"),
    ("list", "--since", "all"),
    ("list", "--clusters", "--since", "all"),
    ("show", "{story}"),
    ("show", "{story}", "--json"),
    ("diff", "{story}", "--no-color"),
    ("diff", "{story}", "--json"),
    ("status", "--json"),
    ("status",),
]


@pytest.fixture(scope="module")
def small_database(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A config and its migrated SQLite file with a few stories; a story with two versions."""
    folder = tmp_path_factory.mktemp("startup")
    config = write_config(folder)
    return config, fill_database(config)


def loaded_modules(config: Path, *args: str) -> set[str]:
    """The modules `monitor --config CONFIG ARGS` had imported when it exited (it must succeed)."""
    env = {k: v for k, v in os.environ.items() if k not in (CONFIG_ENV, DATABASE_ENV)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    report, _, modules = done.stderr.rpartition("\nMODULES ")
    assert done.returncode == 0, report
    assert done.stdout.strip()
    return set(json.loads(modules))


def imported(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    """The modules that are one of `prefixes` or inside one of them."""
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


@pytest.mark.parametrize(
    "command",
    [
        ("list", "--json"),
        ("show", "{story}"),
        ("diff", "{story}", "--no-color"),
        ("status", "--json"),
    ],
    ids=lambda command: " ".join(command),
)
def test_a_read_command_imports_nothing_that_fetches(
    small_database: tuple[Path, int], command: tuple[str, ...]
) -> None:
    config, story = small_database
    modules = loaded_modules(config, *(part.format(story=story) for part in command))
    assert "monitor.store.reads" in modules  # the probe saw a command that read the database
    assert imported(modules, FETCHING_ONLY) == []


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda command: " ".join(command))
def test_a_read_command_reads_without_sqlalchemy(
    small_database: tuple[Path, int], command: tuple[str, ...]
) -> None:
    config, story = small_database
    modules = loaded_modules(config, *(part.format(story=story) for part in command))
    assert "monitor.store.reads" in modules
    assert imported(modules, SQLALCHEMY_PATH) == []


def test_json_listings_do_not_load_the_terminal_renderer(small_database: tuple[Path, int]) -> None:
    """Rich draws tables; `list --json` prints JSON, and SQLite needs no PostgreSQL dialect."""
    config, _ = small_database
    for command in (("list", "--json"), ("status", "--json")):
        modules = loaded_modules(config, *command)
        assert imported(modules, ("rich", "sqlalchemy.dialects.postgresql", "psycopg")) == []
