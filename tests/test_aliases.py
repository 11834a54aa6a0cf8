"""One story, many URLs: AMP, mobile, print, canonical links and redirects."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.core.urls import identity_key
from monitor.demo.newsroom import Newsroom
from monitor.demo.webserver import WebServer
from tests.test_end_to_end import CHIPS, Monitor, write_config


@pytest.mark.parametrize(
    "variant",
    [
        "https://www.example.org/tech/story",
        "http://example.org/tech/story/",
        "https://m.example.org/tech/story",
        "https://mobile.example.org/tech/story",
        "https://amp.example.org/tech/story",
        "https://example.org/tech/story/amp",
        "https://example.org/tech/story/amp/",
        "https://example.org/tech/story?output=amp",
        "https://example.org/tech/story/print",
        "https://example.org/tech/story?print=1&utm_source=x",
        "https://example.org/tech/story#comments",
    ],
)
def test_variants_of_one_page_share_a_key(variant: str) -> None:
    assert identity_key(variant) == identity_key("https://example.org/tech/story")


@pytest.mark.parametrize(
    "other",
    [
        "https://example.org/tech/story-2",
        "https://example.org/tech/story?id=2",
        "https://example.net/tech/story",
        "https://news.example.org/tech/story",
    ],
)
def test_other_pages_do_not(other: str) -> None:
    assert identity_key(other) != identity_key("https://example.org/tech/story")


@pytest.mark.integration
def test_amp_redirect_and_canonical_variants_are_one_story(
    tmp_path: Path, web_server: WebServer, db_url: str
) -> None:
    room = Newsroom()
    room.serve(web_server)
    room.publish(CHIPS, "tech")
    amp = f"/news/{CHIPS.slug}/amp"  # serves the page; its rel=canonical names the real one
    web_server.route(amp, handler=lambda _request: room.page_response(CHIPS.slug))
    web_server.redirect("/r/chips", f"/news/{CHIPS.slug}")
    room.list_link("latest", amp)
    room.list_link("latest", "/r/chips")  # a redirect to the article
    room.list_link("latest", f"/news/{CHIPS.slug}?output=amp")
    monitor = Monitor(write_config(tmp_path, web_server, db_url), CliRunner())
    monitor("db", "upgrade")

    assert "1 new" in monitor("poll", "--source", "daily-test-tech")
    assert "0 new" in monitor("poll", "--source", "daily-test-latest")
    [story] = monitor.json("list")
    assert story["url"] == web_server.url(f"/news/{CHIPS.slug}")
    shown = monitor.json("show", str(story["id"]))
    assert web_server.url("/r/chips") in shown["aliases"]
    assert web_server.url(amp) not in shown["aliases"]  # same key as the story's own URL
    assert web_server.count("/r/chips") == 1
    assert web_server.count(f"/news/{CHIPS.slug}/amp") == 0  # known by its key: not fetched
    assert "also at" in monitor("show", str(story["id"]))
