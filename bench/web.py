"""web: p95 latency of every page, API call and feed of the web view at scale, against a
static file served by the same server.

A SQLite database is filled with STORIES stories (half with one version, half with five:
VERSIONS versions in all; `--quick`: QUICK_STORIES), first seen over the last 90 days under
three topics, grouped in events of five, from 20 sources, with copies of a seed among them.
`monitor web` serves it from its own process; one client asks each URL REPEAT times in turn
(round-robin, so a busy moment of the shared machine hits every URL alike) and reports the
95th percentile of the answer time. The baseline is /static/style.css from the same server:
what the server, the middleware and HTTP cost with no database work. Ratio = monitor /
baseline (lower is faster); the target the issue set is 150 ms p95 for every row.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert, text

from bench import Options, Report, Row, environment_without, local_host_settings
from monitor.config import CONFIG_ENV, DATABASE_ENV

STORIES, QUICK_STORIES = 100_000, 3_000
REPEAT, QUICK_REPEAT = 40, 8
TARGET_MS = 150
PG_ENV = "MONITOR_TEST_DATABASE_URL"
TOPICS = ("deepseek", "chip-exports", "stargate")
SOURCES = 20
PARAGRAPH = (
    "The Commerce Department said on Tuesday that licences for shipments of advanced chips to "
    "data centres in {n} countries would be reviewed case by case, officials said."
)


def write_config(folder: Path, database_url: str) -> Path:
    lines = local_host_settings(database_url, 4)
    for topic in TOPICS:
        lines += ["[[topics]]", f'name = "{topic}"', f'keywords = ["{topic}"]']
    path = folder / "monitor.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def fill(config: Path, stories: int) -> tuple[int, int]:
    """The database; returns (stories, versions) written."""
    from monitor.app import app_context
    from monitor.store import db
    from monitor.store.models import Seed, Source, Story, StoryTopic, Version

    now = datetime.now(UTC).replace(microsecond=0)
    span = timedelta(days=90).total_seconds()
    versions_written = 0
    with app_context(config, migrate=False) as app:
        db.upgrade(app.engine)
        with app.engine.begin() as connection:
            connection.execute(
                insert(Source),
                [
                    {
                        "id": i + 1,
                        "name": f"source-{i:02d}",
                        "kind": "feed",
                        "url": f"https://outlet-{i}.example.org/rss",
                        "enabled": True,
                        "consecutive_failures": 1 if i == 3 else 0,
                        "last_error": "HTTP 503" if i == 3 else None,
                        "next_poll_at": now,
                        "last_polled_at": now,
                        "last_success_at": now,
                        "created_at": now - timedelta(days=91),
                    }
                    for i in range(SOURCES)
                ],
            )
            connection.execute(
                insert(Seed),
                [
                    {
                        "id": "000_seed",
                        "text": PARAGRAPH.format(n=1),
                        "text_hash": "s",
                        "scheme": "x",
                        "loaded_at": now,
                    }
                ],
            )
        batch = 5_000
        for start in range(0, stories, batch):
            rows, topics, versions = [], [], []
            for index in range(start, min(start + batch, stories)):
                story_id = index + 1
                seen = now - timedelta(seconds=span * (stories - index) / stories)
                count = 5 if index % 2 else 1
                changed = seen + timedelta(hours=count) if count > 1 else None
                copy = index % 50 == 7
                rows.append(
                    {
                        "id": story_id,
                        "url": f"https://outlet-{index % SOURCES}.example.org/news/{index}",
                        "source_id": index % SOURCES + 1,
                        "first_seen_at": seen,
                        "status": "active",
                        "title": f"{TOPICS[index % 3]} story {index}: licences reviewed",
                        "outlet": f"Outlet {index % SOURCES}",
                        "version_count": count,
                        "last_changed_at": min(changed, now) if changed else None,
                        "change_class": "edit" if count > 1 else None,
                        "recheck_step": 0,
                        "cluster_id": None if copy else (index // 5) * 5 + 1,
                        "duplicate_kind": "seed" if copy else None,
                        "duplicate_of_seed_id": "000_seed" if copy else None,
                        "similarity": 0.9 if copy else None,
                    }
                )
                topics.append({"story_id": story_id, "topic": TOPICS[index % 3], "terms": []})
                for number in range(1, count + 1):
                    body = "\n\n".join(PARAGRAPH.format(n=number * 10 + p) for p in range(3))
                    versions.append(
                        {
                            "story_id": story_id,
                            "number": number,
                            "fetched_at": min(seen + timedelta(hours=number - 1), now),
                            "title": rows[-1]["title"],
                            "text": body,
                            "content_hash": f"{story_id}-{number}",
                            "change_class": "edit" if number > 1 else None,
                        }
                    )
            with app.engine.begin() as connection:
                connection.execute(insert(Story), rows)
                connection.execute(insert(StoryTopic), topics)
                connection.execute(insert(Version), versions)
            versions_written += len(versions)
        with app.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    return stories, versions_written


def serve(config: Path) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-c", "from monitor.cli import main; main()"]
    process = subprocess.Popen(
        [*command, "--config", str(config), "web", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"on (http://127\.0\.0\.1:\d+)/", line)
    if found is None:
        process.kill()
        raise RuntimeError(f"monitor web did not start: {line}{process.communicate()[1]}")
    return process, found.group(1)


def urls(client: httpx.Client, stories: int) -> list[str]:
    changed = stories if stories % 2 == 0 else stories - 1  # story ids with five versions are even
    page_two = client.get("/api/stories?since=all&limit=50").headers["link"]
    cursor = re.search(r"cursor=([^&>]+)", page_two)
    assert cursor is not None
    return [
        "/",
        "/?since=all",
        "/?since=all&topic=deepseek",
        f"/?since=all&cursor={cursor.group(1)}",
        "/?since=7d&kind=changed&outlet=Outlet+4",
        "/?since=24h&q=licences",
        "/events",
        f"/stories/{changed}",
        f"/stories/{changed}/diff?from=1&to=5",
        "/topics/deepseek",
        "/topics/deepseek?days=90",
        "/sources",
        "/seeds",
        "/api/stories",
        "/api/stories?since=all&limit=100",
        f"/api/stories/{changed}",
        f"/api/stories/{changed}/diff",
        "/api/events",
        "/api/topics/deepseek/counts?days=90",
        "/api/sources",
        "/api/status",
        "/feeds/all.atom",
        "/feeds/deepseek.atom?changes=1",
    ]


def label(path: str) -> str:
    """A row's name: a cursor changes at every run, the page it names does not."""
    return re.sub(r"cursor=[^&]+", "cursor=(page 2)", path)


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(
    folder: Path, database_url: str, backend: str, stories: int, repeat: int, report: Report
) -> None:
    """Fill `database_url`, serve it, time every URL; rows and notes into `report`."""
    config = write_config(folder, database_url)
    started = time.perf_counter()
    written, versions = fill(config, stories)
    filled = time.perf_counter() - started
    process, base = serve(config)
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            paths = ["/static/style.css", *urls(client, written)]
            first: dict[str, float] = {}
            for path in paths:  # warm-up, and every answer must be a success
                begun = time.perf_counter()
                answer = client.get(path)
                first[path] = (time.perf_counter() - begun) * 1000
                if answer.status_code != 200:
                    raise RuntimeError(f"{path}: HTTP {answer.status_code}")
            times: dict[str, list[float]] = {path: [] for path in paths}
            for _ in range(repeat):
                for path in paths:
                    begun = time.perf_counter()
                    client.get(path).raise_for_status()
                    times[path].append((time.perf_counter() - begun) * 1000)
    finally:
        process.terminate()
        process.communicate(timeout=30)
    static = times["/static/style.css"]
    baseline = p95(static)
    over = []
    for path in paths[1:]:
        value = p95(times[path])
        report.rows.append(Row(f"web {backend} p95 {label(path)}", "ms", value, baseline))
        if value > TARGET_MS:
            over.append(f"{label(path)} ({value:.0f} ms)")
    slow_first = [f"{label(path)} {ms:.0f} ms" for path, ms in first.items() if ms > TARGET_MS]
    report.notes += [
        f"{backend}: {written:,} stories, {versions:,} versions (filled in {filled:.0f} s); "
        f"baseline: p95 of /static/style.css from the same server ({baseline:.1f} ms, median "
        f"{statistics.median(static):.1f} ms).",
        f"{backend}: first (warm-up, uncached) answers over {TARGET_MS} ms: "
        + (", ".join(slow_first) or "none"),
        f"{backend}: over the {TARGET_MS} ms target at p95: " + (", ".join(over) or "none"),
    ]


def run(options: Options) -> Report:
    stories = QUICK_STORIES if options.quick else STORIES
    repeat = options.repeat or (QUICK_REPEAT if options.quick else REPEAT)
    report = Report()
    report.notes.append(
        f"`monitor web` in its own process; {repeat} requests per URL, round-robin, after "
        "one warm-up request each; aggregates (per source, per day, share of voice, seeds) are "
        "reused for 30 s, so the warm-up answer is the uncached one."
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-web-") as work,
        environment_without(CONFIG_ENV, DATABASE_ENV),
    ):
        folder = Path(work)
        measure(folder, f"sqlite:///{folder / 'web.db'}", "sqlite", stories, repeat, report)
        server = os.environ.get(PG_ENV)
        if server:
            from bench.ingest import _postgres_database

            with _postgres_database(server) as url:
                measure(folder, url, "postgres", stories, repeat, report)
        else:
            report.notes.append(f"PostgreSQL skipped: {PG_ENV} is not set")
    return report
