"""peers: the same news pages checked for changes by urlwatch and by monitor, as their users run
them: one command per pass, each tool in its own process.

The pages are the `storage` benchmark's news site (`bench.storage`): articles of 800 to 1,500
words dressed like real news pages, whose furniture changes at every request ("Most read"
order, "Updated N minutes ago", ad correlators, CSP nonce, page-view id) and which send no
ETag or Last-Modified. The site runs in a thread of this process; the benchmark process does
nothing else while a tool runs, and its CPU time during each run is reported as the site's.

- **urlwatch** (the baseline): installed by the benchmark with `python -m venv` and `pip install
  urlwatch` into bench/.cache/urlwatch-venv (reused by later runs; nothing is added to the
  project's dependencies; when the install fails the benchmark is skipped with a note). A
  urls.yaml of plain `url:` jobs, a config with only the stdout reporter on (no colour, its
  default text report: a summary line per change, then the diffs), a minidb `--cache` file in a
  temporary folder. Its fetches run in its fixed pool of 10 threads.
- **monitor**: one `kind = "article"` source per page (a watched page: the closest equivalent of
  a urlwatch `url:` job), SQLite, `concurrency` and `per_host_concurrency` 10 (urlwatch's
  pool), `per_host_delay = "0s"`, robots.txt not read (urlwatch does not read it), interval 1s
  so that the second `monitor poll` finds every source due. The schema is created beforehand
  with `monitor db upgrade` (untimed, as at installation).

Each pass is one process started through a small wrapper (`python -I -S`) that spawns the
tool, waits for it with `wait4` and reports its wall time, CPU time and own `ru_maxrss`.
Spawning the tool from the benchmark process directly would not do: a child's high-water mark
starts from its parent's resident set (fork, or vfork before exec), and this process holds the
site and monitor's imports; the wrapper's own set (a few MiB, reported) is the floor instead.

Per repetition, each tool from nothing (a new cache file, a new database): a **first pass**
(every page new) and an **unchanged pass** (the same content, new furniture). Best of N for
time and for memory, the tools' order alternating between repetitions. Also counted: the
changes each tool reported on the unchanged pass, and once, urlwatch with `filter: html2text`
(its documented way to watch a page's text rather than its markup).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import monitor
from bench import Options, Report, Row, local_host_settings
from bench.feedserver import NewsServer, serving

URLS = 200
QUICK_URLS = 50
PAGES_PER_FEED = 10  # the site's grid: /articles/FFFF/II for II < PAGES_PER_FEED
CONCURRENCY = 10  # urlwatch's fixed pool (urlwatch.worker.MAX_WORKERS); monitor gets the same
INTERVAL = 1.0  # seconds: monitor's polling interval, so the second pass finds every source due
REPEAT = 2
QUICK_REPEAT = 1
RUN_TIMEOUT = 300  # seconds for one pass of one tool
INSTALL_TIMEOUT = 600  # seconds for `python -m venv` plus `pip install urlwatch`

CACHE = Path(__file__).resolve().parent / ".cache"
VENV = CACHE / "urlwatch-venv"
_MONITOR_ROOT = Path(monitor.__file__).resolve().parent.parent  # what `import monitor` found
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")

# Spawns argv[2:], waits for it, writes {"wall", "cpu", "maxrss", "code"} as JSON to argv[1]. Run
# with -I -S: no site-packages, so its own resident set (the child's floor) stays small.
_WRAPPER = """\
import json, os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(out, "w") as file:
    json.dump({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
               "maxrss": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status)}, file)
"""

_SUMMARY_LINE = re.compile(r"^\d{2,}\. (NEW|CHANGED|UNCHANGED|ERROR): ", re.MULTILINE)


# ---------------------------------------------------------------- measuring one process


@dataclass(frozen=True)
class _Run:
    wall: float  # seconds, from spawn to exit
    cpu: float  # the process's user + system CPU seconds
    peak_mib: float  # the process's own ru_maxrss
    site_cpu: float  # CPU seconds of this process (the site) meanwhile
    stdout: str
    stdout_bytes: int


def _measured(what: str, command: Sequence[str | Path], *, cwd: Path, env: dict[str, str]) -> _Run:
    """Run `command` through the wrapper; raises when it fails or does not finish in time."""
    result = cwd / "run.json"
    stdout_path, stderr_path = cwd / "stdout.txt", cwd / "stderr.txt"
    result.unlink(missing_ok=True)
    wrapper = [sys.executable, "-I", "-S", "-c", _WRAPPER, str(result), *map(str, command)]
    cpu = time.process_time()
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            wrapper, cwd=cwd, env=env, stdout=stdout, stderr=stderr, start_new_session=True
        )
        try:
            process.wait(timeout=RUN_TIMEOUT)
        except BaseException as exc:  # a timeout, or ^C: the tool is in its own session
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # the wrapper's group: the tool too
            process.wait()
            if isinstance(exc, subprocess.TimeoutExpired):
                message = f"peers is broken: {what} did not finish in {RUN_TIMEOUT} s"
                raise RuntimeError(message) from None
            raise
    site_cpu = time.process_time() - cpu
    output = stdout_path.read_bytes()
    errors = stderr_path.read_text(errors="replace").strip()
    if process.returncode != 0 or not result.exists():
        raise RuntimeError(f"peers is broken: the wrapper of {what} failed: {errors[-500:]}")
    measured = json.loads(result.read_text())
    if measured["code"] != 0:
        raise RuntimeError(
            f"peers is broken: {what} exited with {measured['code']}: {errors[-500:]}"
        )
    maxrss = measured["maxrss"]
    peak = maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024
    text = output.decode(errors="replace")
    return _Run(measured["wall"], measured["cpu"], peak, site_cpu, text, len(output))


def _wrapper_floor(folder: Path) -> float | None:
    """The peak a child reports when it does nothing: the wrapper's own resident set."""
    true = shutil.which("true")
    if true is None:
        return None
    return _measured("true", [true], cwd=folder, env=dict(os.environ)).peak_mib


# ---------------------------------------------------------------- urlwatch in its own venv


@dataclass(frozen=True)
class _Urlwatch:
    python: Path
    version: str
    installed_seconds: float | None  # None: the venv was already there


def _urlwatch() -> _Urlwatch | str:
    """urlwatch's venv, created and installed when missing; a one-line reason when that fails."""
    python = VENV / "bin" / "python"
    version = _urlwatch_version(python)
    if version is not None:
        return _Urlwatch(python, version, None)
    started = time.perf_counter()
    CACHE.mkdir(exist_ok=True)
    ignore = CACHE / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# bench/peers.py: urlwatch's virtualenv, not part of the project\n*\n")
    shutil.rmtree(VENV, ignore_errors=True)  # a half-made venv from an interrupted run
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    steps = {
        "python -m venv": [sys.executable, "-m", "venv", str(VENV)],
        "pip install urlwatch": [*pip, "urlwatch"],
    }
    for label, step in steps.items():
        try:
            done = subprocess.run(
                step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(VENV, ignore_errors=True)
            return f"{label} failed: {exc}"
        if done.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            errors = [line for line in lines if "error" in line.lower()] or lines or ["no output"]
            return f"{label} exited with {done.returncode}: {errors[-1].strip()}"
    version = _urlwatch_version(python)
    if version is None:
        shutil.rmtree(VENV, ignore_errors=True)
        return "pip install urlwatch succeeded, but urlwatch does not import"
    return _Urlwatch(python, version, time.perf_counter() - started)


def _urlwatch_version(python: Path) -> str | None:
    if not python.exists():
        return None
    check = "import importlib.metadata as m, urlwatch.cli; print(m.version('urlwatch'))"
    try:
        done = subprocess.run(
            [str(python), "-c", check], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


@dataclass
class _UrlwatchSetup:
    python: Path
    folder: Path
    urls: Path
    config: Path
    env: dict[str, str]

    def command(self, cache: Path) -> list[str | Path]:
        return [
            self.python,
            self.python.parent / "urlwatch",
            "--urls",
            self.urls,
            "--config",
            self.config,
            "--hooks",
            self.folder / "hooks.py",  # absent: no hooks
            "--cache",
            cache,
        ]


def _urlwatch_setup(
    python: Path, folder: Path, urls: list[str], *, filtered: bool
) -> _UrlwatchSetup:
    folder.mkdir()
    jobs = [f"url: {url}" + ("\nfilter: html2text" if filtered else "") for url in urls]
    (folder / "urls.yaml").write_text("\n---\n".join(jobs) + "\n", encoding="utf-8")
    config = (
        "display:\n  new: true\n  error: true\n  unchanged: false\n"
        "report:\n  stdout:\n    enabled: true\n    color: false\n"
    )
    (folder / "urlwatch.yaml").write_text(config, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARIABLES}
    env.update(  # loopback only; no file of the user's urlwatch is read or written
        NO_PROXY="127.0.0.1,localhost",
        XDG_CONFIG_HOME=str(folder / "config"),
        XDG_CACHE_HOME=str(folder / "cache"),
    )
    return _UrlwatchSetup(python, folder, folder / "urls.yaml", folder / "urlwatch.yaml", env)


def _urlwatch_counts(output: str) -> dict[str, int]:
    """NEW / CHANGED / ERROR lines of the report's summary (UNCHANGED ones are not shown)."""
    counts = {"NEW": 0, "CHANGED": 0, "UNCHANGED": 0, "ERROR": 0}
    for verb in _SUMMARY_LINE.findall(output):
        counts[verb] += 1
    return counts


# ---------------------------------------------------------------- monitor


@dataclass
class _MonitorSetup:
    folder: Path
    config: Path
    env: dict[str, str]

    def command(self, *arguments: str) -> list[str | Path]:
        entry = "from monitor.cli import main; main()"
        return [sys.executable, "-c", entry, "--config", self.config, *arguments]


def _monitor_setup(folder: Path, urls: list[str]) -> _MonitorSetup:
    folder.mkdir()
    lines = [
        *local_host_settings(
            f"sqlite:///{folder / 'monitor.db'}", CONCURRENCY, respect_robots=False
        ),
        "[polling]",
        f'interval = "{INTERVAL:g}s"',
    ]
    for index, url in enumerate(urls):
        lines += ["[[sources]]", f'name = "page-{index:04d}"', 'kind = "article"', f'url = "{url}"']
    config = folder / "monitor.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    # the child imports the monitor this process imports, whatever is installed
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join([str(_MONITOR_ROOT), *([path] if path else [])])
    return _MonitorSetup(folder, config, env)


def _monitor_summary(what: str, run: _Run) -> dict[str, int]:
    try:
        summary = json.loads(run.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(
            f"peers is broken: {what} printed no JSON: {run.stdout[:300]!r}"
        ) from None
    return {key: len(value) if isinstance(value, list) else value for key, value in summary.items()}


# ---------------------------------------------------------------- the run


@dataclass
class _Series:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peak: list[float] = field(default_factory=list)
    changes: list[int] = field(default_factory=list)  # changes reported, per run

    def add(self, run: _Run, changes: int) -> None:
        self.wall.append(run.wall)
        self.cpu.append(run.cpu)
        self.peak.append(run.peak_mib)
        self.changes.append(changes)


@dataclass
class _Results:
    urls: int
    repeat: int
    urlwatch: _Urlwatch
    urlwatch_first: _Series = field(default_factory=_Series)
    urlwatch_unchanged: _Series = field(default_factory=_Series)
    monitor_first: _Series = field(default_factory=_Series)
    monitor_unchanged: _Series = field(default_factory=_Series)
    html2text_changes: int = 0
    diff_bytes: int = 0  # urlwatch's stdout on its unchanged pass
    page_bytes: int = 0
    site_busy: float = 0.0  # the site's CPU time / wall time, at most, in any run
    schema_seconds: float = 0.0
    floor: float | None = None
    startup: dict[str, _Run] = field(default_factory=dict)  # by tool: a pass with nothing to do


def run(options: Options) -> Report:
    found = _urlwatch()
    if isinstance(found, str):
        return Report(notes=[f"skipped: urlwatch could not be installed ({found})"])
    n = QUICK_URLS if options.quick else URLS
    repeat = options.repeat or (QUICK_REPEAT if options.quick else REPEAT)
    feeds = -(-n // PAGES_PER_FEED)
    with (
        serving(feeds, PAGES_PER_FEED) as server,
        tempfile.TemporaryDirectory(prefix="monitor-bench-peers-") as tmp,
    ):
        urls = [
            f"{server.base_url}/articles/{feed:04d}/{item:02d}"
            for feed in range(feeds)
            for item in range(PAGES_PER_FEED)
        ][:n]
        for feed in range(feeds):  # pages built before anything is timed
            for item in range(PAGES_PER_FEED):
                server.article(feed, item)
        results = _Results(n, repeat, found)
        results.floor = _wrapper_floor(Path(tmp))
        _startup(results, Path(tmp) / "startup")
        for index in range(repeat):
            _repetition(results, server, urls, Path(tmp) / f"run-{index}", first=index % 2 == 0)
        _html2text(results, server, urls, Path(tmp) / "html2text")
        if server.stats.not_found:
            raise RuntimeError(f"peers is broken: {server.stats.not_found} requests got a 404")
    return _report(results, server)


def _repetition(
    results: _Results, server: NewsServer, urls: list[str], folder: Path, *, first: bool
) -> None:
    """Both tools from nothing: first pass, unchanged pass; urlwatch first when `first`."""
    folder.mkdir()
    n = len(urls)
    watcher = _urlwatch_setup(results.urlwatch.python, folder / "urlwatch", urls, filtered=False)
    mon = _monitor_setup(folder / "monitor", urls)
    started = time.perf_counter()
    _measured("monitor db upgrade", mon.command("db", "upgrade"), cwd=mon.folder, env=mon.env)
    results.schema_seconds = time.perf_counter() - started
    cache = watcher.folder / "cache.db"
    monitor_done = 0.0

    def urlwatch_pass(unchanged: bool) -> None:
        what = f"urlwatch, {'unchanged' if unchanged else 'first'} pass"
        run = _served(results, server, n, what, watcher.command(cache), watcher)
        counts = _urlwatch_counts(run.stdout)
        expected_new = 0 if unchanged else n
        if counts["NEW"] != expected_new or counts["ERROR"] or counts["CHANGED"] > n:
            raise RuntimeError(f"peers is broken: {what}: reported {counts}, expected {n} pages")
        series = results.urlwatch_unchanged if unchanged else results.urlwatch_first
        series.add(run, counts["CHANGED"])
        if unchanged:
            results.diff_bytes = run.stdout_bytes

    def monitor_pass(unchanged: bool) -> None:
        nonlocal monitor_done
        what = f"monitor, {'unchanged' if unchanged else 'first'} pass"
        if unchanged:  # every source due again: its next poll is INTERVAL after the last one
            time.sleep(max(0.0, monitor_done + INTERVAL + 0.2 - time.perf_counter()))
        run = _served(results, server, n, what, mon.command("poll", "--json"), mon)
        monitor_done = time.perf_counter()
        summary = _monitor_summary(what, run)
        expected_new = 0 if unchanged else n
        if (
            summary.get("sources_polled") != n
            or summary.get("new") != expected_new
            or summary.get("failures")
        ):
            raise RuntimeError(
                f"peers is broken: {what}: {summary}, expected {n} sources polled, "
                f"{expected_new} new, no failures"
            )
        series = results.monitor_unchanged if unchanged else results.monitor_first
        series.add(run, summary["changed"])

    order = [urlwatch_pass, monitor_pass] if first else [monitor_pass, urlwatch_pass]
    for unchanged in (False, True):
        for measure in order:
            measure(unchanged)


def _served(
    results: _Results,
    server: NewsServer,
    pages: int,
    what: str,
    command: Sequence[str | Path],
    setup: _UrlwatchSetup | _MonitorSetup,
) -> _Run:
    """One measured pass; raises unless the site served every page exactly once."""
    before, sent = server.articles_served, server.stats.bytes_sent
    run = _measured(what, command, cwd=setup.folder, env=setup.env)
    served = server.articles_served - before
    if served != pages:
        raise RuntimeError(f"peers is broken: {what}: the site served {served} pages, not {pages}")
    results.page_bytes = (server.stats.bytes_sent - sent) // pages
    results.site_busy = max(results.site_busy, run.site_cpu / run.wall)
    return run


def _startup(results: _Results, folder: Path) -> None:
    """Each tool's pass with nothing to check (urlwatch: no job; monitor: no source): what
    start-up, imports and opening the state cost, in time and memory."""
    folder.mkdir()
    watcher = _urlwatch_setup(results.urlwatch.python, folder / "urlwatch", [], filtered=False)
    watcher.urls.write_text("", encoding="utf-8")
    run = _measured(
        "urlwatch, no job",
        watcher.command(watcher.folder / "cache.db"),
        cwd=watcher.folder,
        env=watcher.env,
    )
    results.startup["urlwatch"] = run
    mon = _monitor_setup(folder / "monitor", [])
    _measured("monitor db upgrade", mon.command("db", "upgrade"), cwd=mon.folder, env=mon.env)
    run = _measured(
        "monitor, no source", mon.command("poll", "--json"), cwd=mon.folder, env=mon.env
    )
    results.startup["monitor"] = run


def _html2text(results: _Results, server: NewsServer, urls: list[str], folder: Path) -> None:
    """urlwatch with `filter: html2text` on every job: the changes it reports when unchanged."""
    watcher = _urlwatch_setup(results.urlwatch.python, folder, urls, filtered=True)
    cache = folder / "cache.db"
    for unchanged in (False, True):
        what = f"urlwatch with html2text, {'unchanged' if unchanged else 'first'} pass"
        run = _served(results, server, len(urls), what, watcher.command(cache), watcher)
        counts = _urlwatch_counts(run.stdout)
        if counts["ERROR"] or counts["NEW"] != (0 if unchanged else len(urls)):
            raise RuntimeError(f"peers is broken: {what}: reported {counts}")
        results.html2text_changes = counts["CHANGED"]


# ---------------------------------------------------------------- report


@dataclass(frozen=True)
class _LowerIsBetter(Row):
    """Seconds, MiB, false changes: lower is better, so the ratio is baseline / monitor
    (urlwatch / monitor) and, as in every other row, above 1 means monitor is better."""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.monitor == 0:
            return None
        return self.baseline / self.monitor


def _report(results: _Results, server: NewsServer) -> Report:
    n = results.urls
    uw_first, uw_same = results.urlwatch_first, results.urlwatch_unchanged
    mon_first, mon_same = results.monitor_first, results.monitor_unchanged
    rows: list[Row] = [
        _LowerIsBetter(
            f"peers vs urlwatch, first pass ({n} pages)",
            "s",
            min(mon_first.wall),
            min(uw_first.wall),
        ),
        _LowerIsBetter(
            "peers vs urlwatch, first pass peak RSS", "MiB", min(mon_first.peak), min(uw_first.peak)
        ),
        _LowerIsBetter(
            "peers vs urlwatch, unchanged pass", "s", min(mon_same.wall), min(uw_same.wall)
        ),
        _LowerIsBetter(
            "peers vs urlwatch, unchanged pass peak RSS",
            "MiB",
            min(mon_same.peak),
            min(uw_same.peak),
        ),
        _LowerIsBetter(
            "peers vs urlwatch, changes on unchanged pass",
            "changes",
            max(mon_same.changes),
            max(uw_same.changes),
        ),
    ]
    uw = results.urlwatch
    installed = (
        f"installed in this run into {VENV.relative_to(CACHE.parent.parent)} "
        f"({uw.installed_seconds:.0f} s; reused by later runs)"
        if uw.installed_seconds is not None
        else f"from {VENV.relative_to(CACHE.parent.parent)} (installed by an earlier run)"
    )
    floor = f"{results.floor:.0f} MiB" if results.floor is not None else "not measured"
    idle_uw, idle_mon = results.startup["urlwatch"], results.startup["monitor"]
    notes = [
        f"{n} article pages of the storage benchmark's news site ({results.page_bytes / 1024:.0f}"
        f" KiB each, no ETag or Last-Modified) served from a thread on {server.base_url}; their "
        "furniture (Most read order, 'Updated N minutes ago', ad correlators, CSP nonce, "
        "page-view id) changes at every request, their content does not",
        f"urlwatch {uw.version} {installed}, Python {sys.version.split()[0]}: plain `url:` jobs, "
        "only the stdout reporter (no colour, default text report with diffs), a new minidb "
        "--cache per repetition, its fixed pool of 10 fetch threads",
        f'monitor: `monitor --config … poll --json`, one kind = "article" source per page, '
        f"SQLite, concurrency = per_host_concurrency = {CONCURRENCY}, per_host_delay 0s, "
        f"respect_robots false, interval {INTERVAL:g}s so that the second poll finds every "
        f"source due; a new database per repetition, its schema made beforehand by `monitor "
        f"db upgrade` ({results.schema_seconds:.1f} s, untimed)",
        f"each pass is a new process, timed from spawn to exit (start-up and imports included); "
        f"peak RSS is the tool process's own ru_maxrss from wait4 in a `python -I -S` wrapper "
        f"(the floor a child inherits from it: {floor}); best of {results.repeat} for time and "
        "memory, the tools' order alternating; ratio = urlwatch / monitor, above 1: monitor "
        "is faster, smaller, or reports fewer false changes",
        f"changes reported on the unchanged pass: urlwatch {max(uw_same.changes)}, monitor "
        f"{max(mon_same.changes)} (of {n}); urlwatch printed "
        f"{results.diff_bytes / 1024 / 1024:.1f} MiB of diffs (the pages are minified onto one "
        "line, as many news sites serve them, so each diff is the whole page, old and new); "
        f"with `filter: html2text` on "
        f"every job urlwatch still reported {results.html2text_changes}; monitor compares the "
        "extracted article text, urlwatch the page (or its whole text)",
        f"CPU seconds of the tool's process (user + system, best of {results.repeat}; less "
        f"sensitive to a busy machine than wall time): first pass urlwatch "
        f"{min(uw_first.cpu):.2f}, monitor {min(mon_first.cpu):.2f}; unchanged pass urlwatch "
        f"{min(uw_same.cpu):.2f}, monitor {min(mon_same.cpu):.2f}",
        f"start-up alone (a pass with nothing to check: urlwatch with no job, monitor poll "
        f"with no source): urlwatch {idle_uw.wall:.2f} s ({idle_uw.cpu:.2f} s CPU) and "
        f"{idle_uw.peak_mib:.0f} MiB, monitor {idle_mon.wall:.2f} s ({idle_mon.cpu:.2f} s CPU) "
        f"and {idle_mon.peak_mib:.0f} MiB",
        f"the site was at most {results.site_busy:.0%} busy (its CPU time / wall time) in any run",
    ]
    return Report(rows=rows, notes=notes)
