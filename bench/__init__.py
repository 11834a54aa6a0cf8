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
import os
import resource
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Options", "Report", "Row", "environment_without", "format_table", "peak_rss_mib"]


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
