"""Every command tells the truth, in one line when it refuses, and reads well: issue 13's
defects, each with the test that would have caught it."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from monitor.cli import cli
from monitor.core.extract import extract_article
from monitor.core.sources.feed import parse_feed
from monitor.demo import content
from monitor.demo.newsroom import Newsroom
from monitor.demo.webserver import Response, WebServer
from monitor.store.db import lock_file
from tests.test_end_to_end import CHIPS, DEEPSEEK, STARGATE, Monitor, seed_copies, write_config
from tests.test_service import monitor_process, reap, stop_service, wait_for_stories

pytestmark = pytest.mark.integration

BOX_DRAWING = re.compile("[\u2500-\u257f]")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
ONE_HOUR_503 = Response(status=503, body=b"down", headers={"Retry-After": "3600"})


@pytest.fixture
def monitor(tmp_path: Path, web_server: WebServer) -> Monitor:
    return Monitor(
        write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'm.db'}"), CliRunner()
    )


@pytest.fixture
def room(web_server: WebServer) -> Newsroom:
    newsroom = Newsroom()
    newsroom.serve(web_server)
    return newsroom


def invoke(monitor: Monitor, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = monitor.runner.invoke(cli, ["--config", str(monitor.config), *args], env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's local time zone is Tokyo (UTC+9, no daylight saving) meanwhile."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# ---------------------------------------------------------------- refusals, one line each


@pytest.mark.parametrize(
    ("seeds", "message"),
    [("no-such-folder", "no such folder:"), ("empty", "no seed files (*.txt) in")],
)
@pytest.mark.parametrize("command", [("list",), ("poll",), ("run",), ("status",)])
def test_a_missing_or_empty_seeds_folder_is_refused_at_start(
    monitor: Monitor, tmp_path: Path, seeds: str, message: str, command: tuple[str, ...]
) -> None:
    (tmp_path / "empty").mkdir()
    text = re.sub(r'(?m)^path = ".*"$', f'path = "{seeds}"', monitor.config.read_text())
    monitor.config.write_text(text, encoding="utf-8")
    code, _, stderr = invoke(monitor, *command)
    assert code == 2
    assert stderr.strip() == (
        f"monitor: monitor.toml: seeds.path: {message} {(tmp_path / seeds).resolve()}"
    )


@pytest.mark.parametrize(
    "command", [("show",), ("diff",), ("history",), ("reextract",), ("show", "--json")]
)
def test_an_unknown_story_id_is_refused_by_every_command_that_takes_one(
    monitor: Monitor, room: Newsroom, command: tuple[str, ...]
) -> None:
    room.publish(CHIPS, "tech")
    monitor("poll")
    code, stdout, stderr = invoke(monitor, command[0], "99999", *command[1:])
    assert (code, stdout, stderr) == (1, "", "monitor: no story with id 99999\n")


def test_reextract_names_every_unknown_id_and_touches_nothing(
    monitor: Monitor, room: Newsroom
) -> None:
    room.publish(CHIPS, "tech")
    monitor("poll")
    (story,) = monitor.json("list")
    code, _, stderr = invoke(monitor, "reextract", str(story["id"]), "99998", "99999")
    assert (code, stderr) == (1, "monitor: no stories with ids 99998, 99999\n")
    assert "1 story, 1 version re-extracted" in monitor("reextract", str(story["id"]))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("list", "--new", "--changed"), "monitor: --new and --changed exclude each other"),
        (("list", "--changed", "--removed"), "monitor: --changed and --removed exclude each"),
        (("list", "--topic", "nosuch"), "monitor: no topic named 'nosuch' in the configuration"),
        (("poll", "--source", "nosuch"), "monitor: no source named 'nosuch' in the configuration"),
        (("show", "abc"), "monitor show: Invalid value for 'ID'"),
        (("list", "--bogus"), "monitor list: No such option: --bogus"),
        (("db", "sideways"), "monitor db: No such command 'sideways'"),
    ],
)
def test_a_command_line_that_asks_the_impossible_is_one_line_exit_2(
    monitor: Monitor, args: tuple[str, ...], message: str
) -> None:
    code, stdout, stderr = invoke(monitor, *args)
    assert code == 2, stderr
    assert stdout == ""
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith(message), stderr
    assert "Usage:" not in stderr


def test_a_topic_known_only_to_stored_stories_is_still_listed(
    monitor: Monitor, room: Newsroom
) -> None:
    room.publish(CHIPS, "tech")
    monitor("poll")
    monitor.config.write_text(
        monitor.config.read_text().replace('name = "chip-exports"', 'name = "chips"')
    )
    assert [s["title"] for s in monitor.json("list", "--topic", "chip-exports")] == [CHIPS.title]


def test_help_names_argument_kinds_in_words(monitor: Monitor) -> None:
    group = typer.main.get_command(cli)
    assert isinstance(group, typer.core.TyperGroup)
    commands: list[tuple[str, ...]] = [()]
    for name, command in group.commands.items():
        commands.append((name,))
        if isinstance(command, typer.core.TyperGroup):
            commands += [(name, sub) for sub in command.commands]
    for args in commands:
        code, stdout, _ = invoke(monitor, *args, "--help")
        assert code == 0
        assert "<" not in stdout and " range" not in stdout, (args, stdout)


# ---------------------------------------------------------------- counts and messages


def test_poll_counts_are_grammatical_and_each_error_is_printed_once(
    monitor: Monitor, room: Newsroom, web_server: WebServer
) -> None:
    room.publish(CHIPS, "tech")
    web_server.route("/feeds/latest.xml", response=Response(status=503, body=b"down"))
    code, stdout, stderr = invoke(monitor, "poll", "--source", "daily-test-tech")
    assert code == 0
    assert stdout.strip() == "1 source polled, 1 new, 0 changed, 0 duplicates, 0 failures"
    code, stdout, stderr = invoke(monitor, "poll", "--source", "daily-test-latest")
    assert stdout.strip() == "1 source polled, 0 new, 0 changed, 0 duplicates, 1 failure"
    assert stderr.count("service unavailable (HTTP 503)") == 1, stderr


def test_poll_says_when_every_source_is_backed_off_and_when_it_tries_again(
    monitor: Monitor, web_server: WebServer, zone: None
) -> None:
    for path in ("/feeds/tech.xml", "/feeds/latest.xml"):
        web_server.route(path, response=ONE_HOUR_503)
    assert "2 sources polled" in monitor("poll")
    again = monitor("poll").strip()
    assert again.startswith(
        "0 sources polled, 0 new, 0 changed, 0 duplicates, 0 failures: every source is backed "
        "off after failures; the next attempt is at "
    ), again
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d JST \(in (59m\d+s|1h)\)$", again), again
    document = monitor.json("poll")
    assert document["sources_polled"] == 0
    assert document["waiting"].startswith("every source is backed off")
    assert document["next_poll"].endswith("Z")


def test_sources_counts_are_grammatical(monitor: Monitor, tmp_path: Path) -> None:
    table = monitor("sources")
    assert "2 configured sources are not in the database yet" in table
    monitor.config.write_text(
        monitor.config.read_text().rsplit("[[sources]]", 1)[0], encoding="utf-8"
    )
    assert (
        "1 configured source is not in the database yet: `monitor poll` or `monitor run` adds it."
        in (monitor("sources"))
    )


def test_the_service_counts_the_passes_that_ran_and_says_when_all_sources_are_backed_off(
    tmp_path: Path, web_server: WebServer
) -> None:
    for path in ("/feeds/tech.xml", "/feeds/latest.xml"):
        web_server.route(path, response=ONE_HOUR_503)
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'run.db'}")
    process = subprocess.Popen(
        monitor_process("--config", str(config), "run"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        while not any("backed off" in line for line in seen):
            seen.append(lines.get(timeout=60))  # ticks come every second
        # Some more ticks find nothing due: they are not passes, and say nothing new.
        while web_server.count("/feeds/tech.xml") == 1 and len(seen) < 4:
            try:
                seen.append(lines.get(timeout=3))
            except queue.Empty:
                break
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        reader.join(timeout=30)
    finally:
        reap(process)
    while not lines.empty():
        seen.append(lines.get())
    text = "".join(seen)
    assert process.returncode == 0, text
    assert "monitor running: 2 sources" in text
    assert text.count("pass: 2 sources polled, 0 new, 0 changed, 0 duplicates, 2 failures") == 1
    assert text.count("every source is backed off after failures; the next attempt is at ") == 1
    assert "monitor stopped after 1 pass\n" in text, text


def test_no_lock_file_is_left_beside_the_database(
    monitor: Monitor, room: Newsroom, tmp_path: Path, web_server: WebServer
) -> None:
    room.publish(CHIPS, "tech")
    monitor("poll")  # migrates the new file under the migration lock
    assert sorted(p.name for p in tmp_path.glob("*.lock")) == []
    process = subprocess.Popen(
        monitor_process("--config", str(monitor.config), "run"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        room.publish(STARGATE, "tech")
        assert len(wait_for_stories(monitor.config, 2, time.monotonic() + 30)) == 2  # it runs
        assert (tmp_path / "m.db-service.lock").exists()
        stop_service(process)
    finally:
        reap(process)
    assert process.returncode == 0
    assert sorted(p.name for p in tmp_path.glob("*.lock")) == []


def test_a_lock_file_removed_by_its_holder_is_taken_anew(tmp_path: Path) -> None:
    """The waiter that opened the file before it was removed must not count its lock."""
    path = tmp_path / "x.lock"
    with lock_file(path, wait=False):
        with pytest.raises(BlockingIOError), lock_file(path, wait=False):
            pass
        assert path.exists()
    assert not path.exists()
    with lock_file(path, wait=True):
        assert path.exists()
    assert not path.exists()


def test_seeds_lists_the_loaded_seeds_and_the_copies_found(
    monitor: Monitor, room: Newsroom
) -> None:
    room.publish(seed_copies()[0], "tech")
    room.publish(CHIPS, "tech")
    monitor("poll")
    rows = monitor.json("seeds")
    assert [(r["id"][:3], r["copies"]) for r in rows] == [("000", 1), ("002", 0)]
    assert rows[0]["title"].startswith("A recent report reveals that Chinese startup DeepSeek")
    assert all(r["words"] > 300 and r["loaded"].endswith("Z") for r in rows)
    table = monitor("seeds")
    assert rows[0]["id"] in table and rows[1]["id"] in table
    assert "2 seeds from" in table


# ---------------------------------------------------------------- readable output


def test_list_at_80_columns_shows_one_line_per_story_in_the_local_zone(
    monitor: Monitor, room: Newsroom, zone: None
) -> None:
    long = DEEPSEEK.__class__(
        slug="long-headline",
        title="DeepSeek " + "and a headline that goes on and on " * 4 + "to the very end",
        paragraphs=DEEPSEEK.paragraphs,
    )
    for article in (long, CHIPS, STARGATE):
        room.publish(article, "tech")
    monitor("poll")
    terminal = {"TTY_COMPATIBLE": "1", "COLUMNS": "80", "NO_COLOR": "1"}
    code, table, _ = invoke(monitor, "list", env=terminal)
    assert code == 0
    lines = ANSI.sub("", table).rstrip("\n").splitlines()
    assert len(lines) == 1 + 3, table  # the header and one line per story
    assert all(len(line) <= 80 for line in lines), table
    assert "seen (JST)" in lines[0]
    assert any(line.rstrip().endswith("…") and "DeepSeek and a headline" in line for line in lines)
    assert "The Daily Test" in table  # the page's og:site_name, not the source's name
    stories = monitor.json("list")
    first_seen = stories[0]["first_seen"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first_seen)  # no microseconds
    hour = (int(first_seen[11:13]) + 9) % 24
    assert f"{hour:02d}:{first_seen[14:16]}" in lines[1]
    code, in_utc, _ = invoke(monitor, "list", "--utc", env=terminal)
    in_utc = ANSI.sub("", in_utc)
    assert "seen (UTC)" in in_utc and f"{first_seen[11:16]}" in in_utc.splitlines()[1]


def test_piped_tables_are_plain_ascii_with_every_character(
    monitor: Monitor, room: Newsroom
) -> None:
    room.publish(CHIPS, "tech")
    monitor("poll")
    story_id = str(monitor.json("list")[0]["id"])
    for command in (
        ("list",),
        ("list", "--clusters"),
        ("sources",),
        ("show", story_id),
        ("history", story_id),
        ("seeds",),
    ):
        shown = monitor(*command)
        assert not BOX_DRAWING.search(shown), (command, shown)
        assert "|" in shown or "+" in shown, (command, shown)
    assert CHIPS.title in monitor("list")


def test_outlets_are_named_as_the_page_or_feed_names_them(
    monitor: Monitor, web_server: WebServer
) -> None:
    """og:site_name (The Daily Demo), JSON-LD publisher (Pacific Wire), else the feed's title."""
    room = Newsroom(content.OUTLETS.values(), content.FEEDS)
    room.serve(web_server)
    daily, wire = content.OUTLETS["daily"], content.OUTLETS["wire"]
    daily_feed = next(f for f in content.FEEDS if f.outlet == "daily")
    wire_feed = next(f for f in content.FEEDS if f.outlet == "wire")
    room.publish(CHIPS, daily_feed.name)
    room.publish(DEEPSEEK, wire_feed.name)
    text = monitor.config.read_text()
    text = text.replace(web_server.url("/feeds/tech.xml"), web_server.url(daily_feed.path))
    text = text.replace(web_server.url("/feeds/latest.xml"), web_server.url(wire_feed.path))
    monitor.config.write_text(text, encoding="utf-8")
    monitor("poll")
    outlets = {s["title"]: (s["outlet"], s["source"]) for s in monitor.json("list")}
    assert outlets == {
        CHIPS.title: (daily.name, "daily-test-tech"),
        DEEPSEEK.title: (wire.name, "daily-test-latest"),
    }
    assert [c["outlets"] for c in monitor.json("list", "--clusters")] in (
        [[daily.name], [wire.name]],
        [[wire.name], [daily.name]],
        [sorted([daily.name, wire.name])],
        [[wire.name, daily.name]],
    )


def test_extraction_and_feeds_name_their_publication() -> None:
    page = (
        '<html><head><meta property="og:site_name" content="The Example Times">'
        "</head><body><article><h1>Headline</h1><p>Text.</p></article></body></html>"
    )
    assert extract_article(page, "https://example.org/a").site_name == "The Example Times"
    ld = (
        '<html><head><script type="application/ld+json">{"@type": "NewsArticle", '
        '"headline": "H", "publisher": {"@type": "Organization", "name": "Wire &amp; Co"}}'
        "</script></head><body><p>Text.</p></body></html>"
    )
    assert extract_article(ld, "https://example.org/b").site_name == "Wire & Co"
    assert extract_article("<p>Nothing named.</p>", "https://example.org/c").site_name is None
    feed = (
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>Example &amp; Co news"
        b"</title><item><title>T</title><link>https://example.org/s</link></item>"
        b"</channel></rss>"
    )
    for fast in (True, False):
        (entry,) = parse_feed(feed, "https://example.org/rss", fast=fast).entries
        assert entry.feed_title == "Example & Co news"


def test_a_page_without_a_name_shows_the_feeds_title(
    monitor: Monitor, web_server: WebServer
) -> None:
    link = web_server.url("/plain/chips")
    paragraphs = "".join(f"<p>{p}</p>" for p in CHIPS.paragraphs)
    page = f"<html><head><title>{CHIPS.title}</title></head><body><article><h1>{CHIPS.title}"
    web_server.route(
        "/plain/chips",
        response=Response(
            body=f"{page}</h1>{paragraphs}</article></body></html>".encode(),
            headers={"Content-Type": "text/html; charset=utf-8"},
        ),
    )
    feed = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Plain Gazette</title>"
        f"<item><title>{CHIPS.title}</title><link>{link}</link></item></channel></rss>"
    )
    web_server.route(
        "/feeds/tech.xml",
        response=Response(body=feed.encode(), headers={"Content-Type": "application/rss+xml"}),
    )
    monitor("poll")
    (story,) = monitor.json("list")
    assert (story["outlet"], story["source"]) == ("Plain Gazette", "daily-test-tech")


def test_show_says_when_a_story_was_removed(monitor: Monitor, room: Newsroom, zone: None) -> None:
    room.publish(CHIPS, "tech")
    monitor("poll")
    room.take_down(CHIPS.slug)
    time.sleep(1.2)  # the first re-check is due a second after the story was seen
    assert "1 changed" in monitor("poll")
    (story,) = monitor.json("list", "--removed")
    detail = monitor.json("show", str(story["id"]))
    assert detail["removed_at"] == story["last_changed"]
    shown = monitor("show", str(story["id"]))
    assert re.search(r"removed: the page has been gone since \d{4}-\d\d-\d\d \d\d:\d\d JST", shown)
    assert "the text as last seen (version 1):" in shown
    assert CHIPS.paragraphs[0][:40] in shown
    assert "(no text)" not in shown


def test_a_log_line_is_printed_above_the_progress_bar_not_over_it(
    monitor: Monitor, room: Newsroom
) -> None:
    """On a terminal, logging goes through the bar's console while the bar is drawn: the
    console clears the bar, prints the line and draws the bar again below it."""
    room.publish(CHIPS, "tech")
    result = monitor.runner.invoke(
        cli,
        ["--config", str(monitor.config), "-v", "poll", "--source", "daily-test-tech"],
        env={"TTY_COMPATIBLE": "1", "NO_COLOR": "1"},
    )
    assert result.exit_code == 0
    assert "polling" in result.stdout
    assert "source daily-test-tech: 1 entries, 1 new" in result.stdout
    assert "source daily-test-tech" not in result.stderr
    piped = monitor.runner.invoke(
        cli, ["--config", str(monitor.config), "-v", "poll", "--source", "daily-test-tech"]
    )
    assert "source daily-test-tech: 1 entries, 0 new" in piped.stderr  # no bar: stderr
    assert json.loads(monitor("poll", "--json"))["sources_polled"] >= 0
