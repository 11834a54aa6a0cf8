"""`monitor reextract` extracts in the process pool: a stored page that kills, hangs or fails
the extractor leaves its version as it was and costs nothing else, and the command's own
process never loads the extractor."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from monitor.demo.newsroom import NewsArticle, Newsroom
from monitor.demo.webserver import WebServer
from monitor.pipeline.pool import TEST_HOOKS_ENV
from monitor.store.blobs import compress_html, decompress_html
from monitor.store.db import make_engine, session_factory
from monitor.store.models import Story, Version
from tests.support.databases import sqlite_url
from tests.test_end_to_end import Monitor
from tests.test_extraction_alarms import articles
from tests.test_extraction_alarms import write_config as alarms_config
from tests.test_processing import WORKERS_ONLY
from tests.test_startup import imported, loaded_modules

pytestmark = pytest.mark.integration

TICK = 0.15  # a little longer than the re-check interval below
STORIES = articles()[:3]
EDITED = STORIES[1]  # read twice: two versions
FIRST_PARAGRAPH = 'text = ".article-body p:first-child"'
"""The "improved extractor" of these tests: the source now reads only its first paragraph."""
FIELDS = (
    "title",
    "text",
    "byline",
    "published_at",
    "canonical_url",
    "content_hash",
    "change_class",
    "words_added",
    "words_removed",
)
"""What re-extraction may change in a version (and must not, where the extraction failed)."""
KEYS = [
    "stories",
    "versions",
    "updated",
    "without_html",
    "now_identical",
    "held_written",
    "held_discarded",
    "failed",
]


def write_config(folder: Path, server: WebServer, database: str, source_extra: str = "") -> Path:
    """The breakage tests' config, with a page time limit that a hung page soon meets."""
    path = alarms_config(folder, server, source_extra, database)
    with path.open("a", encoding="utf-8") as config:
        config.write('[processing]\nprocesses = 2\npage_timeout = "2s"\n')
    return path


@dataclass
class Site:
    """Three stories read, the second edited once (two versions): four versions."""

    database: str
    improved: Monitor  # the same database, its source now read by its first paragraph

    def stored(self) -> dict[tuple[str, int], dict[str, Any]]:
        """{(story URL's slug, version number): the version's re-extractable fields}."""
        engine = make_engine(self.database)
        try:
            with session_factory(engine)() as session:
                rows = session.execute(
                    select(Story.url, Version).join(Story).order_by(Story.id, Version.number)
                )
                return {
                    (url.rsplit("/", 1)[-1], version.number): {
                        name: getattr(version, name) for name in FIELDS
                    }
                    for url, version in rows
                }
        finally:
            engine.dispose()

    def poison(self, article: NewsArticle, number: int, hook: str) -> None:
        """Make the stored page of the article's version `number` do `hook` to the worker
        that reads it (pool test hooks on)."""
        marker = f"<!-- monitor-test-hook:{hook} -->".encode()
        engine = make_engine(self.database)
        try:
            with session_factory(engine).begin() as session:
                version = session.scalars(
                    select(Version)
                    .join(Story)
                    .where(Story.url.endswith(article.slug), Version.number == number)
                ).one()
                version.raw_html = (
                    b"damaged: no zlib stream"  # a row the disk or a restore mangled
                    if hook == "damaged"
                    else compress_html((decompress_html(version.raw_html) or b"") + marker)
                )
        finally:
            engine.dispose()


def a_read_site(folder: Path, server: WebServer, database: str) -> Site:
    room = Newsroom()
    room.serve(server)
    for article in STORIES:
        room.publish(article, "tech")
    monitor = Monitor(write_config(folder, server, database), CliRunner())
    monitor("db", "upgrade")
    assert "3 new" in monitor("poll")
    room.edit(EDITED.slug, title="Regulators tighten export controls, report 1")
    time.sleep(TICK)
    assert "1 changed" in monitor("poll")
    improved = Monitor(write_config(folder, server, database, FIRST_PARAGRAPH), CliRunner())
    return Site(database, improved)


@pytest.fixture
def site(tmp_path: Path, web_server: WebServer, db_url: str) -> Site:
    return a_read_site(tmp_path, web_server, db_url)


def first_paragraph(slug: str) -> str:
    [article] = [a for a in STORIES if a.slug == slug]
    return article.paragraphs[0]


def test_reextract_updates_every_version_through_the_pool(site: Site) -> None:
    report = site.improved.json("reextract")
    assert list(report) == KEYS
    assert report == {
        "stories": 3,
        "versions": 4,
        "updated": 4,
        "without_html": 0,
        "now_identical": 0,
        "held_written": 0,
        "held_discarded": 0,
        "failed": 0,
    }
    stored = site.stored()
    assert {key: fields["text"] for key, fields in stored.items()} == {
        key: first_paragraph(key[0]) for key in stored
    }
    assert stored[EDITED.slug, 2]["change_class"] == "headline"
    # Again: the same text, nothing updated, and the line as it always read.
    assert site.improved("reextract") == (
        "3 stories, 4 versions re-extracted, 0 updated, 0 now identical to the version before\n"
    )


@pytest.mark.parametrize("hook", ["abort", "sigkill", "hang", "raise", "damaged"])
def test_a_page_that_kills_hangs_or_fails_the_extractor_leaves_its_version_as_it_was(
    site: Site, hook: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that aborts or is killed on the page, a page past the per-page limit (2 s
    here), an exception in the extractor, or a stored page that is no zlib stream: that
    version keeps what it had (text, hashes, change class), is counted as `failed`, and every
    other version is re-extracted; the command exits 0."""
    monkeypatch.setenv(TEST_HOOKS_ENV, "1")
    site.poison(EDITED, 1, hook)
    before = site.stored()
    report = site.improved.json("reextract")  # exits 0
    assert (report["stories"], report["versions"], report["updated"]) == (3, 3, 3)
    assert report["failed"] == 1
    after = site.stored()
    assert after[EDITED.slug, 1] == before[EDITED.slug, 1]
    assert {key: fields["text"] for key, fields in after.items() if key != (EDITED.slug, 1)} == {
        key: first_paragraph(key[0]) for key in after if key != (EDITED.slug, 1)
    }
    # Its successor is compared with it as it is: much of its text is gone.
    assert after[EDITED.slug, 2]["change_class"] == "major"
    line = site.improved("reextract")
    assert line == (
        "3 stories, 3 versions re-extracted, 0 updated, 0 now identical to the version before"
        ", 1 left as they were (their stored page could not be extracted)\n"
    )


def test_the_reextracting_process_leaves_the_extraction_libraries_to_the_workers(
    tmp_path: Path, web_server: WebServer
) -> None:
    site = a_read_site(tmp_path, web_server, sqlite_url(tmp_path))
    modules = loaded_modules(site.improved.config, "reextract")
    assert imported(modules, WORKERS_ONLY) == []
    assert {fields["text"] for fields in site.stored().values()} == {
        a.paragraphs[0] for a in STORIES
    }
