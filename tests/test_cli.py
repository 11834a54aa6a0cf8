"""The CLI as people see it: tables, plain diffs, extraction of saved pages, hostile text."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import cli
from monitor.demo.newsroom import NewsArticle, Newsroom
from monitor.demo.webserver import WebServer
from tests.test_end_to_end import CHIPS, DEEPSEEK, Monitor, write_config

pytestmark = pytest.mark.integration
PAGES = Path(__file__).parent / "data" / "pages"

HOSTILE = NewsArticle(
    slug="hostile",
    title="[bold red]DeepSeek[/] \x1b[31mred\x1b[0m headline",
    paragraphs=DEEPSEEK.paragraphs,
)
# A right-to-left override that makes "gnp.exe" read "exe.png", and an OSC 8 hyperlink
# that would hide an address behind the words "the release notes".
SPOOFING = NewsArticle(
    slug="spoofing",
    title=(
        "DeepSeek ships \u202egnp.exe\u202c, see "
        "\x1b]8;;https://evil.example/\x1b\\the release notes\x1b]8;;\x1b\\"
    ),
    paragraphs=DEEPSEEK.paragraphs,
)


@pytest.fixture
def monitor(tmp_path: Path, web_server: WebServer) -> Monitor:
    return Monitor(
        write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'm.db'}"), CliRunner()
    )


def publish_and_poll(monitor: Monitor, web_server: WebServer, *articles: NewsArticle) -> None:
    """The articles on one feed of a local newsroom, polled once: each a new story."""
    room = Newsroom()
    room.serve(web_server)
    for article in articles:
        room.publish(article, "tech")
    assert f"{len(articles)} new" in monitor("poll")


def test_tables_show_web_text_literally_and_without_escapes(
    monitor: Monitor, web_server: WebServer
) -> None:
    publish_and_poll(monitor, web_server, HOSTILE, CHIPS)
    table = monitor("list")
    assert "[bold red]DeepSeek[/]" in table
    assert "\x1b" not in table
    assert "Commerce Department tightens" in table
    story_id = next(s["id"] for s in monitor.json("list") if "[bold red]" in s["title"])
    shown = monitor("show", str(story_id))
    assert "[bold red]DeepSeek[/]" in shown and "\x1b" not in shown
    assert "DeepSeek said on Tuesday" in shown


def test_bidi_overrides_and_hyperlinks_never_reach_the_terminal(
    monitor: Monitor, web_server: WebServer
) -> None:
    publish_and_poll(monitor, web_server, SPOOFING)
    (story,) = monitor.json("list")
    assert "\u202e" in story["title"]  # stored as published: only what is shown is cleaned
    for shown in (monitor("list"), monitor("show", str(story["id"]))):
        assert not any(char in shown for char in "\x1b\x07\u202c\u202e")
        assert "evil.example" not in shown
        assert "gnp.exe" in shown and "the release notes" in shown


def test_diff_of_a_story_with_one_version_says_so(monitor: Monitor, web_server: WebServer) -> None:
    room = Newsroom()
    room.serve(web_server)
    room.publish(CHIPS, "tech")
    monitor("poll")
    story_id = monitor.json("list")[0]["id"]
    result = monitor.runner.invoke(cli, ["--config", str(monitor.config), "diff", str(story_id)])
    assert result.exit_code == 1
    assert "has one version" in result.stderr


def test_headline_change_is_reported(monitor: Monitor, web_server: WebServer) -> None:
    room = Newsroom()
    room.serve(web_server)
    room.publish(CHIPS, "tech")
    monitor("poll")
    room.edit(CHIPS.slug, title="US tightens export controls on AI chips")
    time.sleep(1.2)
    assert "1 changed" in monitor("poll")
    story_id = monitor.json("list", "--changed")[0]["id"]
    diff = monitor.json("diff", str(story_id), "--from", "1", "--to", "2")
    assert diff["title_changed"] == {
        "old": CHIPS.title,
        "new": "US tightens export controls on AI chips",
    }
    assert diff["changes"] == []


def test_poll_of_an_unknown_source_is_refused(monitor: Monitor) -> None:
    result = monitor.runner.invoke(
        cli, ["--config", str(monitor.config), "poll", "--source", "nope"]
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == "monitor: no source named 'nope' in the configuration"


def test_extract_prints_one_json_object_per_file(monitor: Monitor) -> None:
    pages = sorted(PAGES.glob("*.html"))[:2]
    out = monitor("extract", *map(str, pages), "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in records] == [str(p) for p in pages]
    assert set(records[0]) == {
        "path", "title", "byline", "published", "canonical_url", "text", "not_article"
    }  # fmt: skip
    assert all(r["text"] for r in records)


def test_extract_says_when_a_page_is_not_the_article(monitor: Monitor) -> None:
    wall = PAGES / "consent_wall.html"
    [record] = [json.loads(line) for line in monitor("extract", str(wall), "--json").splitlines()]
    assert record["not_article"] == "consent wall"
    assert "not_article: consent wall" in monitor("extract", str(wall))
    assert "not_article: -" in monitor("extract", str(PAGES / "news_article.html"))


def test_extract_of_a_missing_file_names_it(monitor: Monitor, tmp_path: Path) -> None:
    missing = tmp_path / "missing.html"
    result = monitor.runner.invoke(cli, ["extract", str(missing)])
    assert result.exit_code == 1
    assert str(missing) in result.stderr


def test_poll_shows_a_progress_bar_only_on_a_terminal(
    monitor: Monitor, web_server: WebServer
) -> None:
    room = Newsroom()
    room.serve(web_server)
    room.publish(CHIPS, "tech")
    args = ["--config", str(monitor.config), "poll", "--source", "daily-test-tech"]
    on_terminal = monitor.runner.invoke(cli, args, env={"TTY_COMPATIBLE": "1"})
    assert on_terminal.exit_code == 0
    assert "polling" in on_terminal.stdout and "1/1" in on_terminal.stdout
    piped = monitor.runner.invoke(cli, args)
    assert "polling" not in piped.stdout
    as_json = monitor.runner.invoke(cli, [*args, "--json"], env={"TTY_COMPATIBLE": "1"})
    assert "polling" not in as_json.stdout
    assert json.loads(as_json.stdout)["sources_polled"] == 1


def sources_table(database: Path, columns: str = "*") -> list[tuple[object, ...]]:
    """The `sources` table as the database file has it, in insertion order."""
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute(f"SELECT {columns} FROM sources ORDER BY id").fetchall()


def test_read_only_commands_leave_another_configs_sources_alone(
    tmp_path: Path, web_server: WebServer
) -> None:
    room = Newsroom()
    room.serve(web_server)
    room.publish(CHIPS, "tech")
    database = tmp_path / "shared.db"
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = Monitor(
        write_config(tmp_path / "first", web_server, f"sqlite:///{database}"), CliRunner()
    )
    first("poll")
    before = sources_table(database)
    assert sources_table(database, "name, enabled") == [
        ("daily-test-tech", 1),
        ("daily-test-latest", 1),
    ]
    # A second config names one of those sources and one of its own, not the other.
    second_config = write_config(tmp_path / "second", web_server, f"sqlite:///{database}")
    text = second_config.read_text().replace(
        f'name = "daily-test-latest"\nurl = "{web_server.url("/feeds/latest.xml")}"',
        f'name = "other-wire"\nurl = "{web_server.url("/feeds/wire.xml")}"',
    )
    assert "other-wire" in text
    second_config.write_text(text)
    second = Monitor(second_config, CliRunner())

    rows = {row["name"]: row for row in second.json("sources")}
    assert {
        name: (r["enabled"], r["configured"], r["in_database"]) for name, r in rows.items()
    } == {
        "daily-test-latest": (True, False, True),
        "daily-test-tech": (True, True, True),
        "other-wire": (True, True, False),
    }
    assert rows["daily-test-tech"]["stories"] == 1
    assert rows["other-wire"]["last_polled"] is None and rows["other-wire"]["stories"] == 0
    table = second("sources")
    assert "not yet polled" in table
    assert "1 configured source is not in the database yet" in table
    assert "1 source in the database is not in this configuration" in table
    for command in (("status",), ("status", "--json"), ("list",), ("links",), ("list", "--json")):
        second(*command)

    assert sources_table(database) == before
    assert [(row["name"], row["enabled"]) for row in first.json("sources")] == [
        ("daily-test-latest", True),
        ("daily-test-tech", True),
    ]
    assert all(row["configured"] and row["in_database"] for row in first.json("sources"))
