"""One `monitor poll` over every hostile file, served as a source, and one healthy feed (issue 12).

The CLI runs as a subprocess, as an operator runs it: whatever the sources serve, the poll
exits 0 without a traceback, the healthy feed's story is stored, every source is recorded
with a status or an error, and the feeds read despite a fault say so in `warning`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.demo.newsroom import Newsroom
from monitor.demo.webserver import Response, WebServer
from tests.support.databases import sqlite_url
from tests.test_end_to_end import DEEPSEEK
from tests.test_hostile_parsers import FILES, READ_FEEDS

pytestmark = pytest.mark.integration

MONITOR = Path(sys.executable).with_name("monitor")
HEALTHY = "daily-test-tech"
EXAMPLE_HOSTS = re.compile(r"https://[a-z]+\.example\.org")
WARNED = sorted(name for name, (_, warning) in READ_FEEDS.items() if warning is not None)
SOUND = sorted(name for name, (_, warning) in READ_FEEDS.items() if warning is None)


def source_name(file: Path) -> str:
    return file.name.replace(".", "-").replace("_", "-")


def kind_of(file: Path) -> str:
    if file.name.startswith("sitemap_"):
        return "sitemap"
    return "page" if file.suffix == ".html" else "feed"


def local(file: Path, base_url: str) -> bytes:
    """The file with its example.org links pointing at the test server: nothing leaves
    loopback. UTF-16 files are rewritten as text; the others as ASCII-compatible bytes."""
    body = file.read_bytes()
    if file.name.startswith("utf16le"):
        return EXAMPLE_HOSTS.sub(base_url, body.decode("utf-16-le")).encode("utf-16-le")
    return re.sub(EXAMPLE_HOSTS.pattern.encode(), base_url.encode(), body)


def write_config(folder: Path, server: WebServer) -> Path:
    seeds = Path(__file__).resolve().parents[1] / "config" / "seeds"
    lines = [
        f'[database]\nurl = "{sqlite_url(folder)}"',
        '[fetch]\ntimeout = "5s"\nper_host_delay = "0s"\nper_host_concurrency = 4',
        "allow_private_addresses = true",
        f'[polling]\ninterval = "1h"\nrecheck = ["1d"]\n[seeds]\npath = "{seeds}"',
        '[[topics]]\nname = "deepseek"\nkeywords = ["DeepSeek"]',
        f'[[sources]]\nname = "{HEALTHY}"\nurl = "{server.url("/feeds/tech.xml")}"',
    ]
    for file in FILES:
        lines.append(
            f'[[sources]]\nname = "{source_name(file)}"\nkind = "{kind_of(file)}"\n'
            f'url = "{server.url(f"/hostile/{file.name}")}"'
        )
        if kind_of(file) == "page":
            lines.append('links = "h3 a"')
    config = folder / "monitor.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def monitor(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MONITOR), "--config", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert not re.search(r"^\w+(Error|Exception):", result.stderr, re.MULTILINE), result.stderr


def json_of(config: Path, *args: str) -> Any:
    result = monitor(config, *args, "--json")
    assert_no_traceback(result)
    return json.loads(result.stdout)


def test_one_poll_over_every_hostile_source(tmp_path: Path, web_server: WebServer) -> None:
    room = Newsroom()
    room.serve(web_server)
    room.publish(DEEPSEEK, "tech")
    for file in FILES:
        web_server.route(
            f"/hostile/{file.name}",
            response=Response(body=local(file, web_server.base_url)),
        )
    config = write_config(tmp_path, web_server)

    polled = monitor(config, "poll")
    assert_no_traceback(polled)
    assert re.search(rf"^{len(FILES) + 1} sources polled", polled.stdout, re.MULTILINE)

    listed = json_of(config, "list", "--since", "all")
    assert [story["title"] for story in listed] == [DEEPSEEK.title]

    rows = {row["name"]: row for row in json_of(config, "sources")}
    assert set(rows) == {HEALTHY} | {source_name(f) for f in FILES}
    for name, row in rows.items():
        assert row["last_polled"] is not None, name
        assert row["last_status"] == 200 or row["last_error"], name
    assert rows[HEALTHY]["warning"] is None
    for name in WARNED:
        row = rows[source_name(Path(name))]
        assert row["last_error"] is None, name
        assert row["warning"] and "\n" not in row["warning"], name
    for name in SOUND:
        assert rows[source_name(Path(name))]["warning"] is None, name
    for name in ("empty-xml", "html-served-as-feed-xml", "binary-junk-bin"):
        assert rows[name]["last_error"].startswith("not an RSS or Atom feed"), name
    assert rows["bogus-encoding-xml"]["warning"] == (
        "mislabelled encoding: document declared as bogus, but parsed as utf-8, 3 entries read"
    )

    table = monitor(config, "sources")
    assert_no_traceback(table)
    assert "warning: mislabelled encoding" in " ".join(table.stdout.split())

    status = json_of(config, "status")
    assert status["sources_warning"] == len(WARNED)
    text = monitor(config, "status")
    assert f"sources read despite a fault: {len(WARNED)}" in text.stdout
