"""Listing pages, sitemaps and watched articles as sources, end to end through the CLI."""

from __future__ import annotations

import gzip
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.demo.newsroom import NewsArticle, Newsroom
from monitor.demo.webserver import Response, WebServer
from tests.support.paths import unrelated_seeds
from tests.test_end_to_end import CHIPS, DEEPSEEK, FOOTBALL, STARGATE, Monitor

pytestmark = pytest.mark.integration


def config_with(folder: Path, sources: str) -> Path:
    path = folder / "monitor.toml"
    path.write_text(
        f"""
[database]
url = "sqlite:///{folder / "m.db"}"
[fetch]
timeout = "5s"
per_host_delay = "0s"
per_host_concurrency = 4
allow_private_addresses = true
[polling]
interval = "1s"
recheck = ["1h"]
[seeds]
path = "{unrelated_seeds(folder)}"
[[topics]]
name = "deepseek"
keywords = ["DeepSeek"]
[[topics]]
name = "chip-exports"
keywords = ["export controls"]
[[topics]]
name = "stargate"
keywords = ["Stargate"]
{sources}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def room(web_server: WebServer) -> Newsroom:
    newsroom = Newsroom()
    newsroom.serve(web_server)
    for article in (DEEPSEEK, CHIPS, STARGATE, FOOTBALL):
        newsroom.publish(article)
    return newsroom


def listed(monitor: Monitor) -> list[str]:
    return sorted(item["title"] for item in monitor.json("list"))


def test_listing_page_source(tmp_path: Path, web_server: WebServer, room: Newsroom) -> None:
    web_server.route(
        "/tech",
        f"""<html><body><nav><a href="/about">About</a> <a href="/news/{CHIPS.slug}">Top</a></nav>
<h3 class="headline"><a href="/news/{DEEPSEEK.slug}?utm_source=front">DeepSeek prices</a></h3>
<h3 class="headline"><a href="news/{STARGATE.slug}">Stargate campus</a></h3>
<h3 class="headline"><a href="/news/{FOOTBALL.slug}">Cup final</a></h3>
<h3 class="headline"><a href="/video/{CHIPS.slug}">A video</a></h3>
</body></html>""",
    )
    monitor = Monitor(
        config_with(
            tmp_path,
            f"""[[sources]]
name = "front"
kind = "page"
url = "{web_server.url("/tech")}"
links = "h3.headline a"
exclude = "/video/"
""",
        ),
        CliRunner(),
    )
    assert "1 source polled, 2 new" in monitor("poll")
    assert listed(monitor) == sorted([DEEPSEEK.title, STARGATE.title])
    assert web_server.count("/about") == 0 and web_server.count(f"/video/{CHIPS.slug}") == 0


def test_news_sitemap_source_takes_recent_entries(
    tmp_path: Path, web_server: WebServer, room: Newsroom
) -> None:
    now = datetime.now(UTC)
    recent, old = now - timedelta(hours=3), now - timedelta(days=10)

    def url_entry(slug: str, when: datetime) -> str:
        return (
            f"<url><loc>{web_server.url('/news/' + slug)}</loc><news:news><news:publication>"
            "<news:name>The Daily Test</news:name><news:language>en</news:language>"
            f"</news:publication><news:publication_date>{when.isoformat()}</news:publication_date>"
            f"<news:title>{slug}</news:title></news:news></url>"
        )

    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"{url_entry(DEEPSEEK.slug, recent)}{url_entry(CHIPS.slug, old)}</urlset>"
    ).encode()
    web_server.route(
        "/news-sitemap.xml.gz",
        response=Response(
            body=gzip.compress(sitemap), headers={"Content-Type": "application/gzip"}
        ),
    )
    web_server.route(
        "/sitemap-index.xml",
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{web_server.url('/news-sitemap.xml.gz')}</loc>"
        f"<lastmod>{recent.isoformat()}</lastmod></sitemap></sitemapindex>",
        content_type="application/xml",
    )
    monitor = Monitor(
        config_with(
            tmp_path,
            f"""[[sources]]
name = "sitemap"
kind = "sitemap"
url = "{web_server.url("/sitemap-index.xml")}"
max_age = "2d"
""",
        ),
        CliRunner(),
    )
    assert "1 source polled, 1 new" in monitor("poll")
    assert listed(monitor) == [DEEPSEEK.title]
    assert web_server.count(f"/news/{CHIPS.slug}") == 0


def test_watched_article_is_a_story_whatever_its_topic_and_is_checked_every_interval(
    tmp_path: Path, web_server: WebServer, room: Newsroom
) -> None:
    monitor = Monitor(
        config_with(
            tmp_path,
            f"""[[sources]]
name = "cup-report"
kind = "article"
url = "{web_server.url("/news/" + FOOTBALL.slug)}"
""",
        ),
        CliRunner(),
    )
    assert "1 source polled, 1 new" in monitor("poll")
    assert listed(monitor) == [FOOTBALL.title]
    time.sleep(1.1)
    assert "0 new, 0 changed" in monitor("poll")
    room.edit(FOOTBALL.slug, title="Late header settles a tense cup final")
    time.sleep(1.1)
    assert "0 new, 1 changed" in monitor("poll")
    [story] = monitor.json("list", "--changed")
    assert story["version_count"] == 2
    assert monitor.json("show", str(story["id"]))["next_check"] is None  # the source drives it


def test_source_selectors_override_generic_extraction(
    tmp_path: Path, web_server: WebServer, room: Newsroom
) -> None:
    room.publish(NewsArticle(slug="short", title="DeepSeek short", paragraphs=DEEPSEEK.paragraphs))
    monitor = Monitor(
        config_with(
            tmp_path,
            f"""[[sources]]
name = "watched"
kind = "article"
url = "{web_server.url("/news/short")}"
title = "p.byline"
text = ".article-body p:first-child"
""",
        ),
        CliRunner(),
    )
    monitor("poll")
    [story] = monitor.json("list")
    shown = monitor.json("show", str(story["id"]))
    assert shown["title"] == "By Staff reporter"
    assert shown["text"] == DEEPSEEK.paragraphs[0]


def test_sources_command_shows_polling_state(
    tmp_path: Path, web_server: WebServer, room: Newsroom
) -> None:
    room.publish(DEEPSEEK, "tech")
    web_server.route("/broken.xml", status=500, body=b"oops")
    monitor = Monitor(
        config_with(
            tmp_path,
            f"""[[sources]]
name = "good"
url = "{web_server.url("/feeds/tech.xml")}"
[[sources]]
name = "bad"
url = "{web_server.url("/broken.xml")}"
interval = "1m"
""",
        ),
        CliRunner(),
    )
    before = monitor.json("sources")
    assert [(s["name"], s["last_polled"], s["stories"]) for s in before] == [
        ("bad", None, 0),
        ("good", None, 0),
    ]
    assert "2 sources polled, 1 new, 0 changed, 0 duplicates, 1 failure" in monitor("poll")
    bad, good = monitor.json("sources")
    assert good["last_status"] == 200 and good["stories"] == 1 and good["last_error"] is None
    assert bad["last_status"] == 500 and bad["consecutive_failures"] == 1
    assert "500" in bad["last_error"]
    # One interval (1m) ±20 % jitter after the failed poll.
    waited = datetime.fromisoformat(bad["next_poll"]) - datetime.fromisoformat(bad["last_polled"])
    assert timedelta(seconds=47) <= waited <= timedelta(seconds=73)
    table = monitor("sources")
    assert "bad" in table and "500" in table
