"""storage: how much the database grows per stored version and per unchanged re-check.

monitor's real pipeline (`Pipeline.run_pass`, the default re-check schedule, a SQLite file)
runs against a local news site: feeds from `bench.feedserver`, each item linking to an article
page of 800 to 1,500 words dressed like a real news page (navigation, critical CSS, inline
scripts with a per-request CSP nonce, JSON-LD, a JSON state blob that repeats the article, image
srcsets, ad slots, footer) whose furniture changes on every request: a rotating "Most read"
list, "Updated N minutes ago", ad correlators, a page-view id. The article pages send no ETag
or Last-Modified (the furniture changes at every request, as on most news sites), so every
re-check is a full GET, an extraction and a comparison.

The phases, each one pass of the same pipeline (one fetcher, as in the service):

1. **first fetch**: every article is new and on topic: story, topics, fingerprint bands and
   version 1 with its zlib-compressed raw HTML and extracted text;
2. **unchanged re-checks**: the clock is moved to the stories' next check (the default schedule:
   1 h, 3 h, 12 h, ...); nothing changed but the furniture, so no version is written;
3. **one sentence edited**: every article has one sentence changed; every story gets a version.

After each pass the WAL is checkpointed (TRUNCATE) and the file measured as it is
(page_count x page_size, free pages included), then VACUUMed and measured again. A stored
version's number is the growth of the VACUUMed size over its phase divided by the versions
written. An unchanged re-check adds a few bytes, far below the 4 KiB a file grows by, so its
number is the growth of the `dbstat` payload (the bytes of rows and index entries themselves,
all tables) divided by the checks; the notes give both measures and a breakdown per table.

The site is served from a thread of this process (no timing is reported, so sharing the CPU
does not matter). `--repeat` and `--profile` do not apply: sizes do not vary between runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import tempfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bench import Options, Report, Row, environment_without, local_host_settings, write_feed_config
from bench.feedserver import NewsServer, serving
from monitor.app import App, open_app
from monitor.clock import utcnow
from monitor.config import CONFIG_ENV, DATABASE_ENV
from monitor.demo.generated import TOPIC
from monitor.pipeline.passes import PassSummary, Pipeline
from monitor.store.models import Story, Version

FEEDS, ITEMS = 4, 20  # 80 articles
QUICK_FEEDS, QUICK_ITEMS = 1, 15
RECHECKS = 6  # unchanged re-checks: steps 1-6 of the default schedule; the edit is at step 7
QUICK_RECHECKS = 2
CONCURRENCY = 16

# ---------------------------------------------------------------- measuring the database


@dataclass(frozen=True)
class _Size:
    """The database after a checkpoint: as it is, and once VACUUMed (with dbstat per table)."""

    wal: int  # bytes of the -wal file before the checkpoint
    file: int  # page_count x page_size after the checkpoint, free pages included
    vacuumed: int  # page_count x page_size after VACUUM
    payload: dict[str, int] | None  # per table, indexes included: bytes of rows and index
    # entries (dbstat's payload); None when this SQLite was built without dbstat

    def total_payload(self) -> int:
        return sum(self.payload.values()) if self.payload is not None else self.vacuumed


def _measure(app: App, path: Path) -> _Size:
    wal_path = Path(f"{path}-wal")
    wal = wal_path.stat().st_size if wal_path.exists() else 0
    app.engine.dispose()  # no pooled connection keeps a read snapshot open
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise RuntimeError("storage is broken: the WAL checkpoint could not complete")
        file = _pages(db)
        db.execute("VACUUM")
        vacuumed = _pages(db)
        owner = dict(db.execute("SELECT name, tbl_name FROM sqlite_schema"))
        try:
            used = db.execute("SELECT name, sum(payload) FROM dbstat GROUP BY name").fetchall()
        except sqlite3.OperationalError:  # built without SQLITE_ENABLE_DBSTAT_VTAB
            return _Size(wal, file, vacuumed, None)
    payload: dict[str, int] = {}
    for name, size in used:
        table = owner.get(name, name)
        payload[table] = payload.get(table, 0) + size
    return _Size(wal, file, vacuumed, payload)


def _pages(db: sqlite3.Connection) -> int:
    count = db.execute("PRAGMA page_count").fetchone()[0]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    return int(count * size)


# ---------------------------------------------------------------- the run


class _Clock:
    """The pipeline's clock, moved by the benchmark: a re-check pass runs when the stories are
    due by monitor's own schedule, without waiting hours."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


@dataclass
class _Results:
    articles: int
    rechecks: int
    words: list[int]
    start: _Size | None = None
    first: _Size | None = None
    unchanged: list[_Size] = field(default_factory=list)  # after each unchanged re-check pass
    edited: _Size | None = None
    raw_bytes: int = 0  # raw HTML of the version 1 pages, all together
    compressed_bytes: int = 0  # of the same, as stored (zlib)
    text_bytes: int = 0  # extracted text of version 1, all together
    raw_bytes_edited: int = 0
    compressed_bytes_edited: int = 0
    change_classes: dict[str, int] = field(default_factory=dict)


def run(options: Options) -> Report:
    feeds, items = (QUICK_FEEDS, QUICK_ITEMS) if options.quick else (FEEDS, ITEMS)
    rechecks = QUICK_RECHECKS if options.quick else RECHECKS
    with (
        serving(feeds, items) as server,
        tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp,
        environment_without(DATABASE_ENV, CONFIG_ENV),
    ):
        clock = _Clock()
        app = _open_app(Path(tmp), server, clock)
        try:
            results = asyncio.run(_run(app, server, clock, rechecks))
        finally:
            app.close()
        if server.stats.not_found:
            raise RuntimeError(f"storage is broken: {server.stats.not_found} requests got a 404")
    return _report(results, server)


def _open_app(folder: Path, server: NewsServer, clock: _Clock) -> App:
    lines = [
        *local_host_settings(f"sqlite:///{folder / 'monitor.db'}", CONCURRENCY),
        "[[topics]]",
        'name = "bench"',
        f'keywords = ["{TOPIC}"]',
    ]
    urls = [f"{server.base_url}/feeds/{index:04d}.xml" for index in range(server.feeds)]
    path = write_feed_config(folder, lines, urls)
    app = open_app(path, clock=clock)
    app.sync()
    return app


async def _run(app: App, server: NewsServer, clock: _Clock, rechecks: int) -> _Results:
    database = Path(str(app.engine.url.database))
    n = server.feeds * server.items
    results = _Results(n, rechecks, [server.article(f, i).words for f, i in _keys(server)])
    results.start = _measure(app, database)
    async with app.pipeline() as pipeline:
        summary = await _pass(pipeline, server, n)
        _check("first fetch", summary, sources=server.feeds, new=n)
        results.first = _measure(app, database)
        _versions(app, results, number=1)
        for index in range(rechecks):
            _advance(app, clock)
            summary = await _pass(pipeline, server, n)
            _check(f"unchanged re-check {index + 1}", summary, sources=server.feeds, rechecked=n)
            results.unchanged.append(_measure(app, database))
        server.revision = 1
        _advance(app, clock)
        summary = await _pass(pipeline, server, n)
        _check("one sentence edited", summary, sources=server.feeds, rechecked=n, changed=n)
        results.edited = _measure(app, database)
        _versions(app, results, number=2)
    return results


def _keys(server: NewsServer) -> list[tuple[int, int]]:
    return [(feed, item) for feed in range(server.feeds) for item in range(server.items)]


async def _pass(pipeline: Pipeline, server: NewsServer, articles: int) -> PassSummary:
    """One pass; raises unless it fetched every article page once."""
    before = server.articles_served
    summary = await pipeline.run_pass()
    served = server.articles_served - before
    if served != articles:
        raise RuntimeError(f"storage is broken: a pass fetched {served} pages, not {articles}")
    return summary


def _advance(app: App, clock: _Clock) -> None:
    """Move the clock just past the last story's next check (and so past every source's next
    poll): what the service would see when the schedule's next step comes."""
    with app.sessions() as session:
        due = session.scalar(select(func.max(Story.next_check_at)))
    if due is None:
        raise RuntimeError("storage is broken: no story has a next check (schedule too short?)")
    clock.now = max(clock.now, due) + timedelta(minutes=1)


def _check(
    what: str,
    summary: PassSummary,
    *,
    sources: int,
    new: int = 0,
    rechecked: int = 0,
    changed: int = 0,
) -> None:
    got = (summary.sources_polled, summary.new, summary.rechecked, summary.changed)
    if (
        got != (sources, new, rechecked, changed)
        or summary.failures
        or summary.duplicates
        or summary.offtopic
    ):
        raise RuntimeError(
            f"storage is broken: {what}: {summary.line()}, {summary.rechecked} re-checked, "
            f"{summary.offtopic} off-topic (expected {sources} sources polled, {new} new, "
            f"{rechecked} re-checked, {changed} changed); first errors: {summary.errors[:3]}"
        )


def _versions(app: App, results: _Results, *, number: int) -> None:
    """Raw, compressed and text sizes of every version `number`, read back from the database."""
    with app.sessions() as session:
        rows = session.execute(
            select(Version.raw_html, Version.text, Version.change_class).where(
                Version.number == number
            )
        ).all()
    blobs = [blob for blob, _, _ in rows if blob is not None]
    if len(rows) != results.articles or len(blobs) != len(rows):
        raise RuntimeError(
            f"storage is broken: {len(rows)} versions {number}, {len(blobs)} with raw HTML, "
            f"expected {results.articles}"
        )
    raw = sum(len(zlib.decompress(blob)) for blob in blobs)
    compressed = sum(len(blob) for blob in blobs)
    if number == 1:
        results.raw_bytes, results.compressed_bytes = raw, compressed
        results.text_bytes = sum(len(text.encode()) for _, text, _ in rows)
    else:
        results.raw_bytes_edited, results.compressed_bytes_edited = raw, compressed
        for _, _, change in rows:
            key = str(change)
            results.change_classes[key] = results.change_classes.get(key, 0) + 1


# ---------------------------------------------------------------- report


def _report(results: _Results, server: NewsServer) -> Report:
    assert results.start and results.first and results.unchanged and results.edited
    n, k = results.articles, results.rechecks
    start, first, last, edited = results.start, results.first, results.unchanged[-1], results.edited
    raw_page = results.raw_bytes / n
    compressed = results.compressed_bytes / n
    per_version = (first.vacuumed - start.vacuumed) / n
    per_check = (last.total_payload() - first.total_payload()) / (n * k)
    per_changed = (edited.vacuumed - last.vacuumed) / n
    raw_edited = results.raw_bytes_edited / n
    check_measure = "row bytes" if last.payload is not None else "file bytes"
    rows = [
        Row("storage, version 1 (first fetch)", "bytes/version", per_version, raw_page),
        Row("storage, raw HTML kept (zlib)", "bytes/page", compressed, raw_page),
        Row(
            f"storage, unchanged re-check ({check_measure})", "bytes/check", per_check, per_version
        ),
        Row("storage, one sentence edited", "bytes/version", per_changed, raw_edited),
    ]
    words = results.words
    notes = [
        f"{n} articles ({min(words):,}-{max(words):,} words, {sum(words) / n:,.0f} on average) in "
        f"{server.feeds} feed(s) of {server.items} items, served from a thread on "
        f"{server.base_url}: pages of {raw_page / 1024:.0f} KiB (navigation, critical CSS, "
        "inline scripts, JSON-LD, a JSON state blob repeating the text, image srcsets, ads, "
        "footer) whose furniture changes at every request (Most read order, 'Updated N minutes "
        "ago' under the byline, ad correlators, CSP nonce, page-view id); no ETag or "
        "Last-Modified, so each re-check is a full GET + extraction + comparison",
        "measured after each pass: PRAGMA wal_checkpoint(TRUNCATE), VACUUM, page_count x "
        "page_size; a row is the growth over its phase (all tables and indexes) divided by the "
        "versions or checks the phase made; ratio = monitor / baseline, lower is smaller",
        f"version 1: baseline = the page's raw HTML; zlib level 6 keeps "
        f"{compressed / raw_page:.0%} of it ({compressed:,.0f} bytes), the extracted text is "
        f"{results.text_bytes / n:,.0f} bytes; row bytes per version by table: "
        f"{_per_table(first, start, n)}; the rest is page space",
    ]
    if last.payload is not None:
        per_pass = [
            (after.total_payload() - before.total_payload()) / n
            for before, after in zip(
                [first, *results.unchanged[:-1]], results.unchanged, strict=True
            )
        ]
        later = (
            f"; later ones: {_per_table(last, results.unchanged[0], n * (k - 1))}" if k > 1 else ""
        )
        notes.append(
            f"unchanged re-check: baseline = bytes per version 1; {k} passes of {n} re-checks, "
            "no version written (checked); counted in row bytes (dbstat payload, all tables and "
            "indexes) since the file grows by whole 4 KiB pages: VACUUMed it grew "
            f"{(last.vacuumed - first.vacuumed) / (n * k):,.1f} bytes per re-check, "
            f"{(last.file - first.vacuumed) / (n * k):,.1f} without VACUUM; row bytes per "
            f"re-check, pass by pass: {', '.join(f'{b:.1f}' for b in per_pass)}; the first "
            f"re-check by table: {_per_table(results.unchanged[0], first, n)}{later} (polls: "
            f"one row per feed poll, {server.feeds} per pass, not one per story)"
        )
    else:
        notes.append(
            "unchanged re-check: this SQLite has no dbstat, so the row is VACUUMed file growth, "
            "which moves by whole 4 KiB pages"
        )
    notes += [
        f"one sentence edited: baseline = the edited page's raw HTML; every story got version 2 "
        f"({_classes(results.change_classes)}), stored whole: its compressed HTML "
        f"({results.compressed_bytes_edited / n:,.0f} bytes) and full text, not a delta; row "
        f"bytes per version by table: {_per_table(edited, last, n)} (fingerprint bands are "
        "replaced, not added)",
        f"the -wal file before the checkpoint: {first.wal / 1024:,.0f} KiB after the first "
        f"pass, {max(s.wal for s in results.unchanged) / 1024:,.0f} KiB at most after a "
        "re-check pass (not counted above: SQLite checkpoints every 1,000 pages and reuses "
        f"the file); the database at the end: {edited.vacuumed / 1024:,.0f} KiB VACUUMed "
        f"for {n} stories and {2 * n} versions",
    ]
    return Report(rows=rows, notes=notes)


def _per_table(after: _Size, before: _Size, count: int) -> str:
    """Row bytes added per table between two measurements, divided by `count`."""
    if after.payload is None or before.payload is None:
        return "(no dbstat)"
    tables = after.payload.keys() | before.payload.keys()
    deltas = {t: after.payload.get(t, 0) - before.payload.get(t, 0) for t in tables}
    ordered = sorted(deltas.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{t} {d / count:+,.1f}" for t, d in ordered if d) or "none"


def _classes(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {name}" for name, count in sorted(counts.items()))
