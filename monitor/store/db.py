"""Engine set-up and schema management.

SQLite is the embedded default: WAL mode and a busy timeout let the service and the CLI
share the file, and pending migrations are applied automatically. On PostgreSQL several
workers may share the database, so an out-of-date schema is refused instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from monitor.errors import SchemaError, StoreError
from monitor.store.reads import HEAD_REVISION as HEAD_REVISION
from monitor.store.reads import SQLITE_BUSY_TIMEOUT_MS

if TYPE_CHECKING:  # Alembic loads only when a migration runs: it is a tenth of CLI start-up
    from alembic.config import Config as AlembicConfig

MIGRATIONS = "monitor:migrations"
"""The Alembic scripts, as a package resource: Alembic finds them through importlib.resources,
so an installed wheel migrates from wherever it is installed."""


def make_engine(url: str) -> Engine:
    """An engine with the per-dialect settings this project relies on."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(
                url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, future=True
            )
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True, future=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StoreError(f"database URL {safe_url(url)}: {exc}") from None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: the band index stays in memory
    cursor.close()


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable URL>"


def database_size(engine: Engine) -> int | None:
    """Bytes on disk: the SQLite file (and its WAL), or the PostgreSQL database."""
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            return None
        paths = [Path(database), Path(f"{database}-wal")]
        return sum(p.stat().st_size for p in paths if p.exists())
    if engine.dialect.name == "postgresql":
        from sqlalchemy import text

        with engine.connect() as connection:
            size = connection.execute(text("SELECT pg_database_size(current_database())"))
            return int(size.scalar() or 0)
    return None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, future=True)


def alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["engine"] = engine
    return config


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (Alembic's version table), None for an empty one."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return next(iter(rows), None)


def head_revision() -> str:
    return HEAD_REVISION


def _script_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", MIGRATIONS)
    return config


def upgrade(engine: Engine) -> None:
    """Apply every pending migration (`monitor db upgrade`)."""
    from alembic import command

    try:
        command.upgrade(alembic_config(engine), "head")
    except SQLAlchemyError as exc:
        raise StoreError(f"migration failed: {_one_line(exc)}") from None


def ensure_schema(engine: Engine) -> None:
    """Bring SQLite up to date; refuse an out-of-date shared database."""
    head = head_revision()
    if _revision(engine) == head:
        return
    if engine.dialect.name == "sqlite":
        with _migration_lock(engine):
            if _revision(engine) != head:  # another process may have just done it
                upgrade(engine)
        return
    current = _revision(engine)
    state = "has no schema" if current is None else f"is at revision {current}, not {head}"
    raise SchemaError(f"the database {state}: run `monitor db upgrade`")


def _revision(engine: Engine) -> str | None:
    try:
        return current_revision(engine)
    except SQLAlchemyError as exc:
        where = safe_url(str(engine.url))
        raise StoreError(f"cannot open database {where}: {_one_line(exc)}") from None


@contextmanager
def service_lock(engine: Engine) -> Iterator[None]:
    """On SQLite, one `monitor run` per database file; CLI commands are not affected.

    Several workers need PostgreSQL, where row leases share the work; on SQLite a second
    service would only fight the first for the write lock.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    try:
        with lock_file(Path(f"{database}-service.lock"), wait=False):
            yield
    except BlockingIOError:
        raise StoreError(
            f"another `monitor run` is already using {database}: on SQLite only one "
            "service may run (use PostgreSQL for several workers)"
        ) from None


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """One process migrates a SQLite file at a time (the service and a CLI may start together)."""
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with lock_file(Path(f"{database}-migrate.lock"), wait=True):
        yield


@contextmanager
def lock_file(path: Path, *, wait: bool) -> Iterator[None]:
    """An exclusive lock held on `path`, which is removed when the lock is let go, so that
    no lock file is left beside the database.

    Removing a lock file races with a process that opened it and waits for the lock: it
    would hold a lock on a file no longer there while a third process locks a new one. So a
    lock counts only if `path` is still the file locked; otherwise it is taken again.
    BlockingIOError when `wait` is false and another process holds it.
    """
    while True:
        lock = open(path, "a+b")  # noqa: SIM115 (closed below, after the unlink)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            try:
                same = os.stat(path).st_ino == os.fstat(lock.fileno()).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            lock.close()
            raise
        if same:
            break
        lock.close()  # removed by its last holder meanwhile: lock the new one
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # before unlocking: a waiter then sees it is gone and retries
        lock.close()


def _one_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
