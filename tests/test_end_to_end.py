"""The whole path as a user drives it: poll a local newsroom, list, edit, list changed, diff."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from monitor.cli import cli
from monitor.demo.newsroom import NewsArticle, Newsroom, paragraphs_of, seed_text
from monitor.demo.webserver import WebServer

pytestmark = pytest.mark.integration

DEEPSEEK = NewsArticle(
    slug="deepseek-raises-prices",
    title="DeepSeek raises prices for its API as demand from developers surges",
    byline="Ana Lopez",
    paragraphs=(
        "DeepSeek said on Tuesday it would raise the price of access to its application "
        "programming interface, the first increase since the Hangzhou company released its "
        "reasoning model to developers earlier this year.",
        "The company told customers in an email that the new prices would take effect at the "
        "start of next month, citing demand that had outgrown the computing capacity it had "
        "set aside for paying users during the busiest hours of the day.",
        "Developers who build on the model said the increase was modest compared with rival "
        "services, and several said they would keep using it because of its strong results "
        "on coding and mathematics tasks.",
        "Analysts said the move showed the start-up was under pressure to turn its popularity "
        "into revenue while it competes for scarce processors with far larger rivals.",
    ),
)
CHIPS = NewsArticle(
    slug="commerce-tightens-chip-rules",
    title="Commerce Department tightens export controls on advanced AI chips",
    byline="Sam Patel",
    paragraphs=(
        "The US Commerce Department on Wednesday announced new export controls on advanced "
        "artificial intelligence chips, adding dozens of companies to its Entity List and "
        "closing loopholes that officials said had let restricted processors reach China.",
        "The rules, published by the Bureau of Industry and Security, cover a wider range of "
        "accelerators and require licences for shipments to data centres in a longer list of "
        "countries, according to a notice in the Federal Register.",
        "Chipmakers said they were still studying the text. Industry groups warned that the "
        "measures could push customers towards suppliers outside the United States.",
        "Officials said the controls were meant to protect national security and would be "
        "reviewed as the technology changes, and that allies had been consulted in advance.",
    ),
)
STARGATE = NewsArticle(
    slug="stargate-texas-site",
    title="Stargate partners break ground on second data centre campus in Texas",
    byline="Jordan Lee",
    paragraphs=(
        "The partners behind the Stargate artificial intelligence infrastructure project said "
        "on Thursday they had started building a second data centre campus in Texas, part of "
        "a plan to spend hundreds of billions of dollars on computing capacity.",
        "The campus will draw on a mix of grid power and on-site generation, the companies "
        "said, and is expected to employ several hundred people once it is running.",
        "Local officials welcomed the investment but residents raised questions about water "
        "use and the strain on the regional power network during summer heat waves.",
        "The companies did not say how much the second campus would cost or when the first "
        "servers would be switched on, saying only that construction would take two years.",
    ),
)
FOOTBALL = NewsArticle(
    slug="cup-final-report",
    title="Late goal settles a tense cup final in front of a record crowd",
    byline="Chris Morgan",
    paragraphs=(
        "A header in the last minute of extra time settled the cup final on Saturday, ending "
        "a match in which both sides had chances to win it long before the end.",
        "The home side dominated the first half but could not find a way past a goalkeeper "
        "who made a string of fine saves, including one from a penalty just before the break.",
        "The visitors grew into the game after the interval and the crowd, the largest ever "
        "for the fixture, roared them on as the minutes ticked away.",
        "The manager praised his players after the match and said the win was the proudest "
        "moment of his career, dedicating the trophy to the club's supporters.",
    ),
)


def seed_copies() -> tuple[NewsArticle, NewsArticle]:
    """Syndicated copies: another headline, a boilerplate line added, a sentence edited."""
    first = paragraphs_of(seed_text("000"))
    second = list(paragraphs_of(seed_text("002")))
    second[1] = second[1].replace("has not only shaken up", "has shaken up")
    return (
        NewsArticle(
            slug="syndicated-deepseek-app-store",
            title="China's DeepSeek AI app beats ChatGPT on the App Store",
            byline="Partner Wire",
            paragraphs=(
                *first,
                "This article first appeared on Partner Wire and is "
                "republished here with permission.",
            ),
        ),
        NewsArticle(
            slug="republished-deepseek-number-one",
            title="DeepSeek is now the number one free app in the US",
            byline="Wire staff",
            paragraphs=tuple(second),
        ),
    )


@dataclass
class Monitor:
    """Runs the `monitor` CLI in-process, as a user would from a shell."""

    config: Path
    runner: CliRunner

    def __call__(self, *args: str, code: int = 0) -> str:
        result = self.runner.invoke(cli, ["--config", str(self.config), *args])
        assert result.exit_code == code, result.output + (result.stderr or "")
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json"))


def write_config(folder: Path, server: WebServer, database_url: str) -> Path:
    seeds = Path(__file__).resolve().parents[1] / "config" / "seeds"
    config = folder / "monitor.toml"
    config.write_text(
        f"""
[database]
url = "{database_url}"
[fetch]
timeout = "5s"
per_host_delay = "0s"
per_host_concurrency = 4
allow_private_addresses = true
[polling]
interval = "1s"
recheck = ["1s", "1s", "1s", "1h"]
[seeds]
path = "{seeds}"
[[topics]]
name = "deepseek"
keywords = ["DeepSeek", "Liang Wenfeng"]
[[topics]]
name = "chip-exports"
keywords = ["export controls", "Entity List", "H800"]
[[topics]]
name = "stargate"
keywords = ["Stargate"]
[[sources]]
name = "daily-test-tech"
url = "{server.url("/feeds/tech.xml")}"
[[sources]]
name = "daily-test-latest"
url = "{server.url("/feeds/latest.xml")}"
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def newsroom(web_server: WebServer) -> Newsroom:
    room = Newsroom()
    room.serve(web_server)
    for article in (DEEPSEEK, CHIPS, STARGATE, *seed_copies()):
        room.publish(article, "tech")
    room.publish(FOOTBALL, "latest")
    # The same DeepSeek story again, under a link with tracking parameters.
    room.list_link("latest", f"/news/{DEEPSEEK.slug}?utm_source=twitter&utm_medium=social")
    return room


@pytest.fixture
def monitor(tmp_path: Path, web_server: WebServer, db_url: str) -> Monitor:
    run = Monitor(write_config(tmp_path, web_server, db_url), CliRunner())
    assert "database schema upgraded from empty to" in run("db", "upgrade")
    return run


def titles(listing: list[dict[str, Any]]) -> list[str]:
    return sorted(item["title"] for item in listing)


def test_poll_list_edit_diff(monitor: Monitor, newsroom: Newsroom, web_server: WebServer) -> None:
    summary = monitor("poll")
    assert "2 sources polled, 3 new, 0 changed, 2 duplicates, 0 failures" in summary

    listing = monitor.json("list")
    assert titles(listing) == sorted([DEEPSEEK.title, CHIPS.title, STARGATE.title])
    by_title = {item["title"]: item for item in listing}
    assert by_title[DEEPSEEK.title]["topics"] == ["deepseek"]
    assert by_title[CHIPS.title]["topics"] == ["chip-exports"]
    assert by_title[STARGATE.title]["url"] == web_server.url(f"/news/{STARGATE.slug}")
    assert all(item["version_count"] == 1 and item["duplicate_of"] is None for item in listing)
    assert all(item["first_seen"].endswith("Z") for item in listing)
    # The tracking-parameter link was the same story: fetched once, listed once.
    assert web_server.count(f"/news/{DEEPSEEK.slug}") == 1

    everything = monitor.json("list", "--include-duplicates")
    copies = {item["title"]: item["duplicate_of"] for item in everything if item["duplicate_of"]}
    first_copy, second_copy = seed_copies()
    assert copies[first_copy.title]["kind"] == "seed"
    assert copies[first_copy.title]["id"].startswith("000_")
    assert copies[second_copy.title]["id"].startswith("002_")
    assert all(0.5 <= dup["similarity"] <= 1.0 for dup in copies.values())
    assert FOOTBALL.title not in titles(everything)  # off-topic: remembered, never listed

    time.sleep(1.2)
    assert "0 new, 0 changed, 0 duplicates, 0 failures" in monitor("poll")
    assert monitor.json("list", "--changed") == []
    assert web_server.count(f"/news/{DEEPSEEK.slug}") == 2  # re-checked, found unchanged

    edited = list(CHIPS.paragraphs)
    edited[1] = edited[1].replace("a longer list of countries", "forty-three countries")
    newsroom.edit(CHIPS.slug, paragraphs=tuple(edited))
    time.sleep(1.2)
    assert "0 new, 1 changed" in monitor("poll")

    changed = monitor.json("list", "--changed")
    assert [(item["title"], item["version_count"]) for item in changed] == [(CHIPS.title, 2)]
    assert changed[0]["last_changed"] is not None

    diff = monitor.json("diff", str(changed[0]["id"]))
    assert diff["from_version"] == 1 and diff["to_version"] == 2
    assert diff["title_changed"] is None
    assert [(c["op"], c["old"].strip(), c["new"].strip()) for c in diff["changes"]] == [
        ("replace", "a longer list of", "forty-three")
    ]
    plain = monitor("diff", str(changed[0]["id"]), "--no-color")
    assert "[-a longer list of-]{+forty-three+}" in plain.replace("[- ", "[-")

    shown = monitor.json("show", str(changed[0]["id"]))
    assert "forty-three countries" in shown["text"]
    assert [v["number"] for v in shown["versions"]] == [1, 2]
    for furniture in ("Most read", "minutes ago", "All rights reserved", "Subscribe"):
        assert furniture not in shown["text"]


def test_unknown_story_and_bad_config_are_one_line_errors(monitor: Monitor, tmp_path: Path) -> None:
    result = monitor.runner.invoke(cli, ["--config", str(monitor.config), "show", "999"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "monitor: no story with id 999"

    bad = tmp_path / "bad.toml"
    bad.write_text('[polling]\ninterval = "soon"\n', encoding="utf-8")
    result = monitor.runner.invoke(cli, ["--config", str(bad), "list"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "monitor: bad.toml: polling.interval: 'soon' is not a duration (use e.g. 30s, 15m, 1h, 2d)"
    )
