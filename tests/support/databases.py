"""Database URLs for tests: a fresh SQLite file, and the real PostgreSQL when configured."""

from __future__ import annotations

import atexit
import os
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from tests.support.capabilities import unavailable

PG_ENV = "MONITOR_TEST_DATABASE_URL"
PG_SKIP = f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'monitor.db'}"


_own: dict[str, str] = {}  # configured URL -> this session's own database on that server


def _own_database(url: str) -> str:
    """A database of this test session's own on the configured server, created on first use
    and dropped when the session ends: two suites (a developer's and CI's) can share one
    server. Where databases cannot be created, the configured one is used as it is."""
    if url in _own:
        return _own[url]
    name = f"monitor_test_{os.getpid()}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError:
        _own[url] = url
        return url
    finally:
        admin.dispose()

    def drop() -> None:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except SQLAlchemyError:
            pass
        finally:
            engine.dispose()

    atexit.register(drop)
    _own[url] = make_url(url).set(database=name).render_as_string(hide_password=False)
    return _own[url]


def fresh_postgres_url() -> str:
    """This session's PostgreSQL database, emptied: every test starts from no schema."""
    configured = os.environ.get(PG_ENV)
    if not configured:
        unavailable("postgres", PG_SKIP)
    url = _own_database(configured)
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
