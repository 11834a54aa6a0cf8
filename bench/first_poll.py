"""first_poll: the memory of a first `monitor poll` that meets 1,000 new real-size pages.

The news site of `bench.ingest` (pages of about 90 KB, three quarters on the default topics)
lists 1,000 new articles (`--quick`: 100) in 50 feeds; a `monitor poll` process, started as a
user starts it, on a new SQLite file with the default topics and seeds, fetches, extracts and
stores them all. Every 0.1 s the benchmark sums the memory of the poll process and its
descendants (the pool's workers; /proc as in `bench.footprint`), and keeps the highest sums:
RSS (shared pages counted in every process that maps them) and PSS (each shared page split
among them), with each process's share at those moments in the notes.

Bodies wait in a bounded number of slots between fetch and write, so the peak must not grow
with the number of new pages. The baseline is an idle Python process that imported what
`monitor run` imports (the footprint baseline); the target the project set itself is 300 MB
(10^6 bytes: the rows are in MB, the notes give MiB too) for all processes together. Memory
rows read "lower is smaller": ratio = monitor / baseline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import Options, Report, Row, environment_without
from bench.feedserver import run_server
from bench.footprint import MB_PER_MIB, Memory, idle_memory, process_tree_memory
from bench.ingest import write_ingest_config
from monitor.config import CONFIG_ENV, DATABASE_ENV

PAGES, QUICK_PAGES = 1000, 100
ITEMS = 20  # per feed
SAMPLE_EVERY = 0.1  # seconds
TARGET_MB = 300


def run(options: Options) -> Report:
    pages = QUICK_PAGES if options.quick else PAGES
    feeds = pages // ITEMS
    with (
        run_server(feeds, ITEMS, pages="bench.ingest:article_page") as server,
        tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp,
        environment_without(DATABASE_ENV, CONFIG_ENV),
    ):
        folder = Path(tmp)
        config = write_ingest_config(folder, server, f"sqlite:///{folder / 'first.db'}", feeds)
        baseline_rss, baseline_pss = idle_memory()
        started = time.monotonic()
        peak_rss, peak_pss, summary = _poll(config)
        wall = time.monotonic() - started

    def each(values: dict[str, float]) -> str:
        return ", ".join(f"{role} {mib:.1f}" for role, mib in values.items())

    return Report(
        [
            Row(
                f"first poll of {pages:,} new pages, peak RSS, all processes",
                "MB",
                peak_rss.total_rss * MB_PER_MIB,
                baseline_rss * MB_PER_MIB,
            ),
            Row(
                f"first poll of {pages:,} new pages, peak PSS, all processes",
                "MB",
                peak_pss.total_pss * MB_PER_MIB,
                baseline_pss * MB_PER_MIB,
            ),
        ],
        [
            f"`monitor poll` of {feeds} feeds listing {pages:,} new pages of about "
            f"90 KB on a new SQLite file, {wall:.0f} s; it printed: {summary}; memory summed "
            f"over the poll process and its descendants every {SAMPLE_EVERY:g} s, highest sum "
            f"kept; baseline: an idle process that imported what `monitor run` imports; "
            f"target: at most {TARGET_MB} MB (10^6 bytes) for all processes",
            f"in MiB: peak RSS {peak_rss.total_rss:.1f} ({each(peak_rss.rss)}), peak PSS "
            f"{peak_pss.total_pss:.1f} ({each(peak_pss.pss)}); baseline RSS "
            f"{baseline_rss:.1f}, PSS {baseline_pss:.1f}",
        ],
    )


def _poll(config: Path) -> tuple[Memory, Memory, str]:
    """Run `monitor poll`, sampling its processes' memory; the samples with the highest RSS
    sum and the highest PSS sum, and the line it printed last."""
    command = [sys.executable, "-c", "from monitor.cli import main; main()"]
    process = subprocess.Popen(
        [*command, "--config", str(config), "poll"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    nothing = Memory({}, {}, {})
    peaks = [nothing, nothing]

    def sample() -> None:
        while process.poll() is None:
            memory = process_tree_memory(process.pid)
            if memory.total_rss > peaks[0].total_rss:
                peaks[0] = memory
            if memory.total_pss > peaks[1].total_pss:
                peaks[1] = memory
            time.sleep(SAMPLE_EVERY)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate(timeout=1800)
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"first_poll is broken: monitor poll exited {process.returncode}: {err}")
    return peaks[0], peaks[1], out.strip().splitlines()[-1] if out.strip() else "(nothing)"
