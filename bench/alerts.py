"""alerts: how soon an alert follows the news, and how fast the outbox delivers.

Latency: a real `monitor run` (SQLite, one feed, `polling.interval` 30 s; `--quick`: 3 s) with a
webhook rule to a receiver on loopback. New items appear in the feed at times unrelated to the
polls (spaced 0.57 intervals apart); each one's latency runs from the moment it is listed to
the moment its webhook arrives. A first item warms the service up and is not counted. p50 is
compared with half the interval (the wait for the next poll, which no poller can avoid on
average); p95 with the bound the project set: the interval plus 10 s.

Throughput: 1,000 events (`--quick`: 200) written through the real outbox (the StoryWriter's
Outbox on stored stories, in one transaction each, as a pass writes them) on a new SQLite file,
then delivered by the delivery job to a threaded local webhook that accepts everything.
Deliveries per second are compared with the same number of POSTs of the same bodies sent by a
bare httpx client at the same concurrency (no database, no records): ratio = monitor /
baseline, higher is faster. Outbox bytes per event: the growth of the database file (events,
deliveries and attempts, with their indexes) per event, against the webhook body's size.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import Options, Report, Row, environment_without, toml_string
from monitor.config import CONFIG_ENV, DATABASE_ENV
from monitor.demo.webserver import Request, Response, WebServer

INTERVAL, QUICK_INTERVAL = 30.0, 3.0
SAMPLES, QUICK_SAMPLES = 8, 6
EVENTS, QUICK_EVENTS = 1000, 200
SPACING = 0.57  # of an interval, between two new items
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]
SEED = "The harbour city's council voted on Monday to keep its night trams running all winter."


def run(options: Options) -> Report:
    with environment_without(DATABASE_ENV, CONFIG_ENV):
        latency_rows, latency_note = _latency(options)
        throughput_rows, throughput_note = _throughput(options)
    return Report([*latency_rows, *throughput_rows], [latency_note, throughput_note])


# ---------------------------------------------------------------- latency


def article(number: int) -> bytes:
    words = [WORDS[(number * 7 + i * (number % 5 + 1)) % len(WORDS)] for i in range(120)]
    body = " ".join(words)
    return (
        f"<html><head><title>DeepSeek story {number}</title></head><body><article>"
        f"<h1>DeepSeek story {number}</h1><p>Story number {number} about DeepSeek. {body}</p>"
        f"<p>{' '.join(reversed(words))} closing {number}.</p></article></body></html>"
    ).encode()


class Newsfeed:
    """A feed whose items appear when the benchmark publishes them; their times are kept."""

    def __init__(self, server: WebServer) -> None:
        self.server = server
        self.items: list[int] = []
        self.published: dict[str, float] = {}
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()
        server.route("/feed.xml", handler=self._feed)
        server.route("/hook", handler=self._hook)

    def publish(self, number: int) -> None:
        self.server.route(f"/news/{number}", article(number))
        with self.lock:
            self.items.append(number)
            self.published[f"DeepSeek story {number}"] = time.monotonic()

    def _feed(self, _: Request) -> Response:
        with self.lock:
            items = "".join(
                f"<item><title>DeepSeek story {n}</title>"
                f"<link>{self.server.url(f'/news/{n}')}</link></item>"
                for n in self.items
            )
        body = f"<rss version='2.0'><channel><title>f</title>{items}</channel></rss>"
        return Response(body=body.encode(), headers={"Content-Type": "application/rss+xml"})

    def _hook(self, request: Request) -> Response:
        title = json.loads(request.body)["story"]["title"]
        with self.lock:
            self.arrived.setdefault(title, request.received_at)
        return Response(status=200)

    def latency(self, number: int) -> float | None:
        title = f"DeepSeek story {number}"
        with self.lock:
            if title not in self.arrived:
                return None
            return self.arrived[title] - self.published[title]


def _latency(options: Options) -> tuple[list[Row], str]:
    interval = QUICK_INTERVAL if options.quick else INTERVAL
    samples = options.repeat or (QUICK_SAMPLES if options.quick else SAMPLES)
    with WebServer() as server, tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
        folder = Path(tmp)
        feed = Newsfeed(server)
        config = _write_config(folder, server, interval)
        log = (folder / "run.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from monitor.cli import main; main()",
                "--config",
                str(config),
                "run",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            feed.publish(0)  # warm-up: the first poll and the pool's first page
            _wait(lambda: feed.latency(0) is not None, 60 + interval, folder)
            for number in range(1, samples + 1):
                time.sleep(SPACING * interval)
                feed.publish(number)
            _wait(
                lambda: all(feed.latency(n) is not None for n in range(1, samples + 1)),
                interval + 30,
                folder,
            )
        finally:
            process.terminate()
            process.wait(timeout=30)
            log.close()
        latencies = sorted(x for n in range(1, samples + 1) if (x := feed.latency(n)) is not None)
    p50 = statistics.median(latencies)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    bound = interval + 10
    name = f"publish→alert, interval {interval:g}s"
    rows = [
        Row(f"{name}, p50", "s", p50, interval / 2),
        Row(f"{name}, p95", "s", p95, bound),
    ]
    note = (
        f"alerts latency: `monitor run` on SQLite, one feed polled every {interval:g} s, a webhook "
        f"rule to a loopback receiver; {len(latencies)} items listed {SPACING:g} intervals apart "
        f"(after a warm-up item); latency from listing to the webhook's arrival: "
        f"{', '.join(f'{x:.1f}' for x in latencies)} s. p50 against interval/2 (the average "
        f"wait for the next poll), p95 against the bound interval + 10 s = {bound:g} s "
        f"({'met' if p95 <= bound else 'NOT met'})"
    )
    return rows, note


def _write_config(folder: Path, server: WebServer, interval: float) -> Path:
    seeds = folder / "seeds"
    seeds.mkdir()
    (seeds / "unrelated.txt").write_text(SEED + "\n", encoding="utf-8")
    path = folder / "monitor.toml"
    path.write_text(
        f"""
[database]
url = {toml_string(f"sqlite:///{folder / 'alerts.db'}")}
[fetch]
per_host_delay = "0s"
allow_private_addresses = true
respect_robots = false
[polling]
interval = "{interval:g}s"
recheck = ["1d"]
[processing]
processes = 1
[seeds]
path = {toml_string(str(seeds))}
[[topics]]
name = "deepseek"
keywords = ["DeepSeek"]
[[sources]]
name = "feed"
url = {toml_string(server.url("/feed.xml"))}
[[alerts]]
name = "desk"
webhook = {toml_string(server.url("/hook"))}
""",
        encoding="utf-8",
    )
    return path


def _wait(condition: Any, seconds: float, folder: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    log = (folder / "run.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"alerts did not arrive in {seconds:g}s; the service said:\n{log}")


# ---------------------------------------------------------------- throughput


def _throughput(options: Options) -> tuple[list[Row], str]:
    from monitor.config import Config
    from monitor.deliver.job import CLAIM_BATCH, CONCURRENCY, DeliveryJob
    from monitor.store import db

    events = QUICK_EVENTS if options.quick else EVENTS
    accepted: list[bytes] = []
    lock = threading.Lock()

    def accept(request: Request) -> Response:
        with lock:
            accepted.append(request.body)
        return Response(status=200)

    with (
        WebServer(record=False) as server,
        tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp,
    ):
        server.route("/hook", handler=accept)
        path = Path(tmp) / "outbox.db"
        engine = db.make_engine(f"sqlite:///{path}")
        db.upgrade(engine)
        sessions = db.session_factory(engine)
        config = Config.model_validate(
            {
                "topics": [{"name": "deepseek", "keywords": ["DeepSeek"]}],
                "alerts": [{"name": "desk", "webhook": server.url("/hook")}],
            }
        )
        _stories(sessions, events)
        before = _file_size(path)
        _events(sessions, config, events)
        job = DeliveryJob(config.alerts, config.delivery, sessions, owner="bench")
        started = time.perf_counter()
        sent = asyncio.run(job.run_once())
        seconds = time.perf_counter() - started
        if sent.delivered != events or len(accepted) != events:
            raise RuntimeError(f"{sent.delivered} of {events} events delivered")
        per_event = (_file_size(path) - before) / events
        engine.dispose()
        bodies = list(accepted)
        accepted.clear()
        baseline_seconds = asyncio.run(_bare_posts(server.url("/hook"), bodies, CONCURRENCY))
    body_bytes = statistics.mean(len(b) for b in bodies)
    rows = [
        Row(
            f"{events:,} alerts through a local webhook",
            "deliveries/s",
            events / seconds,
            events / baseline_seconds,
        ),
        Row(
            "outbox bytes per alert (events, deliveries, attempts)", "bytes", per_event, body_bytes
        ),
    ]
    note = (
        f"alerts throughput: {events:,} events written through the outbox (one transaction each) "
        f"on a new SQLite file, then one delivery job sent them ({CLAIM_BATCH} claimed, "
        f"{CONCURRENCY} sent at a time) to a "
        f"threaded loopback webhook in {seconds:.2f} s (claims, POSTs, one attempt record each); "
        f"baseline: the same {events:,} bodies POSTed by a bare httpx client, {CONCURRENCY} at a "
        f"time, in {baseline_seconds:.2f} s. Bytes: the database file's growth per event against "
        f"the webhook body ({body_bytes:.0f} bytes on average)"
    )
    return rows, note


def _file_size(path: Path) -> int:
    """The database's size, its write-ahead log checkpointed first."""
    import sqlite3

    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(path)


def _stories(sessions: Any, count: int) -> None:
    """`count` listed stories with a first version, as a pass would have stored them."""
    from monitor.store.models import Source, Story, StoryTopic, Version

    now = datetime.now(UTC)
    with sessions.begin() as session:
        source = Source(
            name="feed", kind="feed", url="https://example.org/feed.xml", created_at=now
        )
        session.add(source)
        session.flush()
        for number in range(count):
            text = " ".join(WORDS[(number + i) % len(WORDS)] for i in range(200))
            story = Story(
                url=f"https://example.org/news/{number}",
                source_id=source.id,
                first_seen_at=now,
                title=f"DeepSeek story {number}: what the new model means for developers",
                outlet="The Daily Demo",
                version_count=1,
                topics=[StoryTopic(topic="deepseek", terms=["deepseek"])],
            )
            session.add(story)
            session.flush()
            session.add(
                Version(
                    story_id=story.id,
                    number=1,
                    fetched_at=now,
                    title=story.title,
                    text=f"DeepSeek said on Tuesday that story {number} mattered. {text}.",
                    content_hash=f"{number:064d}",
                )
            )


def _events(sessions: Any, config: Any, count: int) -> None:
    """One `new` event per story, each in its own transaction as the writer does it."""
    from sqlalchemy import select

    from monitor.deliver.outbox import Outbox
    from monitor.store.models import Story, Version

    outbox = Outbox(config.alerts, config.delivery)
    now = datetime.now(UTC)
    for number in range(1, count + 1):
        with sessions.begin() as session:
            story = session.get(Story, number)
            version = session.scalar(select(Version).where(Version.story_id == number))
            outbox.story_event(session, story, "new", now, version=version)
    if outbox.written != count:
        raise RuntimeError(f"{outbox.written} of {count} events written")


async def _bare_posts(url: str, bodies: list[bytes], concurrency: int) -> float:
    slots = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient() as client:

        async def post(body: bytes) -> None:
            async with slots:
                response = await client.post(
                    url, content=body, headers={"Content-Type": "application/json"}
                )
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(post(body) for body in bodies))
        return time.perf_counter() - started
