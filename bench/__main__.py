"""`python -m bench [--quick] [--repeat N] [--profile DIR] [NAME ...]`: run the benchmarks
and print one table."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import bench
from bench import Options, Report, Row, format_table, peak_rss_mib

Benchmark = Callable[[Options], Report]


def discover() -> dict[str, Benchmark]:
    """Every module of this package that defines `run`, by module name, in name order."""
    found: dict[str, Benchmark] = {}
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module: ModuleType = importlib.import_module(f"bench.{info.name}")
        run = getattr(module, "run", None)
        if callable(run):
            found[info.name] = run
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="a smaller run, for a smoke test")
    parser.add_argument("--repeat", type=int, help="measurements per number (best one is kept)")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="also save cProfile output of one run in DIR"
    )
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    benchmarks = discover()
    unknown = [name for name in args.names if name not in benchmarks]
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)} (have: {', '.join(benchmarks)})")
    selected = args.names or list(benchmarks)
    options = Options(quick=args.quick, repeat=args.repeat, profile=args.profile)

    started = time.perf_counter()
    rows: list[Row] = []
    notes: list[str] = []
    for name in selected:
        print(f"running {name}{' (quick)' if options.quick else ''}…", file=sys.stderr, flush=True)
        report = benchmarks[name](options)
        rows.extend(report.rows)
        notes.extend(f"{name}: {note}" for note in report.notes)

    print(format_table(rows))
    print()
    for note in notes:
        print(f"- {note}")
    print(
        f"- peak RSS of the benchmark process: {peak_rss_mib():.0f} MiB; "
        f"total time {time.perf_counter() - started:.0f} s; "
        f"Python {platform.python_version()} on {platform.machine()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
