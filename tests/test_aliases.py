"""One story, many URLs: AMP, mobile, print, canonical links and redirects."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.core.decide import story_urls
from monitor.core.urls import identity_key
from monitor.demo.newsroom import Newsroom
from monitor.demo.webserver import Response, WebServer
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


@pytest.mark.integration
def test_a_syndicated_page_keeps_its_own_url_and_records_the_partners_canonical(
    tmp_path: Path, web_server: WebServer, db_url: str
) -> None:
    # The partner (the original) answers on another address, so another registrable domain.
    with WebServer(host="127.0.0.2") as partner_server:
        partner = Newsroom()
        partner.serve(partner_server)
        partner.publish(CHIPS, "tech")
        original = partner_server.url(f"/news/{CHIPS.slug}")
        ours = Newsroom()
        ours.serve(web_server)
        ours.publish(CHIPS, "tech")  # republished: its rel=canonical names the partner's page
        copy = f"/news/{CHIPS.slug}"
        web_server.route(
            copy,
            handler=lambda _request: Response(
                body=ours.article_html(CHIPS.slug, base_url=partner_server.base_url) or b"",
                headers={"Content-Type": "text/html; charset=utf-8"},
            ),
        )
        config = write_config(tmp_path, web_server, db_url)
        monitor = Monitor(config, CliRunner())
        monitor("db", "upgrade")

        assert "1 new" in monitor("poll", "--source", "daily-test-tech")
        [story] = monitor.json("list")
        assert story["url"] == web_server.url(copy)  # not the partner's URL
        shown = monitor.json("show", str(story["id"]))
        assert shown["canonical_hint"] == original
        assert original not in shown["aliases"]
        assert "canonical on another site (not followed): " + original in monitor(
            "show", str(story["id"])
        )
        assert partner_server.count(f"/news/{CHIPS.slug}") == 0

        # The partner's own feed: its original is a story of its own, not an alias of ours.
        config.write_text(
            config.read_text(encoding="utf-8")
            + f'[[sources]]\nname = "partner"\nurl = "{partner_server.url("/feeds/tech.xml")}"\n',
            encoding="utf-8",
        )
        summary = monitor("poll", "--source", "partner")
        assert "0 new" in summary and "1 duplicate" in summary  # the same text: folded as a copy
        stories = monitor.json("list", "--include-duplicates")
        assert {s["url"] for s in stories} == {web_server.url(copy), original}
        assert partner_server.count(f"/news/{CHIPS.slug}") == 1


def test_a_same_site_canonical_still_names_the_story() -> None:
    found = story_urls(
        "https://m.example.co.uk/r/1",
        "https://m.example.co.uk/news/story?utm_source=x",
        "https://www.example.co.uk/news/story",
    )
    assert list(found.urls.values())[-1] == "https://www.example.co.uk/news/story"
    assert found.canonical_hint is None
    elsewhere = story_urls(
        "https://news.partner.co.uk/a", "https://news.partner.co.uk/a", "https://other.co.uk/a"
    )
    assert list(elsewhere.urls.values()) == ["https://news.partner.co.uk/a"]
    assert elsewhere.canonical_hint == "https://other.co.uk/a"
