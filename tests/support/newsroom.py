"""A database filled by real polls of the demo's newsroom (monitor/demo/): its first stories,
then every event of its script (a headline rewritten, a number corrected, a paragraph cut,
a story taken down, a second outlet on one event), each followed by a pass of the real
pipeline. The web view's tests and the screenshots in docs/ read it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from monitor import defaults
from monitor.app import open_app
from monitor.demo import content
from monitor.demo.newsroom import Newsroom
from monitor.demo.run import open_newsroom, seed_copy, write_config
from monitor.demo.webserver import WebServer
from monitor.store import db

INTERVAL = 0.3  # seconds: the polling interval and every re-check step


@dataclass
class FilledNewsroom:
    config: Path
    newsroom: Newsroom
    server: WebServer
    seed_id: str


@contextmanager
def filled_newsroom(folder: Path) -> Iterator[FilledNewsroom]:
    """The newsroom on loopback, and `folder/monitor.toml` over a SQLite database that has
    seen the whole demo script; the newsroom keeps serving until the block ends."""
    seed_id, copy = seed_copy()
    with WebServer() as server:
        newsroom = open_newsroom(copy, server)
        seeds = folder / "seeds"
        defaults.write_seeds(seeds)
        config = write_config(
            folder, server.base_url, interval=INTERVAL, rechecks=60, seeds_dir=seeds
        )
        app = open_app(config, migrate=False)
        try:
            db.upgrade(app.engine)  # SQLite would on opening; PostgreSQL needs it said
            app.sync()
            # On a thread of its own: a test's Playwright loop counts as running in this one.
            with ThreadPoolExecutor(1) as thread:
                thread.submit(asyncio.run, _play(app, newsroom)).result()
        finally:
            app.close()
        yield FilledNewsroom(config, newsroom, server, seed_id)


async def _play(app: object, newsroom: Newsroom) -> None:
    from monitor.app import App

    assert isinstance(app, App)
    async with app.pipeline() as pipeline:
        await pipeline.run_pass()
        for event in content.SCRIPT:
            newsroom.apply(event)
            await asyncio.sleep(INTERVAL + 0.05)
            await pipeline.run_pass()
        await asyncio.sleep(INTERVAL + 0.05)
        await pipeline.run_pass()
