"""Schema management: migrations build the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from monitor.errors import SchemaError
from monitor.store import db
from monitor.store.models import Base, Source
from tests.support.databases import fresh_postgres_url


def test_single_head_and_it_is_the_one_the_code_expects() -> None:
    script = ScriptDirectory.from_config(db._script_config())
    assert len(script.get_heads()) == 1
    assert script.get_current_head() == db.HEAD_REVISION, "update monitor.store.reads.HEAD_REVISION"


def test_upgrade_empty_database_to_head_matches_models(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
        assert {"sources", "stories", "versions", "seeds", "polls", "fingerprint_bands"} <= set(
            inspect(engine).get_table_names()
        )
    finally:
        engine.dispose()


def test_sqlite_is_migrated_automatically_and_uses_wal(tmp_path: object) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path}/auto.db")
    try:
        db.ensure_schema(engine)
        assert db.current_revision(engine) == db.head_revision()
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert int(connection.execute(text("PRAGMA busy_timeout")).scalar() or 0) > 0
    finally:
        engine.dispose()


def test_out_of_date_postgres_is_refused() -> None:
    """PostgreSQL only: SQLite is upgraded automatically instead."""
    engine = db.make_engine(fresh_postgres_url())
    try:
        with pytest.raises(SchemaError, match="run `monitor db upgrade`"):
            db.ensure_schema(engine)
        db.upgrade(engine)
        db.ensure_schema(engine)
    finally:
        engine.dispose()


def test_times_come_back_as_aware_utc(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine)
        when = datetime(2026, 1, 27, 8, 30, tzinfo=UTC)
        with db.session_factory(engine).begin() as session:
            session.add(
                Source(
                    name="s",
                    kind="feed",
                    url="https://x.org/",
                    created_at=when,
                    enabled=True,
                    consecutive_failures=0,
                )
            )
        with db.session_factory(engine)() as session:
            source = session.query(Source).one()
            assert source.created_at == when
            assert source.created_at.tzinfo is not None
    finally:
        engine.dispose()


def test_concurrent_first_opens_of_a_sqlite_file_migrate_once(tmp_path: object) -> None:
    """The service and a CLI command started together must not both create the tables."""
    from concurrent.futures import ThreadPoolExecutor

    url = f"sqlite:///{tmp_path}/race.db"

    def open_and_migrate(_: int) -> str | None:
        engine = db.make_engine(url)
        try:
            db.ensure_schema(engine)
            return db.current_revision(engine)
        finally:
            engine.dispose()

    with ThreadPoolExecutor(4) as pool:
        revisions = list(pool.map(open_and_migrate, range(4)))
    assert revisions == [db.head_revision()] * 4


def test_upgrading_records_the_scheme_of_the_bands_stories_already_have(db_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    engine = db.make_engine(db_url)
    try:
        command.upgrade(db.alembic_config(engine), "0006")
        with engine.begin() as connection:
            for story_id, url in ((1, "https://example.org/indexed"), (2, "https://x.org/dup")):
                connection.execute(
                    text(
                        "INSERT INTO stories (id, url, first_seen_at, status, title, "
                        "version_count, recheck_step) VALUES (:id, :url, :now, 'active', '', 1, 0)"
                    ),
                    {"id": story_id, "url": url, "now": datetime.now(UTC)},
                )
            connection.execute(
                text("INSERT INTO fingerprint_bands (band, hash, story_id) VALUES (0, 42, 1)")
            )
        db.upgrade(engine)
        with engine.connect() as connection:
            schemes = connection.execute(
                text("SELECT id, fingerprint_scheme FROM stories ORDER BY id")
            ).all()
        # The scheme of every band made before 0007 (fingerprint.SCHEME may move on since).
        old_scheme = "minhash-v1:blake2b64:w4:m61:p128:b42x3"
        assert [tuple(row) for row in schemes] == [(1, old_scheme), (2, None)]
    finally:
        engine.dispose()
