"""New stories ready together share a transaction; one that fails loses no other."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from monitor.app import open_app
from monitor.core.sources.feed import FeedEntry
from monitor.demo.newsroom import Newsroom
from monitor.demo.webserver import WebServer
from monitor.pipeline.passes import PassSummary, _Batches, _NewStory
from monitor.store.models import Source
from monitor.store.writer import Extracted
from tests.test_end_to_end import CHIPS, DEEPSEEK, STARGATE, Monitor, write_config

pytestmark = pytest.mark.integration

NO_SUCH_SOURCE = 999_999  # its story breaks the source foreign key: the database refuses it


def test_a_story_that_fails_in_a_shared_transaction_loses_no_other(
    tmp_path: Path, web_server: WebServer, db_url: str
) -> None:
    room = Newsroom()
    room.serve(web_server)
    for article in (DEEPSEEK, CHIPS, STARGATE):
        room.publish(article, "tech")
    config = write_config(tmp_path, web_server, db_url)
    status = Monitor(config, CliRunner())
    status("db", "upgrade")
    app = open_app(config)
    summary = PassSummary()
    try:
        app.sync()
        with app.sessions() as session:
            source_id = session.scalars(
                select(Source.id).where(Source.name == "daily-test-tech")
            ).one()

        async def store_together() -> list[bool | Exception]:
            async with app.pipeline() as pipeline:
                batch = []
                for article, source in ((DEEPSEEK, source_id), (CHIPS, NO_SUCH_SOURCE)):
                    url = web_server.url(f"/news/{article.slug}")
                    page = await pipeline._fetch_article(url)
                    assert isinstance(page, Extracted)
                    entry = FeedEntry(url, article.title, None)
                    batch.append(_NewStory(summary, source, entry, page))
                return await pipeline.writer.run(pipeline._store_new_stories, batch)

        results = asyncio.run(store_together())
    finally:
        app.close()
    assert results[0] is True
    assert results[1] is False or isinstance(results[1], Exception)
    assert (summary.new, summary.duplicates, summary.offtopic) == (1, 0, 0)
    assert {story["title"] for story in status.json("list")} == {DEEPSEEK.title}


def test_items_ready_during_a_write_go_in_the_next_batch_each_with_its_own_result() -> None:
    batches: list[list[int]] = []

    async def write(items: list[int]) -> list[int | Exception]:
        batches.append(items)
        await asyncio.sleep(0.05)  # the writer thread at work: more items become ready
        return [ValueError(f"item {i} refused") if i == 3 else i * 10 for i in items]

    async def main() -> list[int | str]:
        batcher: _Batches[int, int] = _Batches(write, limit=3)

        async def one(item: int) -> int | str:
            try:
                return await batcher.store(item)
            except ValueError as exc:
                return str(exc)

        first = asyncio.create_task(one(0))
        await asyncio.sleep(0)  # the first item is written at once, alone
        rest = [asyncio.create_task(one(i)) for i in range(1, 6)]
        return [await first, *[await task for task in rest]]

    results = asyncio.run(main())
    assert results == [0, 10, 20, "item 3 refused", 40, 50]
    assert batches == [[0], [1, 2, 3], [4, 5]]
