"""Versions as users meet them: noise ignored, every change class, removal, history, reextract."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.demo.newsroom import Newsroom
from monitor.demo.webserver import WebServer
from tests.support.paths import unrelated_seeds
from tests.test_end_to_end import CHIPS, Monitor

pytestmark = pytest.mark.integration

TICK = 0.12  # a little longer than the re-check interval below


def write_config(folder: Path, server: WebServer, source_extra: str = "") -> Path:
    path = folder / "monitor.toml"
    path.write_text(
        f"""
[database]
url = "sqlite:///{folder / "m.db"}"
[fetch]
per_host_delay = "0s"
allow_private_addresses = true
[polling]
interval = "1h"
recheck = [{", ".join(['"100ms"'] * 20)}]
[seeds]
path = "{unrelated_seeds(folder)}"
[[topics]]
name = "chip-exports"
keywords = ["export controls"]
[[sources]]
name = "tech"
url = "{server.url("/feeds/tech.xml")}"
{source_extra}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def room(web_server: WebServer) -> Newsroom:
    newsroom = Newsroom()
    newsroom.serve(web_server)
    newsroom.publish(CHIPS, "tech")
    return newsroom


@pytest.fixture
def monitor(tmp_path: Path, web_server: WebServer, room: Newsroom) -> Monitor:
    run = Monitor(write_config(tmp_path, web_server), CliRunner())
    assert "1 new" in run("poll")
    return run


def recheck(monitor: Monitor) -> str:
    time.sleep(TICK)
    return monitor("poll")


def story_id(monitor: Monitor) -> int:
    return int(monitor.json("list", "--include-duplicates")[0]["id"])


def history(monitor: Monitor) -> list[tuple[int, str | None]]:
    rows = monitor.json("history", str(story_id(monitor)))
    return [(row["number"], row["change_class"]) for row in rows]


def test_ten_rechecks_of_a_page_whose_furniture_rotates_write_no_version(
    monitor: Monitor, web_server: WebServer
) -> None:
    fetched_before = web_server.count(f"/news/{CHIPS.slug}")
    for _ in range(10):
        assert "0 changed" in recheck(monitor)
    assert web_server.count(f"/news/{CHIPS.slug}") - fetched_before == 10
    assert history(monitor) == [(1, None)]


def test_every_change_class_in_turn(monitor: Monitor, room: Newsroom) -> None:
    paragraphs = list(CHIPS.paragraphs)
    room.edit(CHIPS.slug, title="US tightens export controls on advanced AI chips")
    assert "1 changed" in recheck(monitor)
    paragraphs[0] = paragraphs[0].replace("Wednesday", "wednesday")
    room.edit(CHIPS.slug, paragraphs=tuple(paragraphs))
    assert "1 changed" in recheck(monitor)
    paragraphs[1] = paragraphs[1].replace("a longer list of countries", "forty-three countries")
    room.edit(CHIPS.slug, paragraphs=tuple(paragraphs))
    assert "1 changed" in recheck(monitor)
    room.edit(CHIPS.slug, paragraphs=("Officials said more export controls would follow.",))
    assert "1 changed" in recheck(monitor)
    assert history(monitor) == [(1, None), (2, "headline"), (3, "minor"), (4, "edit"), (5, "major")]

    rows = monitor.json("history", str(story_id(monitor)))
    assert rows[3]["words_removed"] == 4 and rows[3]["words_added"] in (1, 2)  # forty-three
    assert rows[4]["words_removed"] > 100
    [listed] = monitor.json("list", "--changed")
    assert (listed["change_class"], listed["version_count"]) == ("major", 5)
    diff = monitor.json("diff", str(listed["id"]), "--from", "3", "--to", "4")
    assert diff["change_class"] == "edit"
    assert [(c["old"].strip(), c["new"].strip()) for c in diff["changes"]] == [
        ("a longer list of", "forty-three")
    ]


def test_removed_then_restored(monitor: Monitor, room: Newsroom, web_server: WebServer) -> None:
    room.take_down(CHIPS.slug)
    assert "1 changed" in recheck(monitor)
    assert "0 changed" in recheck(monitor)  # still gone: nothing new to say
    assert history(monitor) == [(1, None), (2, "removed")]
    [gone] = monitor.json("list", "--removed")
    assert gone["title"] == CHIPS.title and gone["change_class"] == "removed"

    room.take_down(CHIPS.slug, live=True)  # restored
    assert "1 changed" in recheck(monitor)
    assert history(monitor) == [(1, None), (2, "removed"), (3, "restored")]
    assert monitor.json("list", "--removed") == []
    restored = monitor.json("diff", str(story_id(monitor)), "--from", "1", "--to", "3")
    assert restored["changes"] == [] and restored["title_changed"] is None

    web_server.redirect(f"/news/{CHIPS.slug}", "/")
    web_server.route("/", "<html><body><h1>The Daily Test</h1></body></html>")
    assert "1 changed" in recheck(monitor)
    assert history(monitor)[-1] == (4, "removed")


def test_rechecks_stop_after_the_last_step(tmp_path: Path, web_server: WebServer) -> None:
    room = Newsroom()
    room.serve(web_server)
    room.publish(CHIPS, "tech")
    config = write_config(tmp_path, web_server, 'recheck = ["100ms", "100ms"]')
    monitor = Monitor(config, CliRunner())
    monitor("poll")
    for _ in range(4):
        recheck(monitor)
    assert web_server.count(f"/news/{CHIPS.slug}") == 3  # first fetch and two re-checks
    assert monitor.json("show", str(story_id(monitor)))["next_check"] is None


def test_reextract_updates_versions_in_place(
    monitor: Monitor, room: Newsroom, tmp_path: Path, web_server: WebServer
) -> None:
    room.edit(CHIPS.slug, title="US tightens export controls on advanced AI chips")
    recheck(monitor)
    before = monitor.json("show", str(story_id(monitor)))
    assert "Industry groups warned" in before["text"]

    # The extractor "improves": this source now takes only the first paragraph.
    improved = Monitor(
        write_config(tmp_path, web_server, 'text = ".article-body p:first-child"'), CliRunner()
    )
    report = improved.json("reextract")
    assert report == {
        "stories": 1,
        "versions": 2,
        "updated": 2,
        "without_html": 0,
        "now_identical": 0,
        "held_written": 0,
        "held_discarded": 0,
        "failed": 0,
    }
    after = improved.json("show", str(story_id(improved)))
    assert after["text"] == CHIPS.paragraphs[0]
    assert after["version_count"] == 2  # no version was added
    assert [v["change_class"] for v in after["versions"]] == [None, "headline"]
    assert "0 changed" in recheck(improved)  # the next check compares like with like
