"""Wiring: config → engine → schema → synced sources and seeds. Used by the CLI and service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import Clock, utcnow
from monitor.config import Config, config_path, load_config
from monitor.store import db, queries
from monitor.store.known_keys import KnownKeys

if TYPE_CHECKING:  # the pipeline (trafilatura, numpy) loads only for commands that fetch
    from monitor.fetch import FetchSettings
    from monitor.pipeline.passes import Pipeline


@dataclass
class App:
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock = utcnow
    known_keys: KnownKeys = field(default_factory=KnownKeys)  # shared by this process's passes

    def sync(self, attempts: int = 3) -> None:
        """Bring the sources and seeds tables in line with the config and seed files.

        Workers starting together take turns (an advisory lock on PostgreSQL); should two
        still race to insert the same rows, the loser's unique-key error is settled by doing
        it again, when the rows are there to update.
        """
        from monitor.store.dedupe import read_seed_files, sync_seeds

        now = self.clock()
        specs = [queries.SourceSpec(s.name, s.kind, s.url, s.enabled) for s in self.config.sources]
        for attempt in range(attempts):
            try:
                with self.sessions.begin() as session:
                    queries.lock_for_sync(session)
                    queries.sync_sources(session, specs, now)
                    sync_seeds(session, read_seed_files(self.config.seeds_dir), now)
                return
            except IntegrityError:
                if attempt == attempts - 1:
                    raise

    def fetch_settings(self) -> FetchSettings:
        from monitor.fetch import FetchSettings

        fetch = self.config.fetch
        return FetchSettings(
            user_agent=fetch.user_agent,
            timeout=fetch.timeout.total_seconds(),
            concurrency=fetch.concurrency,
            per_host_concurrency=fetch.per_host_concurrency,
            per_host_delay=fetch.per_host_delay.total_seconds(),
            max_bytes=fetch.max_bytes,
            allow_private_addresses=fetch.allow_private_addresses,
            respect_robots=fetch.respect_robots,
        )

    @asynccontextmanager
    async def pipeline(self) -> AsyncIterator[Pipeline]:
        from monitor.fetch import Fetcher
        from monitor.pipeline.passes import Pipeline
        from monitor.pipeline.pool import ProcessPool

        pool = ProcessPool.configured(self.config.processing)
        async with pool, Fetcher(self.fetch_settings()) as fetcher:
            pipeline = Pipeline(
                self.config,
                self.sessions,
                fetcher,
                pool,
                clock=self.clock,
                known_keys=self.known_keys,
            )
            try:
                yield pipeline
            finally:
                pipeline.close()

    def close(self) -> None:
        self.engine.dispose()


def open_app(path: Path | None = None, *, migrate: bool = True, clock: Clock = utcnow) -> App:
    """Load and validate the config, open the database, check its schema."""
    config = load_config(config_path(path))
    engine = db.make_engine(config.database.url)
    if migrate:
        try:
            db.ensure_schema(engine)
        except BaseException:
            engine.dispose()
            raise
    return App(config=config, engine=engine, sessions=db.session_factory(engine), clock=clock)


@contextmanager
def app_context(path: Path | None = None, *, migrate: bool = True) -> Iterator[App]:
    app = open_app(path, migrate=migrate)
    try:
        yield app
    finally:
        app.close()
