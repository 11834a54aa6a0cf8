"""A story's duplicate index follows its text: after re-extraction, and after a change of
the fingerprint scheme (an upgrade), it is rebuilt from the newest text."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from monitor.app import open_app
from monitor.core import fingerprint as fp
from monitor.core.normalize import normalize_text
from monitor.demo.newsroom import Newsroom
from monitor.demo.webserver import WebServer
from monitor.pipeline.service import Service
from monitor.store import queries
from monitor.store.models import FingerprintBand, Story
from tests.test_end_to_end import CHIPS, Monitor, write_config

pytestmark = pytest.mark.integration

GARBAGE = list(range(fp.BANDS))  # band hashes no text has


def index_of(monitor_config: Path, story_id: int) -> tuple[str | None, list[int], list[int]]:
    """(its scheme, its stored band hashes, the band hashes of its newest text)."""
    app = open_app(monitor_config)
    try:
        with app.sessions() as session:
            story = session.get(Story, story_id)
            assert story is not None
            bands = session.scalars(
                select(FingerprintBand.hash)
                .where(FingerprintBand.story_id == story_id)
                .order_by(FingerprintBand.band)
            ).all()
            latest = queries.latest_version(session, story_id)
            assert latest is not None
            expected = list(fp.fingerprint(normalize_text(latest.text)).bands)
            return story.fingerprint_scheme, list(bands), expected
    finally:
        app.close()


def spoil_index(monitor_config: Path, story_id: int, scheme: str) -> None:
    app = open_app(monitor_config)
    try:
        with app.sessions.begin() as session:
            queries.replace_bands(session, GARBAGE, story_id=story_id)
            session.execute(
                update(Story).where(Story.id == story_id).values(fingerprint_scheme=scheme)
            )
    finally:
        app.close()


@pytest.fixture
def polled(tmp_path: Path, web_server: WebServer, db_url: str) -> tuple[Monitor, int]:
    room = Newsroom()
    room.serve(web_server)
    room.publish(CHIPS, "tech")
    monitor = Monitor(write_config(tmp_path, web_server, db_url), CliRunner())
    monitor("db", "upgrade")
    assert "1 new" in monitor("poll")
    (story,) = monitor.json("list")
    scheme, bands, expected = index_of(monitor.config, story["id"])
    assert (scheme, bands) == (fp.SCHEME, expected)
    return monitor, story["id"]


def test_housekeeping_indexes_again_stories_of_an_older_scheme(
    polled: tuple[Monitor, int],
) -> None:
    monitor, story_id = polled
    spoil_index(monitor.config, story_id, "minhash-v0:an-older-scheme")
    app = open_app(monitor.config)
    try:

        async def housekeeping() -> None:
            async with app.pipeline() as pipeline:  # its writer thread does the work
                await Service(app, pipeline).housekeeping()

        asyncio.run(housekeeping())
    finally:
        app.close()
    scheme, bands, expected = index_of(monitor.config, story_id)
    assert (scheme, bands) == (fp.SCHEME, expected)


def test_reextract_rebuilds_the_index_from_the_new_text(polled: tuple[Monitor, int]) -> None:
    monitor, story_id = polled
    spoil_index(monitor.config, story_id, fp.SCHEME)
    assert index_of(monitor.config, story_id)[1] == GARBAGE
    monitor("reextract")
    scheme, bands, expected = index_of(monitor.config, story_id)
    assert (scheme, bands) == (fp.SCHEME, expected)


def test_a_near_copy_is_caught_once_an_old_index_is_rebuilt(
    polled: tuple[Monitor, int], web_server: WebServer
) -> None:
    monitor, story_id = polled
    spoil_index(monitor.config, story_id, "minhash-v0:an-older-scheme")
    monitor("reextract", str(story_id))
    copy = replace(
        CHIPS,
        slug="chips-syndicated",
        title="Syndicated: " + CHIPS.title,
        paragraphs=CHIPS.paragraphs[:-1],  # the last paragraph dropped: not an exact copy
    )
    room = Newsroom()
    room.serve(web_server)  # the tech feed now lists the copy alone
    room.publish(copy, "tech")
    time.sleep(1.1)  # the feed's interval is 1 s
    monitor("poll")
    listing = monitor.json("list", "--include-duplicates")
    copies = [item for item in listing if item["title"] == copy.title]
    assert copies and copies[0]["duplicate_of"]["id"] == story_id
