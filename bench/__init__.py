"""Benchmarks that compare monitor with a plain baseline measured in the same run.

`python -m bench` (or `make bench`) runs every benchmark module of this package and prints one
table: name, metric, monitor, baseline, and the ratio monitor / baseline. A ratio is only
meaningful inside one run: both numbers were measured on the same machine, minutes apart.

A benchmark module is a module here that defines

    def run(options: Options) -> Report

(helpers such as `feedserver` define no `run`). Benchmarks print nothing themselves; they
return rows and notes, and `__main__` prints them. No benchmark asserts on a timing: a number
is reported, never judged. A benchmark does raise when the work it measured was not the work it
meant to measure (a feed that failed, a request it did not expect), because then its numbers
would be wrong.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Options",
    "Report",
    "Row",
    "environment_without",
    "feed_source_name",
    "format_table",
    "local_host_settings",
    "peak_rss_mib",
    "toml_string",
    "write_feed_config",
]


SHIPPED_SEEDS = Path(__file__).resolve().parents[1] / "config" / "seeds"


def toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string for these characters


def local_host_settings(
    database_url: str, concurrency: int, *, respect_robots: bool = True
) -> list[str]:
    """The [database] and [fetch] lines every benchmark shares: everything is served by one
    host on loopback, so the per-host limits equal the global one and there is no per-host
    delay (the politeness defaults would measure the delay, not the code). The seeds are
    the shipped ones (a config must name a folder of seeds)."""
    lines = [
        "[seeds]",
        f"path = {toml_string(str(SHIPPED_SEEDS))}",
        "[database]",
        f"url = {toml_string(database_url)}",
        "[fetch]",
        f"concurrency = {concurrency}",
        f"per_host_concurrency = {concurrency}",
        'per_host_delay = "0s"',
        "allow_private_addresses = true",
    ]
    return lines if respect_robots else [*lines, "respect_robots = false"]


def feed_source_name(index: int) -> str:
    return f"feed-{index:04d}"


def write_feed_config(folder: Path, settings: Sequence[str], feed_urls: Sequence[str]) -> Path:
    """folder/monitor.toml: the `settings` lines, then one feed source per URL, named by
    `feed_source_name` (TOML strings are written as JSON strings, which TOML reads alike)."""
    lines = list(settings)
    for index, url in enumerate(feed_urls):
        name = feed_source_name(index)
        lines += ["[[sources]]", f'name = "{name}"', 'kind = "feed"', f"url = {toml_string(url)}"]
    path = folder / "monitor.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextlib.contextmanager
def environment_without(*names: str) -> Iterator[None]:
    """These environment variables unset meanwhile: a benchmark uses its own config and
    database, whatever MONITOR_CONFIG or MONITOR_DATABASE_URL say."""
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


@dataclass(frozen=True)
class Options:
    quick: bool = False  # a smaller run, for a smoke test: seconds, not minutes
    repeat: int | None = None  # measurements of each number; None: the benchmark's default
    profile: Path | None = None  # a folder for cProfile output of an extra, untimed run


@dataclass(frozen=True)
class Row:
    name: str
    metric: str
    monitor: float
    baseline: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.monitor / self.baseline


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how it was measured, printed below


def format_table(rows: Sequence[Row]) -> str:
    """A plain-text table, numbers right-aligned."""
    header = ("name", "metric", "monitor", "baseline", "ratio")
    cells = [header] + [
        (
            row.name,
            row.metric,
            _number(row.monitor),
            "-" if row.baseline is None else _number(row.baseline),
            "-" if row.ratio is None else f"{row.ratio:.2f}",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = []
    for index, line in enumerate(cells):
        text = "  ".join(
            cell.ljust(width) if column < 2 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        lines.append(text.rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
