"""Database URLs for tests: a fresh SQLite file, and the real PostgreSQL when configured."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

PG_ENV = "MONITOR_TEST_DATABASE_URL"
PG_SKIP = f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'monitor.db'}"


def fresh_postgres_url() -> str:
    """The configured PostgreSQL, emptied: every test starts from no schema at all."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(PG_SKIP)
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return url


def database_url(kind: str, folder: Path) -> str:
    return sqlite_url(folder) if kind == "sqlite" else fresh_postgres_url()
