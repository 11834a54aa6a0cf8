"""What was fetched, kept faithfully: each version stores its response's charset and final
URL, so `monitor reextract` reads the stored bytes exactly as the pipeline did."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import cli
from monitor.demo.webserver import WebServer
from tests.support.paths import unrelated_seeds
from tests.test_end_to_end import Monitor

pytestmark = pytest.mark.integration

TITLE = "Frosts arrive in the city two weeks early"
QUOTE = "Пункты обогрева открыты всю ночь"
PARAGRAPHS = (
    "Forecasters warned residents on Monday that the first hard frosts of the winter had "
    "arrived two weeks earlier than usual and would last until the end of the month.",
    "The heating plants were switched to their winter schedule, and the mayor told "
    f'reporters: "{QUOTE}".',
    "Doctors advised people to dress warmly, to avoid going out late in the evening and to "
    "look in on elderly neighbours who live alone.",
)
# No <meta charset>: the page is KOI8-R, and only the Content-Type header says so. A page
# mostly in English with one Russian quote: too little for charset detection to guess.
PAGE = (
    f"<html><head><title>{TITLE}</title></head><body><article><h1>{TITLE}</h1>"
    + "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    + "</article><footer><a href='/about'>О нас</a></footer></body></html>"
).encode("koi8-r")


def write_config(folder: Path, server: WebServer) -> Path:
    path = folder / "monitor.toml"
    path.write_text(
        f"""
[database]
url = "sqlite:///{folder / "m.db"}"
[fetch]
per_host_delay = "0s"
allow_private_addresses = true
[seeds]
path = "{unrelated_seeds(folder)}"
[[topics]]
name = "weather"
keywords = ["frosts"]
[[sources]]
name = "city-news"
kind = "article"
url = "{server.url("/go/frost")}"
""",
        encoding="utf-8",
    )
    return path


def test_a_page_labelled_only_in_its_header_reads_the_same_after_reextract(
    tmp_path: Path, web_server: WebServer
) -> None:
    web_server.redirect("/go/frost", "/city/frost.html")
    web_server.route("/city/frost.html", PAGE, content_type="text/html; charset=KOI8-R")
    monitor = Monitor(write_config(tmp_path, web_server), CliRunner())
    monitor("db", "upgrade")
    assert "1 new" in monitor("poll")
    [story] = monitor.json("list")
    assert story["title"] == TITLE
    shown = monitor.json("show", str(story["id"]))
    assert PARAGRAPHS[0] in shown["text"]
    assert QUOTE in shown["text"]
    [version] = shown["versions"]
    assert version["charset"] == "koi8-r"
    assert version["final_url"] == web_server.url("/city/frost.html")

    report = monitor.json("reextract")
    assert (report["versions"], report["updated"]) == (1, 0)  # the same text: nothing to update
    again = monitor.json("show", str(story["id"]))
    assert again["title"] == TITLE
    assert again["text"] == shown["text"]
    assert QUOTE in again["text"]  # no mojibake


def test_reextract_commits_in_batches_and_reports_progress(
    tmp_path: Path, web_server: WebServer
) -> None:
    web_server.redirect("/go/frost", "/city/frost.html")
    web_server.route("/city/frost.html", PAGE, content_type="text/html; charset=KOI8-R")
    config = write_config(tmp_path, web_server)
    extra = "".join(
        f'[[sources]]\nname = "city-{n}"\nkind = "article"\nurl = "{web_server.url(f"/p/{n}")}"\n'
        for n in range(4)
    )
    config.write_text(config.read_text(encoding="utf-8") + extra, encoding="utf-8")
    for n in range(4):
        web_server.route(
            f"/p/{n}",
            PAGE.replace(b"</h1>", f" {n}</h1>".encode()),
            content_type="text/html; charset=KOI8-R",
        )
    runner = CliRunner()
    monitor = Monitor(config, runner)
    monitor("db", "upgrade")
    assert "5 new" in monitor("poll")
    result = runner.invoke(cli, ["--config", str(config), "reextract", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "re-extracted 2 of 5 stories",
        "re-extracted 4 of 5 stories",
        "re-extracted 5 of 5 stories",
    ]
    assert "5 stories, 5 versions re-extracted, 0 updated" in result.stdout
