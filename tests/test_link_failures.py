"""A story link that fails is not fetched at every poll: it waits, longer each time."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.app import App, open_app
from monitor.demo.newsroom import Newsroom
from monitor.demo.webserver import WebServer
from monitor.pipeline.passes import PassSummary
from tests.test_end_to_end import CHIPS, DEEPSEEK, Monitor, write_config

pytestmark = pytest.mark.integration

LATE = replace(CHIPS, slug="late-story", title="A story whose page came late")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)  # `monitor status`, run as a command, reads the real clock

    def __call__(self) -> datetime:
        return self.now


def poll(app: App) -> PassSummary:
    async def one_pass() -> PassSummary:
        async with app.pipeline() as pipeline:
            return await pipeline.run_pass(["daily-test-tech"], recheck=False)

    return asyncio.run(one_pass())


def test_a_failing_link_backs_off_then_is_read_when_its_page_appears(
    tmp_path: Path, web_server: WebServer, db_url: str
) -> None:
    room = Newsroom()
    room.serve(web_server)
    room.publish(DEEPSEEK, "tech")
    room.list_link("tech", f"/news/{LATE.slug}")  # listed before its page exists: 404
    config = write_config(tmp_path, web_server, db_url)
    status = Monitor(config, CliRunner())
    status("db", "upgrade")
    clock = Clock()
    app = open_app(config, clock=clock)
    try:
        app.sync()
        late = f"/news/{LATE.slug}"

        first = poll(app)
        assert (first.new, first.failures, web_server.count(late)) == (1, 1, 1)
        assert "not found (HTTP 404)" in first.errors[0]
        assert status.json("status")["links_failing"] == 1
        (failing,) = status.json("links")
        assert failing["url"] == web_server.url(late)
        assert (failing["source"], failing["failures"], failing["last_status"]) == (
            "daily-test-tech",
            1,
            404,
        )
        assert failing["last_error"] == "resource not found (HTTP 404)"
        assert failing["next_attempt"] > failing["last_failed"]
        assert web_server.url(late) in status("links")

        clock.now += timedelta(minutes=15)  # the next poll: the link waits
        second = poll(app)
        assert (second.sources_polled, second.failures, web_server.count(late)) == (1, 0, 1)

        clock.now += timedelta(minutes=25)  # past 30 min (+20 % jitter at most): tried again
        third = poll(app)
        assert (third.failures, web_server.count(late)) == (1, 2)

        clock.now += timedelta(minutes=45)  # the second wait is twice as long (48-72 min)
        assert (poll(app).failures, web_server.count(late)) == (0, 2)

        room.publish(LATE)  # the page appears
        clock.now += timedelta(minutes=30)
        fourth = poll(app)
        assert (fourth.new, fourth.failures, web_server.count(late)) == (1, 0, 3)
        assert status.json("status")["links_failing"] == 0
        assert status.json("links") == []
        assert "no failing story links" in status("links")
        assert LATE.title in {story["title"] for story in status.json("list")}
    finally:
        app.close()


def test_a_poll_takes_at_most_max_new_per_poll_links_oldest_first(
    tmp_path: Path, web_server: WebServer
) -> None:
    """Five new links, two a poll: the oldest two, then the next two, then the last."""
    room = Newsroom()
    room.serve(web_server)
    stories = [
        replace(
            DEEPSEEK,
            slug=f"deepseek-{day}",
            title=f"DeepSeek news of 2{day} November",
            published=datetime(2026, 11, 20 + day, 9, 0, tzinfo=UTC),
        )
        for day in (3, 1, 5, 2, 4)  # the feed's order is not the order of publication
    ]
    for story in stories:
        room.publish(story, "tech")
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'cap.db'}")
    config.write_text(config.read_text().replace("[polling]", "[polling]\nmax_new_per_poll = 2"))
    app = open_app(config)
    try:
        app.sync()
        seen: list[list[str]] = []
        for _ in range(3):
            before = {s.slug for s in stories if web_server.count(f"/news/{s.slug}")}
            summary = poll(app)
            now = {s.slug for s in stories if web_server.count(f"/news/{s.slug}")}
            seen.append(sorted(now - before))
            assert summary.failures == 0
    finally:
        app.close()
    assert seen == [
        ["deepseek-1", "deepseek-2"],
        ["deepseek-3", "deepseek-4"],
        ["deepseek-5"],
    ]
