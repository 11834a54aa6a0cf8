"""Extractor-breakage alarms against a real site whose template changes mid-run: the source is
marked `extraction degraded` with the reason, what only reflects the breakage is held back, and
all is well again when the site is fixed."""

from __future__ import annotations

import html
import random
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Executable, select, update
from typer.testing import CliRunner

from monitor.clock import utcnow
from monitor.config import load_config
from monitor.demo.generated import sentence
from monitor.demo.newsroom import NewsArticle, Newsroom
from monitor.demo.webserver import Response, WebServer
from monitor.pipeline import held
from monitor.pipeline.pool import TEST_HOOKS_ENV
from monitor.pipeline.worker import PageTask, process_page
from monitor.store import extraction as source_extraction
from monitor.store.blobs import compress_html, decompress_html
from monitor.store.db import make_engine, session_factory
from monitor.store.models import HeldCheck, LinkFailure, Source, Story
from monitor.store.writer import StoryWriter
from tests.support.paths import unrelated_seeds
from tests.test_end_to_end import Monitor
from tests.test_health import free_port
from tests.test_processing import WORKERS_ONLY
from tests.test_service import monitor_process, reap
from tests.test_startup import imported, loaded_modules

pytestmark = pytest.mark.integration

SOUND = {"state": "ok", "reason": None, "since": None, "held": 0, "pages": 0}
"""A source's extraction health when all is well (its pages judged so far aside)."""
TICK = 0.15  # a little longer than the re-check interval below
STORIES = 8


def articles(first: int = 0, seed: int = 17) -> list[NewsArticle]:
    """Eight different stories on one topic, long enough for extraction to be judged."""
    rng = random.Random(seed)
    return [
        NewsArticle(
            slug=f"story-{n}",
            title=f"Regulators weigh export controls, report {n}",
            byline="Desk",
            paragraphs=tuple(
                " ".join(sentence(rng, topic=p == 0) for _ in range(4)) for p in range(5)
            ),
        )
        for n in range(first, first + STORIES)
    ]


def shell(article: NewsArticle, base_url: str) -> Response:
    """The site's new template: the story moved into an `<aside>`, which the generic
    extractor takes for furniture (a `text = "aside.story p"` selector reads it)."""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in article.paragraphs)
    title = html.escape(article.title)
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{title} | The Daily Test</title>
<link rel="canonical" href="{base_url}/news/{article.slug}">
</head><body><header><nav><a href="/">Home</a></nav></header>
<main><div id="app">Loading…</div></main>
<aside class="story"><h1>{title}</h1>{body}</aside>
<footer><p>© 2026 The Daily Test. All rights reserved.</p></footer></body></html>"""
    return Response(body=page.encode(), headers={"Content-Type": "text/html; charset=utf-8"})


def dated_shell(article: NewsArticle, base_url: str) -> Response:
    """The new template, its pages dated again."""
    published = (
        f'<meta property="article:published_time" content="{article.published.isoformat()}">'
    )
    page = shell(article, base_url)
    return replace(page, body=page.body.replace(b"</head>", published.encode() + b"</head>"))


def write_config(
    folder: Path, server: WebServer, source_extra: str = "", database: str | None = None
) -> Path:
    path = folder / "monitor.toml"
    path.write_text(
        f"""
[database]
url = "{database or f"sqlite:///{folder / 'm.db'}"}"
[fetch]
per_host_delay = "0s"
allow_private_addresses = true
[polling]
interval = "1h"
recheck = [{", ".join(['"100ms"'] * 60)}]
[seeds]
path = "{unrelated_seeds(folder)}"
[[topics]]
name = "chips"
keywords = ["export controls"]
[[sources]]
name = "tech"
url = "{server.url("/feeds/tech.xml")}"
{source_extra}
""",
        encoding="utf-8",
    )
    return path


def a_sound_site(
    folder: Path, server: WebServer, database: str | None = None
) -> tuple[list[NewsArticle], Newsroom, Monitor]:
    """The site's stories, published and read, then re-checked twice without a change: the
    source's extraction is judged sound."""
    stories = articles()
    room = Newsroom()
    room.serve(server)
    for article in stories:
        room.publish(article, "tech")
    monitor = Monitor(write_config(folder, server, database=database), CliRunner())
    monitor("db", "upgrade")
    assert f"{STORIES} new" in monitor("poll")
    for _ in range(2):
        assert "0 changed" in recheck(monitor)
    assert extraction(monitor)["state"] == "ok"
    return stories, room, monitor


def edit(room: Newsroom, article: NewsArticle, sentence: str) -> NewsArticle:
    """Put `sentence` at the head of the story's second paragraph; the story as edited."""
    paragraphs = list(article.paragraphs)
    paragraphs[1] = f"{sentence} {paragraphs[1]}"
    return room.edit(article.slug, paragraphs=tuple(paragraphs))


def recheck(monitor: Monitor) -> str:
    time.sleep(TICK)
    return monitor("poll")


def versions(monitor: Monitor) -> dict[str, int]:
    return {s["title"]: s["version_count"] for s in monitor.json("list")}


def extraction(monitor: Monitor) -> dict[str, object]:
    [source] = monitor.json("sources")
    assert isinstance(source["extraction"], dict)
    return source["extraction"]


def test_a_template_change_mid_run_is_an_alarm_not_a_wave_of_versions(
    tmp_path: Path, web_server: WebServer, db_url: str
) -> None:
    stories, room, monitor = a_sound_site(tmp_path, web_server, db_url)

    # An edit is an edit.
    edit(room, stories[0], "Officials said the rules would be reviewed next spring.")
    assert "1 changed" in recheck(monitor)
    # A story cut to its first paragraph looks like a breakage on its own: it is held until
    # the source's other pages show they extract as before, then written.
    cut = versions(monitor)[stories[1].title]
    room.edit(stories[1].slug, paragraphs=stories[1].paragraphs[:1])
    recheck(monitor)
    recheck(monitor)
    assert versions(monitor)[stories[1].title] == cut + 1
    assert extraction(monitor) | {"pages": 0} == SOUND
    shown = monitor.json("show", str(_id(monitor, stories[1].title)))
    assert shown["text"] == stories[1].paragraphs[0]
    assert shown["versions"][-1]["change_class"] == "major"
    before = versions(monitor)

    # The site moves to a template the extractor cannot read.
    break_the_site(web_server, stories)
    summary = recheck(monitor)
    health = extraction(monitor)
    assert health["state"] == "degraded"
    assert str(health["reason"]).startswith("pages extract ")
    written = sum(versions(monitor)[t] - before[t] for t in before)
    assert written <= 1, summary  # at most the first page, before a pattern can be seen
    assert health["held"] == STORIES - written
    assert "extraction degraded: tech: pages extract " in monitor("sources")
    status = monitor.json("status")
    [degraded] = status["extraction"]["degraded"]
    assert (degraded["source"], degraded["state"]) == ("tech", "degraded")
    assert status["healthy"] and "extraction degraded for tech: pages extract" in status["health"]
    assert "0 changed" in recheck(monitor)  # held again, not written
    assert sum(versions(monitor).values()) == sum(before.values()) + written

    # The site is fixed; meanwhile one story was really edited.
    room.serve(web_server)
    edited = list(stories[3].paragraphs)
    edited[0] = edited[0] + " The ministry declined to comment."
    room.edit(stories[3].slug, paragraphs=tuple(edited))
    recheck(monitor)
    recheck(monitor)
    health = extraction(monitor)
    assert (health["state"], health["reason"], health["held"]) == ("ok", None, 0)
    after = versions(monitor)
    assert after[stories[3].title] == before[stories[3].title] + 1
    assert monitor.json("status")["extraction"] == {"degraded": [], "held": 0}
    for article in stories[2:]:  # every story reads as the site has it: nothing of the shell
        shown = monitor.json("show", str(_id(monitor, article.title)))
        assert "Loading" not in shown["text"] and article.paragraphs[2] in shown["text"]


def test_reextract_after_a_selector_fix_writes_what_was_really_edited_and_drops_the_rest(
    tmp_path: Path, web_server: WebServer
) -> None:
    stories, _, monitor = a_sound_site(tmp_path, web_server)
    before = versions(monitor)
    edited = list(stories[5].paragraphs)
    edited[1] = "The regulator later said it had received forty letters. " + edited[1]
    edits = {
        **{a.slug: a for a in stories},
        stories[5].slug: replace(stories[5], paragraphs=tuple(edited)),
    }
    break_the_site(web_server, list(edits.values()))  # a story is edited meanwhile
    recheck(monitor)
    recheck(monitor)
    held = int(extraction(monitor)["held"])  # type: ignore[call-overload]
    assert extraction(monitor)["state"] == "degraded" and held >= STORIES - 1

    # The user gives the source a selector for its new template and re-extracts.
    fixed = Monitor(write_config(tmp_path, web_server, 'text = "aside.story p"'), CliRunner())
    report = fixed.json("reextract")
    assert report["held_written"] == 1  # the real edit
    assert report["held_discarded"] == held - 1  # the same text as before: only the breakage
    assert extraction(fixed) | {"pages": 0} == SOUND
    after = versions(fixed)
    assert after[stories[5].title] == before[stories[5].title] + 1
    assert "forty letters" in fixed.json("show", str(_id(fixed, stories[5].title)))["text"]
    assert "0 changed" in recheck(fixed)  # read with the selector, the pages are as stored


def a_degraded_site_with_an_edit(
    tmp_path: Path, web_server: WebServer, db_url: str
) -> tuple[list[NewsArticle], Newsroom, Monitor, NewsArticle]:
    """A sound site moves to a template the extractor cannot read while one story (the
    sixth) is really edited: the source is degraded, its re-checks held. The stories, the
    newsroom, the monitor and the edited story."""
    stories, room, monitor = a_sound_site(tmp_path, web_server, db_url)
    edited = edit(room, stories[5], "The regulator later said it had received forty letters.")
    break_the_site(web_server, [*stories[:5], edited, *stories[6:]])  # edited meanwhile
    recheck(monitor)
    recheck(monitor)
    assert extraction(monitor)["state"] == "degraded"
    return stories, room, monitor, edited


def test_a_held_edit_is_extracted_again_by_the_pool_not_by_the_polling_process(
    tmp_path: Path, web_server: WebServer, db_url: str
) -> None:
    stories, room, monitor, _ = a_degraded_site_with_an_edit(tmp_path, web_server, db_url)
    held = extraction(monitor)["held"]
    assert isinstance(held, int) and held >= STORIES - 1
    before = versions(monitor)

    # The user gives the source a selector for its new template, and the site dates its
    # pages again: the new stories it publishes read soundly, so the source recovers at the
    # next poll (in a process of its own) before any re-check, and the held edit is written
    # from its stored page.
    fixed = write_config(tmp_path, web_server, 'text = "aside.story p"', database=db_url)
    fresh = articles(first=STORIES, seed=29)
    for article in fresh:
        room.publish(article, "tech")
    break_the_site(web_server, fresh, dated_shell)
    time.sleep(TICK)
    polled_from = datetime.now(UTC)
    modules = loaded_modules(fixed, "poll", "--source", "tech")
    assert extraction(monitor) | {"pages": 0} == SOUND
    after = versions(monitor)
    assert after == before | {stories[5].title: before[stories[5].title] + 1} | {
        a.title: 1 for a in fresh
    }
    shown = monitor.json("show", str(_id(monitor, stories[5].title)))
    assert "forty letters" in shown["text"]
    # Dated when it was read during the breakage, not by this poll's re-check.
    assert datetime.fromisoformat(shown["versions"][-1]["fetched_at"]) < polled_from
    # The page was extracted again in the process pool: the polling process never loaded
    # the extractor.
    assert imported(modules, WORKERS_ONLY) == []


HOOKED = b"<!-- monitor-test-hook:abort -->"
"""Appended to a held page: it makes the extraction process abort (pool test hooks on)."""


@dataclass
class Crashed:
    """A recovered source whose one held page killed a worker (`a_held_page_killed_a_worker`)."""

    monitor: Monitor  # with the fixed config
    story: dict[str, Any]  # the deadly page's story, as `monitor list --json` shows it
    link: dict[str, Any]  # its row in `monitor links --json`
    versions: dict[str, int]  # after the recovery


def a_held_page_killed_a_worker(tmp_path: Path, web_server: WebServer, db_url: str) -> Crashed:
    """A degraded source with held re-checks, one of whose stored pages makes the extraction
    process abort (and whose story's re-checks have ended, so no re-check supersedes it);
    then the site is fixed and the poll that recovers the source settles the held checks."""
    stories, room, monitor, _ = a_degraded_site_with_an_edit(tmp_path, web_server, db_url)
    assert int(extraction(monitor)["held"]) >= STORIES - 1  # type: ignore[call-overload]
    before = versions(monitor)
    [deadly] = [s for s in monitor.json("list") if s["title"] == stories[2].title]
    _change_held_page(db_url, deadly["id"], lambda page: page + HOOKED)
    _in_database(db_url, update(Story).where(Story.id == deadly["id"]).values(next_check_at=None))

    fixed = Monitor(
        write_config(tmp_path, web_server, 'text = "aside.story p"', database=db_url),
        CliRunner(),
    )
    fresh = articles(first=STORIES, seed=29)
    for article in fresh:
        room.publish(article, "tech")
    break_the_site(web_server, fresh, dated_shell)
    time.sleep(TICK)
    fixed("poll", "--source", "tech")  # exits 0
    # The other held checks settled (the real edit written), the deadly one is still held.
    assert extraction(fixed) | {"pages": 0} == SOUND | {"held": 1}
    settled = versions(fixed)
    assert settled == before | {stories[5].title: before[stories[5].title] + 1} | {
        a.title: 1 for a in fresh
    }
    # It is its story link's failure, with the reason and a next attempt.
    [link] = fixed.json("links")
    assert (link["url"], link["source"], link["failures"], link["crashes"]) == (
        deadly["url"],
        "tech",
        1,
        1,
    )
    assert link["last_error"] == (
        "held re-check: the extraction process died (SIGABRT) on this page"
    )
    assert not link["quarantined"] and link["next_attempt"] is not None
    assert "held re-check" in fixed("links")
    return Crashed(fixed, deadly, link, settled)


def test_a_held_page_that_kills_its_worker_is_a_failed_link_backed_off_then_quarantined(
    tmp_path: Path, web_server: WebServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A held re-check whose stored page kills the extraction process is its story link's
    failure, as for a link found in a feed: shown by `monitor links`, not extracted again
    before its next attempt, given up (and the link quarantined) after its second crash.
    Without it the page would kill a worker at every settling of its source."""
    monkeypatch.setenv(TEST_HOOKS_ENV, "1")
    crashed = a_held_page_killed_a_worker(tmp_path, web_server, db_url)
    fixed = crashed.monitor

    # Polled again at once (its other stories re-checked and judged sound), the source is
    # settled again, but the page waits for its next attempt: no worker dies.
    recheck(fixed)
    assert fixed.json("links") == [crashed.link]
    assert extraction(fixed)["held"] == 1

    # Its next attempt come (moved into the past here), the page kills a worker again: the
    # link is quarantined and the held check given up; the story is as it was.
    _in_database(db_url, update(LinkFailure).values(next_attempt_at=utcnow() - timedelta(1)))
    recheck(fixed)
    [link] = fixed.json("links")
    assert (link["url"], link["failures"], link["crashes"]) == (crashed.story["url"], 2, 2)
    assert link["quarantined"] and link["next_attempt"] is None
    assert "quarantined" in fixed("links")
    assert extraction(fixed) | {"pages": 0} == SOUND
    assert versions(fixed) == crashed.versions


def test_a_held_page_read_after_its_crash_leaves_no_failed_link_behind(
    tmp_path: Path, web_server: WebServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`monitor reextract` leaves a held page that killed a worker alone until its next
    attempt; when the page is read then (here: its stored copy no longer kills), the check
    settles and `monitor links` no longer lists it."""
    monkeypatch.setenv(TEST_HOOKS_ENV, "1")
    crashed = a_held_page_killed_a_worker(tmp_path, web_server, db_url)
    fixed = crashed.monitor

    report = fixed.json("reextract")
    assert (report["held_written"], report["held_discarded"]) == (0, 0)
    assert extraction(fixed)["held"] == 1
    assert fixed.json("links") == [crashed.link]

    _change_held_page(db_url, crashed.story["id"], lambda page: page.replace(HOOKED, b""))
    _in_database(db_url, update(LinkFailure).values(next_attempt_at=utcnow() - timedelta(1)))
    recheck(fixed)
    assert extraction(fixed) | {"pages": 0} == SOUND  # discarded: it read as the story was
    assert fixed.json("links") == []
    assert versions(fixed) == crashed.versions


def test_reextract_settles_held_checks_in_the_pool_and_a_deadly_page_costs_only_itself(
    tmp_path: Path, web_server: WebServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`monitor reextract` settles held re-checks as the service does (read, extracted in the
    process pool, written in a short transaction): a held page that kills the extraction
    process is its story link's failure and stays held, the others are settled, and the
    command exits 0."""
    monkeypatch.setenv(TEST_HOOKS_ENV, "1")
    stories, _, monitor, _ = a_degraded_site_with_an_edit(tmp_path, web_server, db_url)
    held = int(extraction(monitor)["held"])  # type: ignore[call-overload]
    before = versions(monitor)
    [deadly] = [s for s in monitor.json("list") if s["title"] == stories[2].title]
    _change_held_page(db_url, deadly["id"], lambda page: page + HOOKED)

    fixed = Monitor(
        write_config(tmp_path, web_server, 'text = "aside.story p"', database=db_url),
        CliRunner(),
    )
    report = fixed.json("reextract")
    assert (report["held_written"], report["held_discarded"]) == (1, held - 2)
    assert report["failed"] == 0  # the versions' own pages are sound
    assert extraction(fixed) | {"pages": 0} == SOUND | {"held": 1}
    assert versions(fixed) == before | {stories[5].title: before[stories[5].title] + 1}
    [link] = fixed.json("links")
    assert (link["url"], link["crashes"], link["quarantined"]) == (deadly["url"], 1, False)
    assert link["last_error"] == (
        "held re-check: the extraction process died (SIGABRT) on this page"
    )


def _change_held_page(
    db_url: str, story_id: int, change: Callable[[bytes], bytes], *, damage: bool = False
) -> None:
    """Rewrite the stored page of the story's held re-check (`damage`: store it as bytes that
    are no zlib stream, as a mangled row would be)."""
    engine = make_engine(db_url)
    try:
        with session_factory(engine).begin() as session:
            check = session.scalars(select(HeldCheck).where(HeldCheck.story_id == story_id)).one()
            page = change(decompress_html(check.raw_html) or b"")
            check.raw_html = page if damage else compress_html(page)
    finally:
        engine.dispose()


def test_a_held_page_stored_damaged_is_discarded_and_the_others_settle(
    tmp_path: Path, web_server: WebServer, db_url: str
) -> None:
    """A held re-check whose stored response is no zlib stream can never be read: it is
    discarded like one the extractor failed on, and the source's other held checks are
    settled (before, the error stopped every settling of the source, and `monitor reextract`)."""
    stories, _, monitor, _ = a_degraded_site_with_an_edit(tmp_path, web_server, db_url)
    held = int(extraction(monitor)["held"])  # type: ignore[call-overload]
    before = versions(monitor)
    [damaged] = [s for s in monitor.json("list") if s["title"] == stories[2].title]
    _change_held_page(db_url, damaged["id"], lambda page: b"damaged", damage=True)

    fixed = Monitor(
        write_config(tmp_path, web_server, 'text = "aside.story p"', database=db_url),
        CliRunner(),
    )
    report = fixed.json("reextract")
    assert (report["held_written"], report["held_discarded"]) == (1, held - 1)
    assert extraction(fixed) | {"pages": 0} == SOUND
    assert versions(fixed) == before | {stories[5].title: before[stories[5].title] + 1}
    assert fixed.json("links") == []


def _in_database(db_url: str, statement: Executable) -> None:
    engine = make_engine(db_url)
    try:
        with session_factory(engine).begin() as session:
            session.execute(statement)
    finally:
        engine.dispose()


def test_held_checks_settled_by_another_worker_meanwhile_are_not_written_twice(
    tmp_path: Path, web_server: WebServer, db_url: str
) -> None:
    """Settling reads again what it decides on: a worker whose extraction of the held pages
    finishes after another worker settled them writes nothing."""
    stories, _, monitor, edited = a_degraded_site_with_an_edit(tmp_path, web_server, db_url)
    before = versions(monitor)

    # The user gives the source a selector, the site dates its pages again and the source's
    # judgement starts afresh; one worker reads the held checks now due and extracts their
    # pages ...
    break_the_site(web_server, [*stories[:5], edited, *stories[6:]], dated_shell)
    fixed = Monitor(
        write_config(tmp_path, web_server, 'text = "aside.story p"', database=db_url),
        CliRunner(),
    )
    config = load_config(fixed.config)
    engine = make_engine(db_url)
    try:
        sessions = session_factory(engine)
        with sessions.begin() as session:
            [source_id] = session.scalars(select(Source.id))
            source_extraction.restart(session, source_id, utcnow())
        slow = StoryWriter(config)
        with sessions() as session:
            due = held.due(session, source_id, config.sources[0], slow.rules)
        assert len(due) == extraction(fixed)["held"]
        pages = [(c, process_page(c.page)) for c in due if isinstance(c.page, PageTask)]
        assert len(pages) == len(due)  # every page readable, none moot

        # ... while another settles them at its next re-check, and writes the real edit.
        recheck(fixed)
        assert extraction(fixed)["held"] == 0
        settled = versions(fixed)
        assert settled == before | {stories[5].title: before[stories[5].title] + 1}

        with sessions.begin() as session:
            late = held.settle_extracted(session, slow, pages)
    finally:
        engine.dispose()
    assert (late.written, late.discarded) == (0, 0)
    assert versions(fixed) == settled


def test_a_footer_leaking_into_every_page_is_told_from_an_edit_wave(
    tmp_path: Path, web_server: WebServer
) -> None:
    stories, room, monitor = a_sound_site(tmp_path, web_server)

    # An edit wave: every story edited at once, each in its own way.
    for article in stories:
        room.edit(article.slug, paragraphs=(*article.paragraphs, f"Update: {article.title}."))
    assert f"{STORIES} changed" in recheck(monitor)
    assert extraction(monitor)["state"] == "ok"
    wave = versions(monitor)

    # A redesign puts a line about the site inside every article body (one the extractor
    # cannot know for furniture: it reads like prose).
    trust = "<p>The Daily Test is an independent paper owned by its readers' trust.</p>"
    for article in stories:
        path = f"/news/{article.slug}"
        web_server.route(
            path,
            handler=lambda _request, slug=article.slug: Response(  # type: ignore[misc]
                body=(room.article_html(slug) or b"").replace(
                    b"</div>\n</article>", trust.encode() + b"</div>\n</article>"
                ),
                headers={"Content-Type": "text/html; charset=utf-8"},
            ),
        )
    recheck(monitor)
    health = extraction(monitor)
    assert health["state"] == "degraded"
    assert str(health["reason"]).startswith("every re-check changed at once, alike")
    written = sum(versions(monitor)[t] - wave[t] for t in wave)
    assert written <= 1  # the first page, before another changed alike
    assert health["held"] == STORIES - written


def break_the_site(
    web_server: WebServer,
    stories: list[NewsArticle],
    template: Callable[[NewsArticle, str], Response] = shell,
) -> None:
    """Serve the stories in the new template (`shell`, or `dated_shell`)."""
    for article in stories:
        web_server.route(
            f"/news/{article.slug}",
            handler=lambda _request, a=article: template(a, web_server.base_url),  # type: ignore[misc]
        )


def test_the_running_service_names_the_degraded_source_in_healthz_and_metrics(
    tmp_path: Path, web_server: WebServer
) -> None:
    stories, _, monitor = a_sound_site(tmp_path, web_server)
    config = monitor.config
    break_the_site(web_server, stories)
    recheck(monitor)
    assert extraction(monitor)["state"] == "degraded"

    port = free_port()
    config.write_text(config.read_text() + f"\n[service]\nhttp_port = {port}\n")
    process = subprocess.Popen(
        monitor_process("--config", str(config), "run"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        metrics = health = ""
        while time.monotonic() < deadline:
            try:
                metrics = httpx.get(f"{base}/metrics", timeout=5).text
                health = httpx.get(f"{base}/healthz", timeout=5).text
            except httpx.TransportError:
                pass
            if "monitor_sources_extraction_degraded 1" in metrics:
                break
            time.sleep(0.2)
        assert "monitor_sources_extraction_degraded 1" in metrics
        assert 'monitor_source_extraction_degraded{source="tech",reason="pages extract' in metrics
        assert health.startswith("ok; extraction degraded for tech: pages extract"), health
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    finally:
        reap(process)
    assert process.returncode == 0


def _id(monitor: Monitor, title: str) -> int:
    return next(int(s["id"]) for s in monitor.json("list") if s["title"] == title)


def test_a_consent_wall_over_every_page_is_an_alarm(
    tmp_path: Path, web_server: WebServer, db_url: str
) -> None:
    """Pages rejected as not the article are stored nowhere, but they still count: a consent
    wall that suddenly stands in front of every story marks the source degraded."""
    stories, _, monitor = a_sound_site(tmp_path, web_server, db_url)
    before = versions(monitor)

    wall = (Path(__file__).parent / "data" / "pages" / "consent_wall.html").read_bytes()
    for article in stories:
        web_server.route(f"/news/{article.slug}", body=wall)
    recheck(monitor)
    health = extraction(monitor)
    assert health["state"] == "degraded", health
    assert str(health["reason"]).startswith("most pages are rejected as not the article")
    assert versions(monitor) == before  # a wall is never a version
    assert "most pages are rejected as not the article" in monitor.json("status")["health"]
