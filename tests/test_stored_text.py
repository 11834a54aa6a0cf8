"""What extraction leaves in the store, through real polls of pages on loopback: the demo's
furniture never in a stored text, and a page that is not the article (here a consent wall)
recorded as a rejection with its reason, never stored as a story or a version."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.app import open_app
from monitor.demo import content
from monitor.demo.newsroom import Newsroom
from monitor.demo.webserver import WebServer
from monitor.pipeline.passes import PassSummary
from tests.support.paths import unrelated_seeds
from tests.test_end_to_end import CHIPS, DEEPSEEK, Monitor, write_config
from tests.test_link_failures import Clock
from tests.test_versions import write_config as versions_config

pytestmark = pytest.mark.integration

PAGES = Path(__file__).parent / "data" / "pages"
CONSENT_WALL = (PAGES / "consent_wall.html").read_bytes()
WALLED = replace(CHIPS, slug="walled-story", title="A story behind a consent wall at first")


def test_the_demo_outlets_furniture_is_not_in_the_stored_text(
    tmp_path: Path, web_server: WebServer
) -> None:
    room = Newsroom(content.OUTLETS.values(), content.FEEDS)
    room.serve(web_server)
    room.publish(content.WIRE_ENTITY_LIST, "pacific-wire")
    room.publish(content.CHIP_RULE, "daily-demo-tech")
    config = tmp_path / "monitor.toml"
    config.write_text(
        f"""
[database]
url = "sqlite:///{tmp_path / "m.db"}"
[fetch]
per_host_delay = "0s"
allow_private_addresses = true
[seeds]
path = "{unrelated_seeds(tmp_path)}"
[[topics]]
name = "chip-exports"
keywords = ["Entity List", "export controls", "AI diffusion rule"]
[[sources]]
name = "pacific-wire"
url = "{web_server.url("/wire/rss.xml")}"
[[sources]]
name = "daily-demo-tech"
url = "{web_server.url("/daily/feeds/technology.xml")}"
""",
        encoding="utf-8",
    )
    monitor = Monitor(config, CliRunner())
    assert "2 new" in monitor("poll")
    stories = {story["title"]: story["id"] for story in monitor.json("list")}
    for article in (content.WIRE_ENTITY_LIST, content.CHIP_RULE):
        shown = monitor.json("show", str(stories[article.title]))
        text = shown["text"]
        assert text.split("\n\n") == list(article.paragraphs)
        for furniture in ("Our Standards", "Trust Principles", "All rights reserved", "Share:"):
            assert furniture not in text
        assert "Our Standards" not in monitor("show", str(stories[article.title]))


def poll(app_config: Path, clock: Clock) -> PassSummary:
    app = open_app(app_config, clock=clock)
    try:
        app.sync()

        async def one_pass() -> PassSummary:
            async with app.pipeline() as pipeline:
                return await pipeline.run_pass(["daily-test-tech"], recheck=False)

        return asyncio.run(one_pass())
    finally:
        app.close()


def test_a_consent_wall_is_a_recorded_rejection_until_the_article_shows(
    tmp_path: Path, web_server: WebServer, db_url: str
) -> None:
    room = Newsroom()
    room.serve(web_server)
    room.publish(DEEPSEEK, "tech")
    path = f"/news/{WALLED.slug}"
    room.list_link("tech", path)
    web_server.route(path, CONSENT_WALL)  # what a visitor without cookies is shown
    config = write_config(tmp_path, web_server, db_url)
    monitor = Monitor(config, CliRunner())
    monitor("db", "upgrade")
    clock = Clock()

    first = poll(config, clock)
    assert (first.new, first.failures, web_server.count(path)) == (1, 1, 1)
    assert first.errors == [f"{web_server.url(path)}: not the article: consent wall"]
    titles = {story["title"] for story in monitor.json("list", "--include-duplicates")}
    assert titles == {DEEPSEEK.title}  # nothing stored for the wall, not even off-topic
    (link,) = monitor.json("links")
    assert (link["url"], link["last_error"]) == (
        web_server.url(path),
        "not the article: consent wall",
    )
    assert "not the article: consent wall" in monitor("links")
    assert monitor.json("status")["links_failing"] == 1

    room.publish(WALLED)  # the wall is gone: the article itself answers
    clock.now += timedelta(minutes=40)  # past the first back-off (30 min, +20 % jitter)
    second = poll(config, clock)
    assert (second.new, second.failures, web_server.count(path)) == (1, 0, 2)
    assert monitor.json("links") == []
    [story] = [s for s in monitor.json("list") if s["title"] == WALLED.title]
    assert monitor.json("show", str(story["id"]))["text"].split("\n\n") == list(WALLED.paragraphs)


def test_a_recheck_that_meets_a_consent_wall_writes_no_version(
    tmp_path: Path, web_server: WebServer
) -> None:
    room = Newsroom()
    room.serve(web_server)
    room.publish(CHIPS, "tech")
    monitor = Monitor(versions_config(tmp_path, web_server), CliRunner())
    assert "1 new" in monitor("poll")
    story = monitor.json("list")[0]["id"]
    path = f"/news/{CHIPS.slug}"
    web_server.route(path, CONSENT_WALL)
    for _ in range(2):
        time.sleep(0.12)  # past the 100 ms re-check step
        assert "0 changed" in monitor("poll")
    assert web_server.count(path) >= 3
    history = monitor.json("history", str(story))
    assert [row["number"] for row in history] == [1]
    assert monitor.json("show", str(story))["text"].split("\n\n") == list(CHIPS.paragraphs)

    room.serve(web_server)  # the article again, with a new headline: that is a version
    room.edit(CHIPS.slug, title="US tightens export controls on advanced AI chips")
    time.sleep(0.12)
    assert "1 changed" in monitor("poll")
    assert [row["number"] for row in monitor.json("history", str(story))] == [1, 2]
