"""The process pool: a page that kills or hangs a worker costs that page, not the pass."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.demo.newsroom import Newsroom
from monitor.demo.webserver import Response, WebServer, slow
from monitor.pipeline.pool import (
    TEST_HOOKS_ENV,
    PageFailed,
    PageTask,
    ProcessedPage,
    ProcessPool,
    process_page,
)
from tests.test_end_to_end import CHIPS, DEEPSEEK, write_config
from tests.test_startup import PROBE, imported

PARAGRAPH = (
    "<p>DeepSeek released a new reasoning model on Monday, and analysts in Hangzhou and "
    "Beijing said its prices would put pressure on rivals across the industry.</p>"
)


def page(title: str, hook: str | None = None) -> bytes:
    marker = f"<!-- monitor-test-hook:{hook} -->" if hook else ""
    return (
        f"<html><head><title>{title}</title></head><body>{marker}<article><h1>{title}</h1>"
        f"{PARAGRAPH * 6}</article></body></html>"
    ).encode()


def task(title: str, hook: str | None = None) -> PageTask:
    return PageTask(f"http://news.test/{title.replace(' ', '-')}", page(title, hook), None)


def test_process_page_extracts_and_fingerprints() -> None:
    processed = process_page(task("Markets react"))
    assert processed.article.title == "Markets react"
    assert "reasoning model" in processed.article.text
    assert processed.normalized and processed.fingerprint.bands


def run_pool(tasks: list[PageTask], *, timeout: float = 30) -> list[ProcessedPage | PageFailed]:
    async def go() -> list[ProcessedPage | PageFailed]:
        async with ProcessPool(2, timeout, test_hooks=True) as pool:
            return list(await asyncio.gather(*(pool.process(t) for t in tasks)))

    return asyncio.run(go())


@pytest.mark.parametrize(("hook", "signal_name"), [("abort", "SIGABRT"), ("sigkill", "SIGKILL")])
def test_a_worker_that_dies_costs_its_page_only(hook: str, signal_name: str) -> None:
    results = run_pool([task("First"), task("Deadly", hook), task("Second"), task("Third")])
    titles = [r.article.title for r in results if isinstance(r, ProcessedPage)]
    assert titles == ["First", "Second", "Third"]
    failed = results[1]
    assert isinstance(failed, PageFailed) and failed.crashed
    assert failed.message == f"the extraction process died ({signal_name}) on this page"


def test_a_page_that_hangs_is_given_up_after_the_page_timeout() -> None:
    results = run_pool([task("Stuck", "hang"), task("Fine")], timeout=1)
    assert isinstance(results[0], PageFailed) and results[0].crashed
    assert results[0].message == "extraction took longer than 1s (the worker was stopped)"
    assert isinstance(results[1], ProcessedPage) and results[1].article.title == "Fine"


def test_a_bug_in_extraction_is_reported_and_the_worker_stays() -> None:
    async def go() -> tuple[list[ProcessedPage | PageFailed], int]:
        async with ProcessPool(1, 30, test_hooks=True) as pool:
            results = [await pool.process(t) for t in (task("Bug", "raise"), task("After"))]
            return results, pool.replaced

    (bug, after), replaced = asyncio.run(go())
    message = "processing failed: RuntimeError: test hook: a bug in extraction"
    assert bug == PageFailed(message, False)
    assert isinstance(after, ProcessedPage)
    assert replaced == 0


def test_a_worker_killed_from_outside_costs_the_page_it_held() -> None:
    """SIGKILL from outside (the OOM killer does this) while a worker holds a page."""

    async def go() -> tuple[ProcessedPage | PageFailed, ProcessedPage | PageFailed]:
        async with ProcessPool(1, 60, test_hooks=True) as pool:
            held = asyncio.create_task(pool.process(task("Held", "hang")))
            while not pool.pids():
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
            os.kill(pool.pids()[0], signal.SIGKILL)
            return await held, await pool.process(task("Next"))

    held, after = asyncio.run(go())
    assert held == PageFailed("the extraction process died (SIGKILL) on this page", True)
    assert isinstance(after, ProcessedPage) and after.article.title == "Next"


def test_hooks_do_nothing_unless_enabled() -> None:
    async def go() -> ProcessedPage | PageFailed:
        async with ProcessPool(1, 30) as pool:
            return await pool.process(task("Harmless", "abort"))

    result = asyncio.run(go())
    assert isinstance(result, ProcessedPage) and result.article.title == "Harmless"


@pytest.mark.integration
def test_a_poll_survives_pages_that_kill_their_worker(
    tmp_path: Path, web_server: WebServer
) -> None:
    """`monitor poll` over a feed whose pages abort and SIGKILL their worker: exit 0, the
    healthy stories stored, the deadly links listed by `monitor links` with the reason."""
    room = Newsroom()
    room.serve(web_server)
    room.publish(DEEPSEEK, "tech")
    room.publish(CHIPS, "tech")
    for hook in ("abort", "sigkill"):
        web_server.route(f"/news/deadly-{hook}", page(f"Deadly {hook}", hook))
        room.list_link("tech", f"/news/deadly-{hook}")
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'crash.db'}")
    env = {**os.environ, TEST_HOOKS_ENV: "1"}

    def monitor(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", "from monitor.cli import main; main()"]
        return subprocess.run(
            [*command, "--config", str(config), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    polled = monitor("poll", "--source", "daily-test-tech")
    assert polled.returncode == 0, polled.stderr
    assert "Traceback" not in polled.stderr
    listing = json.loads(monitor("list", "--json").stdout)
    assert sorted(item["title"] for item in listing) == sorted([DEEPSEEK.title, CHIPS.title])
    links = {link["url"]: link for link in json.loads(monitor("links", "--json").stdout)}
    assert links[web_server.url("/news/deadly-abort")]["last_error"] == (
        "the extraction process died (SIGABRT) on this page"
    )
    assert links[web_server.url("/news/deadly-sigkill")]["last_error"] == (
        "the extraction process died (SIGKILL) on this page"
    )
    assert not any(link["quarantined"] for link in links.values())

    # Half an hour later (the links' back-off, moved into the past here) the pages crash
    # their workers again: twice is enough, they are quarantined and not fetched again.
    with sqlite3.connect(tmp_path / "crash.db") as connection:
        connection.execute("UPDATE link_failures SET next_attempt_at = '2000-01-01 00:00:00'")
        connection.execute("UPDATE sources SET next_poll_at = NULL")
    assert monitor("poll", "--source", "daily-test-tech").returncode == 0
    links = {link["url"]: link for link in json.loads(monitor("links", "--json").stdout)}
    assert {url: (link["quarantined"], link["next_attempt"]) for url, link in links.items()} == {
        web_server.url("/news/deadly-abort"): (True, None),
        web_server.url("/news/deadly-sigkill"): (True, None),
    }
    assert "quarantined" in monitor("links").stdout
    fetched = web_server.count("/news/deadly-abort")
    with sqlite3.connect(tmp_path / "crash.db") as connection:
        connection.execute("UPDATE sources SET next_poll_at = NULL")
    assert monitor("poll", "--source", "daily-test-tech").returncode == 0
    assert web_server.count("/news/deadly-abort") == fetched == 2


@pytest.mark.integration
def test_a_long_transaction_elsewhere_does_not_time_out_the_requests_in_flight(
    tmp_path: Path, web_server: WebServer
) -> None:
    """Another program holds SQLite's write lock for 6 s during a poll of 40 feeds with a 3 s
    fetch timeout: the database waits on the writer's thread, the requests go on, and no
    source is recorded as timed out."""
    import threading
    import time

    database = tmp_path / "locked.db"
    config = write_config(tmp_path, web_server, f"sqlite:///{database}")
    feeds = "".join(
        f'[[sources]]\nname = "feed-{n}"\nurl = "{web_server.url(f"/feeds/f{n}.xml")}"\n'
        for n in range(40)
    )
    empty = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
    for n in range(40):  # four at a time (per_host_concurrency), half a second each
        web_server.route(f"/feeds/f{n}.xml", response=slow(0.5, Response(body=empty)))
    text = config.read_text().replace('timeout = "5s"', 'timeout = "3s"')
    config.write_text(text.split("[[sources]]", 1)[0] + feeds)
    command = [sys.executable, "-c", "from monitor.cli import main; main()", "--config"]
    upgrade = subprocess.run([*command, str(config), "db", "upgrade"], check=False)
    assert upgrade.returncode == 0
    locked = threading.Event()

    def hold_the_lock() -> None:
        deadline = time.monotonic() + 60
        while len(web_server.requests) < 8 and time.monotonic() < deadline:
            time.sleep(0.01)  # the poll is under way, requests in flight
        connection = sqlite3.connect(database, timeout=30)
        try:
            connection.execute("BEGIN IMMEDIATE")
            locked.set()
            time.sleep(6)
            connection.commit()
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    poll = subprocess.Popen(
        [*command, str(config), "poll"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert locked.wait(60)
        out, err = poll.communicate(timeout=120)
    finally:
        holder.join()
        if poll.poll() is None:
            poll.kill()
            poll.communicate()
    assert poll.returncode == 0, err
    assert "40 sources polled" in out and "0 failures" in out, out + err
    sources = subprocess.run(
        [*command, str(config), "sources", "--json"], capture_output=True, text=True, check=True
    )
    rows = json.loads(sources.stdout)
    assert [(r["last_status"], r["last_error"]) for r in rows] == [(200, None)] * 40


# Only the pool's workers extract and fingerprint pages: in the process that polls (the
# service's own, for its whole life) these would add their memory to every worker's.
WORKERS_ONLY = ("trafilatura", "lxml", "htmldate", "justext", "numpy")


@pytest.mark.integration
def test_the_polling_process_leaves_the_extraction_libraries_to_the_workers(
    tmp_path: Path, web_server: WebServer
) -> None:
    room = Newsroom()
    room.serve(web_server)
    room.publish(DEEPSEEK, "tech")
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'lean.db'}")
    command = [sys.executable, "-c", PROBE, "--config", str(config), "poll"]
    # The first poll of a new database also indexes the seeds, which needs numpy once.
    first = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stderr
    room.publish(CHIPS, "tech")
    with sqlite3.connect(tmp_path / "lean.db") as connection:
        connection.execute("UPDATE sources SET next_poll_at = NULL")
    second = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    report, _, modules = second.stderr.rpartition("\nMODULES ")
    assert second.returncode == 0, report
    assert "1 new" in second.stdout
    assert imported(set(json.loads(modules)), WORKERS_ONLY) == []
