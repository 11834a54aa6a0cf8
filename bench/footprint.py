"""footprint: the resident memory of a real `monitor run` service over its first passes.

The service is a child process started as a deployment starts it (`python -c "from
monitor.cli import main; main()" --config FILE run`), with 2,000 feed sources (`--quick`: 100)
on a local server (`bench.feedserver`, in a process of its own): feeds of 8 items each, every
item already stored as a known (off-topic) story, as a previous pass would have left it, but
for the first item of one feed in 20: those pages (news pages of `bench.ingest`) are new in
the first pass, so the service's process pool starts its workers as it would on a real day,
and are known from then on. Each feed answers 304 to the ETag the service stored, except that
one feed in 10 has a new revision at each poll (`change_every=10`: a new lastBuildDate and
ETag, the same items), which the service fetches, parses and looks up: the quiet-day work of a
service, the same in every pass after the first, so that memory that grows from pass to pass is
a leak, not new data.

Polling interval "1s": the service ticks every second (tick = min(60 s, shortest interval)) and
each tick that finds sources due starts a pass, so passes follow one another as fast as the
service can make them. A pass is counted from the database: pass N is done when every source
has N rows in the polls table (a tick may take a part of the sources only: a source polled in
the last second of a pass is not due yet when the next one starts). When pass 1, 2, ... 10
(`--quick`: 6) are done, the benchmark reads the memory of every process of the service: the
`monitor run` process and its descendants (the pool's workers; a multiprocessing forkserver
or resource tracker, were there one), found through /proc/PID/task/*/children: VmRSS from
/proc/PID/status and Pss from /proc/PID/smaps_rollup.

Rows, in MB (10^6 bytes, as the targets are; the notes give MiB):

- **RSS, all processes**: the sum of their VmRSS after the last pass. Pages the processes share
  (the Python interpreter and libraries' code) are counted in each of them, so the sum
  overstates what the service takes; baseline: the VmRSS of an idle Python process that
  imported what `monitor run` imports (monitor.cli, monitor.pipeline.service,
  monitor.store.db) and did nothing else. The ratio is how many times that the running service
  holds.
- **PSS, all processes**: the sum of their Pss, each shared page split among the processes
  sharing it: what the service takes of the machine's memory; baseline: the idle process's Pss.
- **growth**: the RSS of all processes after the last pass minus after the middle one (pass 5
  of 10); the baseline column is the RSS after the middle pass. A leak shows here.

Memory rows read "lower is smaller": ratio = monitor / baseline. `--repeat` and `--profile` do
not apply (one service run; the profile of a pass is `poll_pass`'s).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from bench import Options, Report, Row, environment_without, local_host_settings, write_feed_config
from bench.feedserver import RunningServer, Stats, article_url, run_server
from monitor.app import open_app
from monitor.config import CONFIG_ENV, DATABASE_ENV
from monitor.core.urls import canonicalize_url, identity_key
from monitor.store.models import Story, StoryAlias

SOURCES, PASSES = 2_000, 10
QUICK_SOURCES, QUICK_PASSES = 100, 6
ITEMS = 8
CHANGE_EVERY = 10  # one feed in 10 has a new revision at each poll
NEW_EVERY = 20  # the first item of one feed in 20 is new in the first pass
CONCURRENCY = 16
DEADLINE = 600.0  # seconds for all passes; past it the benchmark fails
MB_PER_MIB = 1024 * 1024 / 1e6  # the targets are in MB, /proc counts KiB
REPO = Path(__file__).resolve().parent.parent
SERVICE = "from monitor.cli import main; main()"
IDLE = (
    "import sys, monitor.cli, monitor.pipeline.service, monitor.store.db; "
    "print('ready', flush=True); sys.stdin.read()"
)


def run(options: Options) -> Report:
    sources = QUICK_SOURCES if options.quick else SOURCES
    passes = QUICK_PASSES if options.quick else PASSES
    load = [os.getloadavg()[0]]
    with (
        run_server(
            sources, ITEMS, pages="bench.footprint:article_page", change_every=CHANGE_EVERY
        ) as server,
        tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp,
        environment_without(DATABASE_ENV, CONFIG_ENV),
    ):
        folder = Path(tmp)
        config, cache_size = _prepare(folder, server)
        baseline = idle_memory()
        before = server.stats()
        service = _run_service(folder, config, sources, passes)
        served = server.served_since(
            before, "footprint", "the service", not_found=0, pages_ok=_new_items(sources)
        )
    load.append(os.getloadavg()[0])
    return _report(service, baseline, served, sources, passes, load, cache_size)


def _prepare(folder: Path, server: RunningServer) -> tuple[Path, int]:
    """The service's config and database: sources synced, every item a known story. Also
    the page cache size monitor gives its SQLite connections (PRAGMA cache_size)."""
    lines = [
        *local_host_settings(f"sqlite:///{folder / 'monitor.db'}", CONCURRENCY),
        "[polling]",
        'interval = "1s"',
        "[service]",
        'shutdown_timeout = "2s"',
        "[[topics]]",
        'name = "bench"',
        'keywords = ["zebra crossing"]',
    ]
    path = write_feed_config(folder, lines, server.feed_urls())
    app = open_app(path)
    try:
        with app.engine.connect() as connection:
            cache_size = int(connection.exec_driver_sql("PRAGMA cache_size").scalar() or 0)
        app.sync()
        now = datetime.now(UTC)
        urls = [
            canonicalize_url(article_url(server.base_url, feed, item))
            for feed in range(server.feeds)
            for item in range(ITEMS)
            if not _is_new(feed, item)
        ]
        rows = [
            {
                "url": url,
                "first_seen_at": now,
                "status": "offtopic",
                "title": "",
                "version_count": 0,
                "recheck_step": 0,
            }
            for url in urls
        ]
        with app.sessions.begin() as session:
            session.execute(insert(Story), rows)
            ids = {url: story for url, story in session.execute(select(Story.url, Story.id))}
            session.execute(
                insert(StoryAlias),
                [{"key": identity_key(url), "url": url, "story_id": ids[url]} for url in urls],
            )
    finally:
        app.close()
    return path, cache_size


def _is_new(feed: int, item: int) -> bool:
    return item == 0 and feed % NEW_EVERY == 0


def _new_items(sources: int) -> int:
    return sum(_is_new(feed, 0) for feed in range(sources))


def article_page(base_url: str, feed: int, item: int) -> bytes:
    """The server's page maker: a news page for the new items, a stub for the known ones
    (never requested: the service knows them)."""
    if _is_new(feed, item):
        from bench.ingest import article_page as news_page  # the heavy page builder

        return news_page(base_url, feed, item)
    return b"<!doctype html><title>known</title>"


def _vm(pid: int, field_name: str) -> float:
    """A VmRSS-like field of /proc/PID/status, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"footprint is broken: no {field_name} in /proc/{pid}/status")


def _pss(pid: int) -> float:
    """Pss of /proc/PID/smaps_rollup in MiB: resident pages, each shared one divided among
    the processes that share it."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"footprint is broken: no Pss in /proc/{pid}/smaps_rollup")


def _descendants(pid: int) -> list[int]:
    """The children of every thread of PID, and theirs, depth first."""
    found: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for child in children.read_text().split():
                found += [int(child), *_descendants(int(child))]
    return found


@dataclass(frozen=True)
class Memory:
    """The memory of each process of the service at one moment, in MiB."""

    rss: dict[str, float]  # by role: "service", "worker N" ("forkserver", "resource tracker")
    pss: dict[str, float]
    peak: dict[str, float]  # VmHWM

    @property
    def total_rss(self) -> float:
        return sum(self.rss.values())

    @property
    def total_pss(self) -> float:
        return sum(self.pss.values())


def process_tree_memory(service: int) -> Memory:
    """Every process of the service; one that exits meanwhile (a replaced worker) is left out."""
    rss: dict[str, float] = {}
    pss: dict[str, float] = {}
    peak: dict[str, float] = {}
    workers = 0
    for pid in [service, *_descendants(service)]:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            parent = int(_status_field(pid, "PPid"))
            if pid == service:
                role = "service"
            elif b"resource_tracker" in command:
                role = "resource tracker"
            elif b"forkserver" in command and parent == service:
                role = "forkserver"
            else:
                workers += 1
                role = f"worker {workers}"
            rss[role], pss[role], peak[role] = _vm(pid, "VmRSS"), _pss(pid), _vm(pid, "VmHWM")
        except (OSError, RuntimeError):
            continue
    return Memory(rss, pss, peak)


def _status_field(pid: int, name: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise RuntimeError(f"footprint is broken: no {name} in /proc/{pid}/status")


def idle_memory() -> tuple[float, float]:
    """VmRSS and Pss of a Python process that imported what `monitor run` imports, then
    waits."""
    process = subprocess.Popen(
        [sys.executable, "-c", IDLE],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        if process.stdout.readline().strip() != b"ready":
            raise RuntimeError("footprint is broken: the idle process did not start")
        time.sleep(0.2)
        return _vm(process.pid, "VmRSS"), _pss(process.pid)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@dataclass
class _Service:
    memory: list[Memory] = field(default_factory=list)  # after pass 1, 2, ...
    at: list[float] = field(default_factory=list)  # seconds since start when each was done
    polls: dict[int | None, int] = field(default_factory=dict)  # by HTTP status
    errors: int = 0
    ticks: int = 0  # "pass:" lines the service logged


def _run_service(folder: Path, config: Path, sources: int, passes: int) -> _Service:
    log_path = folder / "service.log"
    database = folder / "monitor.db"
    result = _Service()
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-c", SERVICE, "--config", str(config), "run"],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            with contextlib.closing(
                sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
            ) as db:
                while len(result.memory) < passes:
                    if process.poll() is not None:
                        raise RuntimeError(
                            f"footprint is broken: the service exited ({process.returncode}): "
                            f"{_tail(log_path)}"
                        )
                    if time.perf_counter() - started > DEADLINE:
                        raise RuntimeError(
                            f"footprint is broken: {len(result.memory)} passes in {DEADLINE:.0f} s"
                        )
                    done = _passes_done(db, sources)
                    while len(result.memory) < min(done, passes):
                        result.memory.append(process_tree_memory(process.pid))
                        result.at.append(time.perf_counter() - started)
                    time.sleep(0.1)
        finally:
            _stop(process)
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        result.polls = dict(db.execute("SELECT status, count(*) FROM polls GROUP BY status"))
        result.errors = db.execute("SELECT count(*) FROM polls WHERE error IS NOT NULL").fetchone()[
            0
        ]
    result.ticks = log_path.read_text(errors="replace").count(" pass: ")
    if result.errors:
        raise RuntimeError(f"footprint is broken: {result.errors} polls failed: {_tail(log_path)}")
    return result


def _passes_done(db: sqlite3.Connection, sources: int) -> int:
    """How many passes every source has had: the fewest polls of any source."""
    try:
        row = db.execute(
            "SELECT count(*), min(n) FROM (SELECT count(*) AS n FROM polls GROUP BY source_id)"
        ).fetchone()
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    polled, fewest = row
    return int(fewest) if polled == sources and fewest is not None else 0


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(path: Path, lines: int = 5) -> str:
    return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])


def _cache_mib(cache_size: int) -> float:
    """PRAGMA cache_size in MiB: negative values are KiB, positive ones pages (of 4 KiB)."""
    return -cache_size / 1024 if cache_size < 0 else cache_size * 4 / 1024


def _report(
    service: _Service,
    baseline: tuple[float, float],
    served: Stats,
    sources: int,
    passes: int,
    load: list[float],
    cache_size: int,
) -> Report:
    middle = passes // 2
    idle_rss, idle_pss = baseline
    last, mid = service.memory[-1], service.memory[middle - 1]
    count = len(last.rss)
    rows = [
        Row(
            f"footprint, RSS after pass {passes}, all {count} processes",
            "MB",
            last.total_rss * MB_PER_MIB,
            idle_rss * MB_PER_MIB,
        ),
        Row(
            f"footprint, PSS after pass {passes}, all {count} processes",
            "MB",
            last.total_pss * MB_PER_MIB,
            idle_pss * MB_PER_MIB,
        ),
        Row(
            f"footprint, RSS growth pass {middle} -> {passes}, all processes",
            "MB",
            (last.total_rss - mid.total_rss) * MB_PER_MIB,
            mid.total_rss * MB_PER_MIB,
        ),
    ]
    durations = [b - a for a, b in zip(service.at, service.at[1:], strict=False)]
    polls = ", ".join(f"{count:,} x {status}" for status, count in sorted(service.polls.items()))

    def each(values: dict[str, float]) -> str:
        return ", ".join(f"{role} {mib:.1f}" for role, mib in values.items())

    notes = [
        f"a `monitor run` child process with {sources:,} feed sources of {ITEMS} items on a "
        f"local server (bench/feedserver.py, own process), every item already a known story "
        f"but the first of one feed in {NEW_EVERY} ({_new_items(sources)} news pages of "
        "bench.ingest, new in the first pass: the process pool starts its workers); feeds "
        f"answer 304 to the stored ETag but one in {CHANGE_EVERY} has a new revision "
        f"at each poll (same items: fetched, parsed, looked up); SQLite, polling interval 1s "
        f"(a tick a second), concurrency {CONCURRENCY} = per_host_concurrency, "
        "per_host_delay 0s (one host), [processing] processes at its default; respect_robots "
        "on (the server answers 404: allow all)",
        f"pass N = every source has N rows in polls; MiB (the rows are in MB: x {MB_PER_MIB:.4f}) "
        f"after each pass, all processes "
        f"together: RSS {', '.join(f'{m.total_rss:.1f}' for m in service.memory)}; PSS "
        f"{', '.join(f'{m.total_pss:.1f}' for m in service.memory)}; seconds per pass after "
        f"the first: {', '.join(f'{d:.1f}' for d in durations)} (the first took "
        f"{service.at[0]:.1f} s from the process start, 200s everywhere); {service.ticks} "
        "ticks polled something",
        f"after pass {passes}, MiB by process (/proc/PID/status, /proc/PID/smaps_rollup): "
        f"RSS {each(last.rss)}; PSS {each(last.pss)}; VmHWM (peak) {each(last.peak)}; RSS "
        f"growth pass {middle} -> {passes}: "
        f"{each({role: rss - mid.rss.get(role, 0.0) for role, rss in last.rss.items()})}",
        f"the service's polls: {polls} (by HTTP status), none failed; the server answered "
        f"{served.feeds_ok:,} 200s and {served.feeds_not_modified:,} 304s, "
        f"{served.pages_ok} article pages, {served.robots} robots.txt",
        "baseline: VmRSS and Pss of an idle `python -c 'import monitor.cli, "
        f"monitor.pipeline.service, monitor.store.db'` ({idle_rss:.1f} and {idle_pss:.1f} MiB); "
        "ratio = monitor / "
        f"baseline, lower is smaller; growth row: baseline = RSS of all processes after pass "
        f"{middle}",
        f"monitor sets PRAGMA cache_size={cache_size} on its SQLite connections: each keeps "
        f"up to {_cache_mib(cache_size):,.0f} MiB of database pages, so the RSS grows with "
        "the pages a pass reads and writes (the polls table grows every pass) until that "
        "cap: a rise of a few hundred KiB a pass can be that cache filling, not a leak",
        f"the machine's load average was {load[0]:.1f} at the start and {load[-1]:.1f} at the "
        f"end ({os.cpu_count()} CPUs): it changes the seconds per pass, not the memory",
    ]
    return Report(rows=rows, notes=notes)
