"""`degraded` and `recovered` alerts against a real site whose template breaks mid-run and a
real webhook receiver: one alert per rule and degradation, never repeated while the source
stays degraded, none for a rule that does not ask for it, whatever the rules' topics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.demo.newsroom import NewsArticle, Newsroom
from monitor.demo.webserver import WebServer
from tests.support.receiver import Receiver
from tests.test_end_to_end import Monitor
from tests.test_extraction_alarms import (
    STORIES,
    articles,
    break_the_site,
    extraction,
    recheck,
    write_config,
)

pytestmark = pytest.mark.integration

SECRET = "degraded-secret"


def alerts(ops: Receiver, desk: Receiver) -> str:
    """Appended after the source's table: a topic no story matches, and two rules."""
    return f"""
[[topics]]
name = "football"
keywords = ["football"]

[[alerts]]
name = "ops"
topics = ["football"]                # a source has no topics: this does not filter it
on = ["degraded", "recovered"]
webhook = "{ops.url}"
secret_env = "MONITOR_TEST_DEGRADED_SECRET"

[[alerts]]
name = "desk"
on = ["new", "edit", "major"]
webhook = "{desk.url}"
"""


def kinds(receiver: Receiver) -> list[str]:
    return [payload["event"] for payload in receiver.accepted.values()]


def a_watched_site(
    tmp_path: Path, web_server: WebServer, monkeypatch: pytest.MonkeyPatch, database: str | None
) -> tuple[Receiver, Receiver, list[NewsArticle], Newsroom, Monitor]:
    """A sound site polled and re-checked twice, with the `ops` (source events, signed) and
    `desk` (story events) rules: (ops, desk, stories, newsroom, monitor)."""
    monkeypatch.setenv("MONITOR_TEST_DEGRADED_SECRET", SECRET)
    ops = Receiver(web_server, "/ops", secret=SECRET)
    desk = Receiver(web_server, "/desk")
    stories = articles()
    room = Newsroom()
    room.serve(web_server)
    for article in stories:
        room.publish(article, "tech")
    config = write_config(tmp_path, web_server, alerts(ops, desk), database=database)
    monitor = Monitor(config, CliRunner())
    monitor("db", "upgrade")
    monitor("poll")  # `monitor poll` delivers what its pass wrote
    for _ in range(2):
        recheck(monitor)
    return ops, desk, stories, room, monitor


def test_a_template_change_alerts_once_per_degradation_and_once_when_it_recovers(
    tmp_path: Path, web_server: WebServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops, desk, stories, room, monitor = a_watched_site(tmp_path, web_server, monkeypatch, db_url)
    assert extraction(monitor)["state"] == "ok"
    assert kinds(desk) == ["new"] * STORIES
    assert ops.accepted == {}

    break_the_site(web_server, stories)
    recheck(monitor)
    health = extraction(monitor)
    assert health["state"] == "degraded"
    [(key, payload)] = ops.accepted.items()
    [source] = monitor.json("sources")
    since = health["since"]
    # The reason when it turned (the count in it grows while the source stays degraded).
    assert str(payload["source"]["reason"]).startswith("pages extract empty (")
    assert payload == {
        "id": key,
        "rule": "ops",
        "event": "degraded",
        "created": since,
        "topics": [],
        "story": None,
        "source": {
            "name": "tech",
            "url": source["url"],
            "reason": payload["source"]["reason"],
            "since": since,
        },
    }
    assert re.fullmatch(rf"ops:degraded:\d+:{re.escape(str(since))}", key), key
    assert ops.bad_signatures == 0

    # Still degraded: later passes hold its re-checks and alert nothing more.
    for _ in range(3):
        recheck(monitor)
    assert extraction(monitor)["state"] == "degraded"
    assert kinds(ops) == ["degraded"] and ops.repeats == 0
    assert "degraded" not in kinds(desk) and "recovered" not in kinds(desk)
    listed = monitor.json("alerts")
    [row] = [r for r in listed if r["rule"] == "ops"]
    assert (row["state"], row["key"]) == ("delivered", key)
    assert row["events"][0]["event"] == "degraded"
    assert row["events"][0]["title"] == "extraction degraded · tech"
    assert row["events"][0]["story"] is None

    # The site is fixed: one `recovered`, naming the degradation it ends.
    room.serve(web_server)
    for _ in range(3):
        recheck(monitor)
    assert extraction(monitor)["state"] == "ok"
    assert kinds(ops) == ["degraded", "recovered"]
    recovered = next(p for p in ops.accepted.values() if p["event"] == "recovered")
    assert recovered["id"] == f"ops:recovered:{key.split(':')[2]}:{since}"
    assert recovered["source"]["since"] == since
    assert str(recovered["source"]["reason"]).startswith("pages extract empty (")
    assert recovered["story"] is None
    assert set(kinds(desk)) == {"new"}

    # It breaks again: a new degradation is a new alert.
    break_the_site(web_server, stories)
    recheck(monitor)
    assert extraction(monitor)["state"] == "degraded"
    assert kinds(ops) == ["degraded", "recovered", "degraded"]
    assert ops.repeats == 0


def test_reextract_after_a_fix_says_the_source_recovered(
    tmp_path: Path, web_server: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops, desk, stories, _room, monitor = a_watched_site(tmp_path, web_server, monkeypatch, None)
    break_the_site(web_server, stories)
    recheck(monitor)
    assert kinds(ops) == ["degraded"]

    # `monitor alerts test` for a rule of source events sends a sample about the degraded
    # source (recorded nowhere: the next delivery round sends nothing more).
    tested = monitor("alerts", "test", "ops")
    assert tested.startswith(f"ops: delivered to {web_server.base_url}/… (HTTP 200"), tested
    assert tested.rstrip().endswith("sample: source tech")
    sample = next(p for k, p in ops.accepted.items() if ":test:" in k)
    assert (sample["event"], sample["story"], sample["source"]["name"]) == (
        "degraded",
        None,
        "tech",
    )
    assert str(sample["source"]["reason"]).startswith("pages extract empty (")
    del ops.accepted[sample["id"]]

    # A selector for the new template, then `reextract`: the alarm is cleared, and the
    # rule hears of it at the next delivery round (here: the next poll).
    fixed = Monitor(
        write_config(tmp_path, web_server, 'text = "aside.story p"\n' + alerts(ops, desk)),
        CliRunner(),
    )
    fixed.json("reextract")
    assert extraction(fixed)["state"] == "ok"
    recheck(fixed)
    first, *after_the_fix = ops.accepted.values()
    assert first["event"] == "degraded"
    # Read with the selector, the new template's pages have no date any more: that is a
    # degradation of its own (a new `since`), and alerts as one. Both alerts go out in one
    # delivery round, concurrently, so they may arrive in either order.
    assert sorted(p["event"] for p in after_the_fix) == ["degraded", "recovered"]
    cleared = next(p for p in after_the_fix if p["event"] == "recovered")
    again = next(p for p in after_the_fix if p["event"] == "degraded")
    assert cleared["source"]["since"] == first["source"]["since"]
    assert str(again["source"]["reason"]).startswith("pages lost their dates")
    assert again["id"] != first["id"]


def test_a_consent_wall_alerts_through_the_pages_it_rejects(
    tmp_path: Path, web_server: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages rejected as not the article are stored nowhere: the alert is written with the
    statistics that count them, and `monitor poll` delivers it after its pass."""
    ops, _desk, stories, _room, monitor = a_watched_site(tmp_path, web_server, monkeypatch, None)
    wall = (Path(__file__).parent / "data" / "pages" / "consent_wall.html").read_bytes()
    for article in stories:
        web_server.route(f"/news/{article.slug}", body=wall)
    recheck(monitor)
    recheck(monitor)
    [payload] = ops.accepted.values()
    assert payload["event"] == "degraded"
    assert str(payload["source"]["reason"]).startswith("most pages are rejected as not the article")
    assert payload["source"]["since"] == extraction(monitor)["since"]
