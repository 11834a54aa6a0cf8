"""The `monitor` command: thin Typer commands that parse arguments, call the app, render.

Start-up is most of what a read command costs, so this module imports little: the database
layer, the config models and Rich are imported by the functions that use them, and the
pipeline only by the commands that fetch (tests/test_startup.py checks the read path).

No `from __future__ import annotations` here: Typer reads every command's signature at each
start, and evaluating annotations kept as strings then costs more than evaluating them once as
the module loads; only the names imported for type checking alone are written as strings.
"""

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer._click.exceptions import NoArgsIsHelpError
from typer._click.exceptions import UsageError as ClickUsageError

from monitor import views
from monitor.core.dates import parse_iso
from monitor.core.text import SanitizingFormatter, count
from monitor.errors import MonitorError, NotFoundError, UsageError

if TYPE_CHECKING:
    from rich.box import Box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from monitor.app import App
    from monitor.config import Config
    from monitor.store.models import Story
    from monitor.store.reads import Reader, StoryRow

# Piped output is not wrapped at 80 columns: scripts grep it line by line.
PIPE_WIDTH = 4096


def _stdout_console() -> "Console":
    from rich.console import Console

    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=PIPE_WIDTH)


class _LazyConsole:
    """Binds to the sys.stdout of the moment (tests and pipes swap it)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_stdout_console(), name)


class _LazyStderr:
    """The stderr console, made when first used: Rich loads only when something is printed."""

    console: "Console | None" = None

    def __getattr__(self, name: str) -> Any:
        if self.console is None:
            from rich.console import Console

            self.console = Console(stderr=True, highlight=False)
        return getattr(self.console, name)


out: Any = _LazyConsole()
err: Any = _LazyStderr()


@contextmanager
def app_context(path: Path | None = None, *, migrate: bool = True) -> "Iterator[App]":
    """monitor.app.app_context, imported when a command opens the database."""
    from monitor.app import app_context as open_app_context

    with open_app_context(path, migrate=migrate) as app:
        yield app


@contextmanager
def read_context(path: Path | None = None) -> "Iterator[tuple[Config, Reader]]":
    """The config and a reader of its database, for the commands that only read: on the
    DB-API, without SQLAlchemy, unless the database must be migrated first
    (monitor.store.reads)."""
    from monitor.config import config_path, load_config
    from monitor.store.reads import open_reader

    config = load_config(config_path(path))
    reader = open_reader(config.database.url)
    try:
        yield config, reader
    finally:
        reader.close()


class _Group(typer.core.TyperGroup):
    """Turns a MonitorError anywhere below, and a mistyped command line, into one line on
    stderr and its exit code (a usage block buries the one thing that was wrong)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _name_argument_kinds(self)

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _one_line_usage_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        try:
            with _one_line_usage_errors():
                return super().invoke(ctx)
        except MonitorError as exc:
            from rich.text import Text

            err.print(Text(f"monitor: {exc}"), soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


@contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    try:
        yield
    except ClickUsageError as exc:
        if isinstance(exc, NoArgsIsHelpError):  # `monitor` alone: the help is the answer
            raise
        from rich.text import Text

        where = exc.ctx.command_path if exc.ctx is not None else "monitor"
        err.print(Text(f"{where}: {exc.format_message()} (see `{where} --help`)"), soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None


class _NamedArgument(typer.core.TyperArgument):
    """An argument whose metavar says what it is ('ID', 'FILE...'): help shows no type
    name ('<int>', '<list[Path]>') beside it."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _name_argument_kinds(group: Any) -> None:
    for command in group.commands.values():
        if hasattr(command, "commands"):
            _name_argument_kinds(command)
        for param in command.params:
            if isinstance(param, typer.core.TyperArgument) and param.metavar:
                param.__class__ = _NamedArgument


cli = typer.Typer(
    cls=_Group,
    name="monitor",
    help="Media monitoring: poll sources, list new and changed coverage, show diffs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_cli = typer.Typer(help="Database schema management.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
alerts_cli = typer.Typer(
    help="Alert deliveries: list them (newest first), retry failed ones, test a rule.",
    invoke_without_command=True,
)
cli.add_typer(alerts_cli, name="alerts")
topics_cli = typer.Typer(help="Topic rules, tried on the stored stories.", no_args_is_help=True)
cli.add_typer(topics_cli, name="topics")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
UtcOption = Annotated[
    bool, typer.Option("--utc", help="Times in UTC (default: this machine's time zone).")
]


class State:
    config: Path | None = None


state = State()


@cli.callback()
def main_options(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="Config file (default: $MONITOR_CONFIG, then config/monitor.toml).",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each fetch.")] = False,
) -> None:
    state.config = config
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _LogHandler)]:
        root.removeHandler(old)  # a command run before in this process (the tests)
    handler = _LogHandler()
    handler.setFormatter(SanitizingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)


class _LogHandler(logging.Handler):
    """Log lines to the stderr of the moment; while a progress bar is drawn, through the
    bar's console, which prints them above the bar instead of over it."""

    live: "Console | None" = None  # the console drawing a progress bar now
    in_summary = False  # leave out what the command prints itself (a poll's errors)

    def emit(self, record: logging.LogRecord) -> None:
        from rich.text import Text

        if _LogHandler.in_summary and getattr(record, "in_summary", False):
            return
        try:
            line = self.format(record)
            if _LogHandler.live is not None:
                _LogHandler.live.print(Text(line), soft_wrap=True)
            else:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
        except Exception:
            self.handleError(record)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


# ---------------------------------------------------------------- poll and run


@cli.command()
def poll(
    source: Annotated[
        list[str] | None,
        typer.Option("--source", metavar="NAME", help="Poll this source now (repeatable)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """One pass over the due (or named) sources and the due re-checks."""
    import asyncio

    from rich.text import Text

    from monitor.store import queries

    with app_context(state.config) as app:
        if source:
            for name in source:
                app.config.source(name)  # an unknown name is refused before any work
        app.sync()
        console = _stdout_console()
        bar = _ProgressBar(console) if console.is_terminal and not as_json else None
        _LogHandler.in_summary = True  # each error once: in the summary below
        try:
            summary = asyncio.run(_run_pass(app, source, bar))
        finally:
            _LogHandler.in_summary = False
            if bar is not None:
                bar.stop()
        waiting = None
        if not summary.sources_polled and not source:
            with app.sessions() as session:
                waiting = queries.waiting(session)
        why = views.waiting_line(waiting, app.clock()) if waiting is not None else None
    if as_json:
        _print_json(
            {
                "sources_polled": summary.sources_polled,
                "new": summary.new,
                "changed": summary.changed,
                "duplicates": summary.duplicates,
                "failures": summary.failures,
                "errors": summary.errors,
                "rechecked": summary.rechecked,
                "waiting": why,
                "next_poll": views.iso(waiting.next_poll) if waiting else None,
            }
        )
        return
    for line in summary.errors:
        err.print(Text(views.clean(line), style="yellow"), soft_wrap=True)
    out.print(Text(summary.line() + (f": {why}" if why else "")), soft_wrap=True)


async def _run_pass(app: "App", sources: list[str] | None, progress: Any = None) -> Any:
    """The pass, then one round of alert deliveries (those due, this pass's included; a
    failure stays pending for the service or the next poll)."""
    async with app.pipeline() as pipeline:
        summary = await pipeline.run_pass(sources, progress=progress)
        if app.config.alerts:
            from monitor.deliver.job import DeliveryJob

            job = DeliveryJob(
                app.config.alerts,
                app.config.delivery,
                app.sessions,
                owner=pipeline.owner,
                clock=app.clock,
                run=pipeline.writer.run,
            )
            await job.run_once()
        return summary


class _ProgressBar:
    """A Rich progress bar over the sources of a pass (only on a terminal)."""

    def __init__(self, console: "Console", label: str = "polling") -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bar = Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        )
        self.task = self.bar.add_task("", total=None)

    def start(self, total: int) -> None:
        self.bar.update(self.task, total=total)
        self.bar.start()
        _LogHandler.live = self.bar.console

    def advance(self, source: str) -> None:
        self.bar.update(self.task, advance=1, description=views.clean(source))

    def stop(self) -> None:
        _LogHandler.live = None
        self.bar.stop()


@cli.command()
def sources(as_json: JsonOption = False) -> None:
    """The sources and how their polling goes (reads only: the config is not synced)."""
    from rich.text import Text

    from monitor import reports

    with app_context(state.config) as app, app.sessions() as session:
        rows = reports.source_rows(session, app.config)
    if as_json:
        _print_json(rows)
        return
    table = _table(
        "name",
        "kind",
        _timed("last polled"),
        "status",
        "fails",
        _timed("next poll"),
        "stories",
        "extraction",
        "error",
    )
    for row in rows:
        failing = row["consecutive_failures"] > 0
        judged = row["extraction"]["state"]
        table.add_row(
            Text(views.clean(row["name"]), style="dim" if not row["enabled"] else ""),
            row["kind"],
            _short_iso(row["last_polled"]) if row["last_polled"] else "not yet polled",
            str(row["last_status"] or "-"),
            Text(str(row["consecutive_failures"]), style="red" if failing else ""),
            _short_iso(row["next_poll"]) if row["enabled"] else "disabled",
            str(row["stories"]),
            Text(
                judged if judged != "unknown" else "-",
                style="red" if judged == "degraded" else "",
            ),
            _error_or_warning(row),
        )
    out.print(table)
    for row in rows:
        if row["extraction"]["state"] == "degraded":
            out.print(_degraded_line(row["name"], row["extraction"]), soft_wrap=True)
    new = sum(not row["in_database"] for row in rows)
    other = sum(not row["configured"] for row in rows)
    if new:
        are, them = ("is", "it") if new == 1 else ("are", "them")
        out.print(
            Text(
                f"{count(new, 'configured source')} {are} not in the database yet: "
                f"`monitor poll` or `monitor run` adds {them}."
            )
        )
    if other:
        are, them = ("is", "it") if other == 1 else ("are", "them")
        out.print(
            Text(
                f"{count(other, 'source')} in the database {are} not in this configuration: "
                f"`monitor poll` or `monitor run` with it would disable {them}."
            )
        )


def _degraded_line(name: str, health: dict[str, Any]) -> "Text":
    """One line for a source whose extraction is degraded: why, since when, what is held."""
    from rich.text import Text

    from monitor.core.dates import parse_iso

    since = views.when(parse_iso(health["since"])) if health["since"] else "-"
    held = count(health["held"], "re-check")
    return Text(
        views.clean(
            f"extraction degraded: {name}: {health['reason']} (since {since}; {held} held back)"
        ),
        style="red",
    )


def _error_or_warning(row: dict[str, Any]) -> "Text":
    """The error column: the last error in red, else the feed's warning (read anyway)."""
    from rich.text import Text

    if row["last_error"]:
        return Text(views.clean(row["last_error"]), style="red")
    if row["warning"]:
        return Text(views.clean(f"warning: {row['warning']}"), style="yellow")
    return Text("")


@cli.command()
def links(as_json: JsonOption = False) -> None:
    """Story links whose fetch failed, and when each is tried again."""
    from rich.text import Text

    from monitor.store import queries

    with app_context(state.config) as app, app.sessions() as session:
        rows = [
            views.link_failure_summary(f, name) for f, name in queries.link_failure_rows(session)
        ]
    if as_json:
        _print_json(rows)
        return
    if not rows:
        out.print("no failing story links")
        return
    table = _table("url", "source", "fails", "last error", _timed("next attempt"))
    for row in rows:
        table.add_row(
            views.clean(row["url"]),
            views.clean(row["source"] or "-"),
            str(row["failures"]),
            Text(views.clean(row["last_error"]), style="red"),
            "quarantined" if row["quarantined"] else _short_iso(row["next_attempt"]),
        )
    out.print(table)


def _table(*columns: str) -> "Table":
    """A table whose cells wrap rather than cut: URLs and errors stay whole."""
    from rich.table import Table

    table = Table(pad_edge=False, box=_box())
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _box() -> "Box":
    """Box-drawing lines on a terminal; plain ASCII for a pipe or a file, which may not
    be read as UTF-8 (and grep, diff and mail all do better with ASCII)."""
    from rich import box

    return box.HEAVY_HEAD if out.is_terminal else box.ASCII


def _timed(column: str, *, utc: bool = False) -> str:
    """A time column's header names the zone its times are in."""
    return f"{column} ({views.zone_name(utc=utc)})"


def _short_iso(value: str | None, *, utc: bool = False) -> str:
    """A JSON time (UTC ISO 8601) as a table cell in the header's zone."""
    moment = parse_iso(value) if value else None
    return views.short_time(moment, utc=utc)


@cli.command()
def run() -> None:
    """Run the service: poll on schedule until SIGINT or SIGTERM."""
    import asyncio

    from monitor.pipeline.service import serve
    from monitor.store.db import service_lock

    logging.getLogger("monitor").setLevel(logging.INFO)
    with app_context(state.config) as app, service_lock(app.engine):
        if app.config.service.log_format == "json":
            from monitor.health import JsonFormatter

            for handler in logging.getLogger().handlers:
                handler.setFormatter(JsonFormatter())
        app.sync()
        asyncio.run(serve(app))


@cli.command()
def web(
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen", metavar="HOST:PORT", help="Where to serve (default: [web] listen)."
        ),
    ] = None,
    hash_password: Annotated[
        bool,
        typer.Option(
            "--hash-password",
            help="Read a password on stdin, print its hash for [web.auth] password_hash, exit.",
        ),
    ] = False,
) -> None:
    """Serve the web view, its JSON API and Atom feeds (read-only) until Ctrl-C."""
    if hash_password:
        from monitor.web.auth import hash_password as make_hash

        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("--hash-password: no password on stdin")
        sys.stdout.write(make_hash(password) + "\n")
        return
    from monitor.web.run import serve_web

    with app_context(state.config) as app:
        serve_web(app, listen, announce=lambda line: out.print(line, soft_wrap=True))


@cli.command()
def demo(
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration",
            min=0,
            metavar="SECONDS",
            help="Stop after this many seconds (default: Ctrl-C).",
        ),
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the temporary database and config afterwards.")
    ] = False,
    step: Annotated[
        float,
        typer.Option("--step", min=0.1, metavar="SECONDS", help="Seconds between newsroom events."),
    ] = 5.0,
) -> None:
    """A simulated newsroom on 127.0.0.1 and the service running against it: no internet."""
    from monitor.demo.run import run_demo

    run_demo(duration=duration, keep=keep, console=_stdout_console(), step=step)


@cli.command()
def init(
    folder: Annotated[
        Path,
        typer.Argument(
            metavar="FOLDER",
            help="The folder to write into (default: the current folder).",
            show_default=False,
        ),
    ] = Path("."),
) -> None:
    """Write a commented monitor.toml and the seed articles into FOLDER, to start from."""
    import shlex

    from rich.text import Text

    from monitor import defaults

    config, seeds = defaults.init(folder)
    seeds_folder = config.parent / defaults.SEEDS_NAME
    where = shlex.quote(str(config.resolve()))
    out.print(
        Text(
            f"wrote {config} and {len(seeds)} seed articles in {seeds_folder}\n"
            "edit its topics and sources, then start the service:\n"
            f"  monitor --config {where} run"
        )
    )


@cli.command()
def status(as_json: JsonOption = False) -> None:
    """Is polling healthy (the verdict /healthz gives, from the database's facts), last
    success, failing and overdue sources, re-checks waiting."""
    from monitor import reports
    from monitor.clock import utcnow

    with read_context(state.config) as (config, reader):
        facts = reports.read_status_facts(reader, config, utcnow())
    document = reports.status_document(facts)
    report, judged, size, degraded = facts.report, facts.judged, facts.size, facts.degraded
    if as_json:
        _print_json(document)
        return
    from rich.text import Text

    if judged.ok:
        out.print(Text("health: ok", style="green"))
    else:
        out.print(Text(f"health: unhealthy: {judged.reason}", style="bold red"))
    out.print(Text(f"last successful poll: {views.when(report.last_success)}"))
    out.print(
        Text(
            f"sources: {report.sources}, failing: {len(report.failing)}, "
            f"overdue: {len(report.overdue)}"
        )
    )
    for name in report.failing:
        out.print(Text(f"  failing: {views.clean(name)}", style="red"))
    for name in report.overdue:
        out.print(Text(f"  overdue: {views.clean(name)}", style="yellow"))
    if report.warning:
        out.print(Text(f"sources read despite a fault: {report.warning} (see monitor sources)"))
    for row in degraded:
        out.print(_degraded_line(row["source"], row), soft_wrap=True)
    out.print(Text(f"stories: {report.stories}, waiting for a re-check: {report.awaiting_recheck}"))
    if report.links_failing:
        out.print(
            Text(f"story links failing, tried again later: {report.links_failing}", style="yellow")
        )
    if any(facts.alerts.values()) or config.alerts:
        pending_alerts = document["alerts_pending"]
        failed_alerts = document["alerts_failed"]
        line = f"alerts: {pending_alerts} pending, {failed_alerts} failed"
        out.print(Text(line, style="red" if failed_alerts else ""))
        if failed_alerts:
            out.print(Text("  see monitor alerts --failed; retry with monitor alerts retry"))
    if size is not None:
        out.print(Text(f"database: {size / 1_000_000:.1f} MB"))


# ---------------------------------------------------------------- listings


def parse_since(value: str, now: datetime) -> datetime | None:
    """'24h' (a duration back from now), '2026-01-27' (a UTC day), an ISO time, or 'all'."""
    from monitor.config import parse_duration
    from monitor.core.dates import parse_iso

    text = value.strip()
    if text.lower() == "all":
        return None
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    moment = parse_iso(text)
    if moment is None:
        raise typer.BadParameter(
            f"{value!r} is neither a duration (24h, 7d) nor a date (2026-01-27)"
        )
    return moment


@cli.command("list")
def list_(
    new: Annotated[
        bool, typer.Option("--new", help="Only stories first seen in the window.")
    ] = False,
    changed: Annotated[
        bool, typer.Option("--changed", help="Only stories with a new version in the window.")
    ] = False,
    since: Annotated[
        str,
        typer.Option("--since", metavar="WINDOW", help="Window: 24h, 7d, 2026-01-27 or all."),
    ] = "24h",
    topic: Annotated[
        list[str] | None,
        typer.Option("--topic", metavar="NAME", help="Only this topic (repeatable)."),
    ] = None,
    include_duplicates: Annotated[
        bool, typer.Option("--include-duplicates", help="Also list copies of seeds and stories.")
    ] = False,
    removed: Annotated[
        bool, typer.Option("--removed", help="Only stories taken down in the window.")
    ] = False,
    clusters: Annotated[
        bool, typer.Option("--clusters", help="One line per coverage cluster.")
    ] = False,
    utc: UtcOption = False,
    as_json: JsonOption = False,
) -> None:
    """New and changed coverage."""
    from monitor.store.reads import by_cluster
    from monitor.store.records import ListFilter

    chosen = [
        flag for flag, on in (("--new", new), ("--changed", changed), ("--removed", removed)) if on
    ]
    if len(chosen) > 1:
        raise UsageError(
            f"{' and '.join(chosen)} exclude each other: give one (neither: new and changed)"
        )
    cutoff = parse_since(since, datetime.now(UTC))
    both = not chosen
    flt = ListFilter(
        since=cutoff,
        new=new or both,
        changed=changed or both,
        removed=removed,
        topics=tuple(topic or ()),
        include_duplicates=include_duplicates,
    )
    with read_context(state.config) as (config, reader):
        if topic:
            known = {t.name for t in config.topics}
            unknown = [name for name in topic if name not in known]
            stored = reader.topic_names() if unknown else set()
            for name in unknown:
                if name in stored:
                    continue  # a topic since renamed: its stories are still listed
                raise UsageError(
                    f"no topic named {name!r} in the configuration "
                    f"(topics: {', '.join(sorted(known)) or 'none'})"
                )
        stories = reader.list_stories(flt)
        if clusters:
            _print_clusters(by_cluster(stories), as_json)
            return
        if as_json:
            _print_json([views.story_summary(s) for s in stories])
            return
        _print_story_table(stories, cutoff, utc=utc)


def _print_clusters(groups: "dict[int, list[StoryRow]]", as_json: bool) -> None:
    from rich.text import Text

    from monitor.reports import cluster_rows

    rows = cluster_rows(groups)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        out.print("No coverage in this window.")
        return
    table = _table("cluster", "stories", "outlets", "lead story")
    for row in rows:
        outlets = row["outlets"]
        shown = ", ".join(outlets[:3]) + (f", +{len(outlets) - 3}" if len(outlets) > 3 else "")
        table.add_row(
            str(row["cluster"]),
            str(row["count"]),
            Text(views.clean(shown)),
            Text(views.clean(row["lead"]["title"])),
        )
    out.print(table)


def _print_story_table(stories: "list[StoryRow]", cutoff: datetime | None, *, utc: bool) -> None:
    """One line per story. On a terminal the outlet and topics are cut short and the title
    takes the rest of the width, each cut marked with an ellipsis, so a listing reads down
    the screen; a pipe gets every character."""
    from rich.table import Table
    from rich.text import Text

    if not stories:
        out.print("No coverage in this window.")
        return
    terminal = out.is_terminal
    # On a terminal the year goes when every time is in this one: "11-30 11:49".
    year = datetime.now().year
    short = terminal and all(
        views.local(s.last_changed_at or s.first_seen_at, utc=utc).year == year for s in stories
    )
    rows = []
    for story in stories:
        changed = story.version_count > 1 and (
            cutoff is None
            or (story.last_changed_at is not None and story.last_changed_at >= cutoff)
        )
        state_text = (story.change_class or "changed") if changed else "new"
        if story.duplicate_kind:
            state_text = f"dup of {story.duplicate_kind}"
        rows.append(
            (
                str(story.id),
                views.short_time(
                    story.last_changed_at if changed else story.first_seen_at, utc=utc
                )[5 if short else 0 :],
                Text(
                    state_text,
                    style=_CLASS_STYLES.get(state_text, "yellow" if changed else "green"),
                ),
                str(story.version_count),
                Text(views.clean(views.outlet(story))),
                Text(", ".join(t.topic for t in story.topics)),
                Text(views.clean(story.title)),
            )
        )
    table = Table(
        show_lines=False,
        pad_edge=False,
        box=None if terminal else _box(),
        collapse_padding=terminal,  # one space between columns: the title keeps the width
        header_style="bold underline" if terminal else "bold",
        expand=terminal,
    )
    headers = ("id", _timed("seen", utc=utc), "state", "v", "outlet", "topics")
    caps = (None, None, 8, None, 14, 12)  # on a terminal: the widest a column gets
    for index, (header, cap) in enumerate(zip(headers, caps, strict=True)):
        widest = max(len(header), *(len(str(row[index])) for row in rows))
        table.add_column(
            header,
            no_wrap=True,
            overflow="ellipsis",
            justify="right" if header in ("id", "v") else "left",
            width=min(widest, cap) if terminal and cap else widest if terminal else None,
        )
    table.add_column("title", no_wrap=True, overflow="ellipsis", ratio=1 if terminal else None)
    for row in rows:
        table.add_row(*row)
    out.print(table)


_CLASS_STYLES = {"removed": "red", "major": "bold yellow", "headline": "magenta", "minor": "dim"}


def _story(app: "App", story_id: int) -> "tuple[Story, Any]":
    from monitor.store.models import Story

    session = app.sessions()
    story = session.get(Story, story_id)
    if story is None:
        session.close()
        raise NotFoundError(f"no story with id {story_id}")
    return story, session


def _read_story(reader: "Reader", story_id: int) -> "StoryRow":
    story = reader.story(story_id)
    if story is None:
        raise NotFoundError(f"no story with id {story_id}")
    return story


@cli.command()
def show(
    story_id: Annotated[int, typer.Argument(metavar="ID", help="A story id (a number).")],
    utc: UtcOption = False,
    as_json: JsonOption = False,
) -> None:
    """A story, its current text and its versions."""
    from rich.table import Table
    from rich.text import Text

    with read_context(state.config) as (_, reader):
        story = _read_story(reader, story_id)
        versions = reader.versions(story.id)
        detail = views.story_detail(story, versions, reader.aliases(story.id))
    if as_json:
        _print_json(detail)
        return
    out.print(Text(views.clean(detail["title"]) or "(no headline)", style="bold"))
    out.print(Text(views.clean(detail["url"]), style="cyan"))
    meta = [
        f"story {detail['id']}",
        f"{detail['outlet']} (source {detail['source'] or '-'})",
        f"topics {', '.join(detail['topics']) or '-'}",
        f"first seen {views.when(story.first_seen_at, utc=utc)}",
    ]
    if detail["byline"]:
        meta.append(f"by {detail['byline']}")
    if detail["duplicate_of"]:
        dup = detail["duplicate_of"]
        meta.append(f"duplicate of {dup['kind']} {dup['id']} ({dup['similarity']:.2f})")
    out.print(Text(views.clean(" · ".join(meta)), style="dim"))
    for match in detail["matched"]:
        out.print(Text(views.clean(f"in {match['topic']}: {match['explanation']}"), style="dim"))
    for alias in detail["aliases"]:
        out.print(Text(f"also at {views.clean(alias)}", style="dim"))
    if detail["canonical_hint"]:
        hint = views.clean(detail["canonical_hint"])
        out.print(Text(f"canonical on another site (not followed): {hint}", style="dim"))
    text = detail["text"]
    if story.change_class == "removed":
        since = views.when(story.last_changed_at, utc=utc)
        out.print(Text(f"removed: the page has been gone since {since}", style="bold red"))
        last = next((v for v in reversed(versions) if v.change_class != "removed"), None)
        text = last.text if last is not None else None
        if last is not None and text:
            out.print(Text(f"the text as last seen (version {last.number}):", style="dim"))
    out.print()
    out.print(Text(views.clean(text or "(no text)")))
    out.print()
    table = Table(title="versions", title_justify="left", box=_box())
    for column in ("v", _timed("fetched", utc=utc), "change", "headline"):
        table.add_column(column)
    for v in versions:
        table.add_row(
            str(v.number),
            views.short_time(v.fetched_at, utc=utc),
            Text(v.change_class or "first", style=_CLASS_STYLES.get(v.change_class or "", "")),
            Text(views.clean(v.title)),
        )
    out.print(table)


@cli.command()
def diff(
    story_id: Annotated[int, typer.Argument(metavar="ID", help="A story id (a number).")],
    from_: Annotated[
        int | None, typer.Option("--from", metavar="N", help="Old version number.")
    ] = None,
    to: Annotated[int | None, typer.Option("--to", metavar="N", help="New version number.")] = None,
    as_json: JsonOption = False,
    color: Annotated[
        bool | None,
        typer.Option("--color/--no-color", help="Colour (default: when writing to a terminal)."),
    ] = None,
) -> None:
    """What changed between two versions (by default the latest change)."""
    from rich.text import Text

    from monitor.core.diff import (
        compute_diff,
        diff_to_json,
        render_plain,
        render_rich,
        version_text,
    )

    with read_context(state.config) as (_, reader):
        story = _read_story(reader, story_id)
        to_number = to if to is not None else story.version_count
        from_number = from_ if from_ is not None else to_number - 1
        if story.version_count < 2 and from_ is None and to is None:
            raise NotFoundError(f"story {story_id} has one version: nothing has changed yet")
        old = reader.version(story.id, from_number)
        new = reader.version(story.id, to_number)
        for number, row in ((from_number, old), (to_number, new)):
            if row is None:
                raise NotFoundError(
                    f"story {story_id} has no version {number} (it has {story.version_count})"
                )
    assert old is not None and new is not None
    result = compute_diff(version_text(old), version_text(new))
    if as_json:
        document = diff_to_json(result, story_id, from_number, to_number)
        document["change_class"] = new.change_class
        _print_json(document)
        return
    use_color = out.is_terminal if color is None else color
    label = f" ({new.change_class})" if new.change_class else ""
    out.print(Text(f"story {story_id}: version {from_number} → {to_number}{label}", style="bold"))
    if use_color:
        out.print(render_rich(result))
    else:
        sys.stdout.write(render_plain(result) + "\n")


@cli.command()
def digest(
    since: Annotated[
        str, typer.Option("--since", metavar="WINDOW", help="Window: 24h, 7d or 2026-01-27.")
    ] = "24h",
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="EMAIL", help="Only this address (default: every recipient)."),
    ] = None,
    send: Annotated[
        bool, typer.Option("--send", help="Send it now (outside the schedule; not recorded).")
    ] = False,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="FILE", help="Write the preview to FILE: .eml, .html or .txt."
        ),
    ] = None,
) -> None:
    """Preview the digest email (the .eml on stdout), or send it now with --send."""
    from rich.text import Text

    from monitor.digest.command import preview_or_send

    now = datetime.now(UTC)
    cutoff = parse_since(since, now)
    if cutoff is None:
        raise typer.BadParameter("a digest needs a window: a duration (24h) or a date")
    with app_context(state.config) as app:
        result = preview_or_send(
            app.sessions,
            app.config.digest,
            app.config.smtp,
            now=now,
            since=cutoff,
            to=to,
            send=send,
            out=out_file,
        )
    if result.preview is not None:
        sys.stdout.write(result.preview)
    elif result.sent:
        for message in result.messages:
            out.print(Text(f"sent to {message['To']}: {message['Subject']}"))
    else:
        out.print(Text(f"wrote {out_file}: {result.messages[0]['Subject']}"))


@cli.command()
def history(
    story_id: Annotated[int, typer.Argument(metavar="ID", help="A story id (a number).")],
    as_json: JsonOption = False,
) -> None:
    """A story's versions: when each was fetched, its change class, words added and removed."""
    from rich.text import Text

    from monitor.store import queries

    with app_context(state.config) as app:
        story, session = _story(app, story_id)
        with session:
            rows: list[dict[str, Any]] = [
                {
                    "number": v.number,
                    "fetched_at": views.iso(v.fetched_at),
                    "change_class": v.change_class,
                    "words_added": v.words_added,
                    "words_removed": v.words_removed,
                    "title": v.title,
                }
                for v in queries.versions(session, story.id)
            ]
    if as_json:
        _print_json(rows)
        return
    table = _table("v", _timed("fetched"), "change", "+words", "-words", "headline")
    for row in rows:
        change = row["change_class"] or "first"
        table.add_row(
            str(row["number"]),
            _short_iso(row["fetched_at"]),
            Text(change, style=_CLASS_STYLES.get(change, "")),
            f"+{row['words_added']}",
            f"-{row['words_removed']}",
            Text(views.clean(row["title"])),
        )
    out.print(table)


@cli.command()
def reextract(
    story_ids: Annotated[
        list[int] | None,
        typer.Argument(metavar="[ID]...", help="Story ids (default: every story)."),
    ] = None,
    batch: Annotated[
        int,
        typer.Option("--batch", min=1, metavar="N", help="Stories per committed transaction."),
    ] = 50,
    as_json: JsonOption = False,
) -> None:
    """Re-run extraction on stored versions (after the extractor improved)."""
    from rich.text import Text

    from monitor.pipeline.reextract import reextract_stories
    from monitor.store import queries

    with app_context(state.config) as app:
        with app.sessions() as session:
            missing = queries.missing_story_ids(session, story_ids or ())
        if missing:
            raise NotFoundError(
                f"no story with id {missing[0]}"
                if len(missing) == 1
                else f"no stories with ids {', '.join(map(str, missing))}"
            )
        console = _stdout_console()
        bar = (
            _ProgressBar(console, "re-extracting") if console.is_terminal and not as_json else None
        )

        def progress(done: int, total: int) -> None:
            if bar is not None:
                if not done:
                    bar.start(total)
                else:
                    bar.bar.update(bar.task, completed=done)
            elif done and total > batch:  # piped: a line per committed batch, on stderr
                err.print(Text(f"re-extracted {done} of {count(total, 'story', 'stories')}"))

        try:
            report = reextract_stories(
                app.sessions, app.config, story_ids or None, batch=batch, progress=progress
            )
        finally:
            if bar is not None:
                bar.stop()
    if as_json:
        _print_json(report.as_dict())
    else:
        out.print(Text(report.line()))


@cli.command()
def seeds(as_json: JsonOption = False) -> None:
    """The seed articles loaded from [seeds] path, and the copies of each found so far."""
    from rich.text import Text

    from monitor.store import queries

    with app_context(state.config) as app:
        app.sync()  # the seeds as the files are now: what the next poll would fold against
        with app.sessions() as session:
            rows = [
                views.seed_summary(seed, copies) for seed, copies in queries.seed_copies(session)
            ]
        folder = app.config.seeds_dir
    if as_json:
        _print_json(rows)
        return
    table = _table("id", "title", "words", "copies")
    for row in rows:
        table.add_row(
            views.clean(row["id"]),
            Text(views.clean(row["title"])),
            str(row["words"]),
            str(row["copies"]),
        )
    out.print(table)
    out.print(Text(f"{count(len(rows), 'seed')} from {folder}"), soft_wrap=True)


# ---------------------------------------------------------------- tools


@cli.command()
def extract(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE...", exists=False, help="Saved HTML pages.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Run article extraction on saved HTML files (to check a site's extraction)."""
    from rich.text import Text

    from monitor.core.encoding import decode_html
    from monitor.core.extract import extract_article

    failed = False
    for path in files:
        try:
            body = path.read_bytes()
        except OSError as exc:
            err.print(Text(f"monitor: {path}: {exc.strerror}"))
            failed = True
            continue
        article = extract_article(decode_html(body), None)
        record = {
            "path": str(path),
            "title": article.title,
            "byline": article.byline,
            "published": views.iso(article.published),
            "canonical_url": article.canonical_url,
            "text": article.text,
            "not_article": article.not_article,
        }
        if as_json:
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            continue
        out.print(Text(f"== {path}", style="bold"))
        for key in ("title", "byline", "published", "canonical_url", "not_article"):
            out.print(Text(f"{key}: {views.clean(record[key] or '-')}"))
        out.print()
        out.print(Text(views.clean(article.text)))
    if failed:
        raise typer.Exit(1)


# ---------------------------------------------------------------- topics

SAMPLE = 10  # stories shown with their matched terms by `monitor topics test`
LISTED = 50  # added and dropped stories listed at most


@topics_cli.command("test")
def topics_test(
    name_or_query: Annotated[
        str, typer.Argument(metavar="NAME|QUERY", help="A configured topic, or a query to try.")
    ],
    since: Annotated[
        str,
        typer.Option("--since", metavar="WINDOW", help="Stories stored in: 30d, 2026-01-27, all."),
    ] = "30d",
    topic: Annotated[
        str | None,
        typer.Option("--topic", metavar="NAME", help="Compare a query with this topic."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Try a topic's rules, or a query, on the stored stories (stores nothing)."""
    from monitor.core.query import QuerySyntaxError, parse
    from monitor.core.topics import TopicRule
    from monitor.store.topic_rules import build_rules, corpus_texts, try_rule

    cutoff = parse_since(since, datetime.now(UTC)) or datetime(1970, 1, 1, tzinfo=UTC)
    with app_context(state.config) as app, app.sessions() as session:
        names = [t.name for t in app.config.topics]
        for chosen in [topic] if topic else []:
            if chosen not in names:
                raise NotFoundError(f"no topic named {chosen!r} (topics: {', '.join(names)})")
        compare: str | None
        configured = name_or_query in names
        if configured:
            rules = build_rules(app.config, corpus_texts(session))
            rule = next(r for r in rules if r.name == name_or_query)
            compare = topic or name_or_query
        else:
            try:
                parse(name_or_query)
            except QuerySyntaxError as exc:
                known = f" (topics: {', '.join(names)})" if names else ""
                raise UsageError(
                    f"{name_or_query!r} is not a topic{known} nor a query: {exc}"
                ) from None
            rule = TopicRule(topic or "query", query=name_or_query)
            compare = topic
        trial = try_rule(session, rule, compare, cutoff)
    report = views.topic_trial(name_or_query, configured, compare, since, trial)
    if as_json:
        _print_json(report)
        return
    _print_trial(report, trial)


def _print_trial(report: dict[str, Any], trial: Any) -> None:
    from rich.text import Text

    from monitor.core.topics import highlights

    what = f"topic {report['topic']}" if report["configured"] else "the query"
    stored = count(report["stories"], "story", "stories")
    out.print(Text(f"{what}, on the {stored} stored (window {report['since']}):", style="bold"))
    if report["without_text"]:
        out.print(
            Text(
                f"  {count(report['without_text'], 'off-topic story', 'off-topic stories')} "
                "kept without text: matched on headline, outlet and URL",
                style="dim",
            )
        )
    compared = report["compared_with"]
    line = f"  {count(report['matches'], 'match', 'matches')}"
    if compared:
        line += f"; compared with topic {compared} as stored"
    else:
        line += "; compared with the stories listed under any topic"
    line += f": {len(report['added'])} would be added"
    if report["dropped"] is not None:
        line += f", {len(report['dropped'])} would be dropped"
    out.print(Text(line))
    for heading, rows in (
        ("would be added", report["added"]),
        ("would be dropped", report["dropped"]),
    ):
        if rows:
            out.print(Text(f"{heading}:", style="bold"))
            for row in rows[:LISTED]:
                why = f"  [{row['explanation']}]" if row.get("explanation") else ""
                out.print(Text(views.clean(f"  {row['id']}  {row['title']}{why}")))
    if not trial.matches:
        return
    out.print(Text("sample of the matches (matched terms highlighted):", style="bold"))
    for story, match in trial.matches[:SAMPLE]:
        patterns = highlights(match)
        head = Text(f"  {story.id}  ")
        head.append_text(_highlighted(views.clean(story.title) or "(no headline)", patterns))
        out.print(head)
        snippet = views.snippet(story.text, patterns)
        if snippet:
            out.print(Text("      ").append_text(_highlighted(snippet, patterns)))
        out.print(Text(f"      {views.clean(views.explain_match(match))}", style="dim"))


def _highlighted(text: str, patterns: list[Any]) -> "Text":
    """The matched terms in reverse video on a terminal, else between asterisks (*chips*)."""
    from rich.text import Text

    if not out.is_terminal:
        spans = sorted({m.span() for p in patterns for m in p.finditer(text)})
        marked, at = [], 0
        for start, end in spans:
            if start >= at:
                marked += [text[at:start], "*", text[start:end], "*"]
                at = end
        return Text("".join([*marked, text[at:]]))
    shown = Text(text)
    for pattern in patterns:
        shown.highlight_regex(pattern, style="bold reverse")
    return shown


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply pending database migrations."""
    from monitor.store import db

    with app_context(state.config, migrate=False) as app:
        before = db.current_revision(app.engine)
        db.upgrade(app.engine)
        after = db.current_revision(app.engine)
    if before == after:
        out.print(f"database schema is up to date (revision {after})")
    else:
        out.print(f"database schema upgraded from {before or 'empty'} to {after}")


# ---------------------------------------------------------------- alerts


@alerts_cli.callback()
def alerts(
    ctx: typer.Context,
    failed: Annotated[bool, typer.Option("--failed", help="Only deliveries given up.")] = False,
    pending: Annotated[
        bool, typer.Option("--pending", help="Only deliveries not delivered yet.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Alert deliveries, newest first: state, attempts, the last error, what they carry."""
    if ctx.invoked_subcommand is not None:
        return
    if failed and pending:
        raise UsageError("--failed and --pending exclude each other")
    from rich.text import Text

    from monitor.deliver.command import list_deliveries

    state_wanted = "failed" if failed else "pending" if pending else None
    with app_context(state.config) as app:
        rows = list_deliveries(app.sessions, state_wanted)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        out.print(f"no {state_wanted or 'alert'} deliveries")
        return
    styles = {"failed": "red", "pending": "yellow", "delivered": "green"}
    table = _table("id", "rule", "state", "tries", _timed("when"), "alert", "last error")
    for row in rows:
        when = row["delivered"] or row["next_attempt"] or row["created"]
        events = row["events"]
        first = events[0] if events else {"event": "-", "title": ""}
        alert = f"{first['event']}: {views.clean(first['title'] or '')}"
        if len(events) > 1:
            alert += f" (+{len(events) - 1} more)"
        table.add_row(
            str(row["id"]),
            views.clean(row["rule"]),
            Text(row["state"], style=styles.get(row["state"], "")),
            str(row["attempts"]),
            _short_iso(when),
            Text(alert),
            Text(views.clean(row["last_error"] or ""), style="red"),
        )
    out.print(table)


@alerts_cli.command("retry")
def alerts_retry(
    delivery_id: Annotated[
        int | None, typer.Argument(metavar="ID", help="A failed delivery's id.")
    ] = None,
    all_failed: Annotated[
        bool, typer.Option("--all-failed", help="Every failed delivery.")
    ] = False,
) -> None:
    """Send failed deliveries again (the service picks them up at once)."""
    from monitor.deliver.command import retry

    with app_context(state.config) as app:
        done = retry(app.sessions, app.config, delivery_id, all_failed=all_failed, now=app.clock())
    if not done:
        out.print("no failed deliveries")
        return
    ids = ", ".join(str(i) for i in done)
    out.print(f"{count(len(done), 'delivery', 'deliveries')} pending again: {ids}")


@alerts_cli.command("test")
def alerts_test(
    rule: Annotated[str, typer.Argument(metavar="RULE", help="An [[alerts]] rule's name.")],
) -> None:
    """Send the rule's channel a sample message now, and say what came back."""
    from rich.text import Text

    from monitor.deliver.command import test_rule

    with app_context(state.config) as app:
        result = test_rule(app.sessions, app.config, rule, app.clock())
    outcome = result.outcome
    status = f"HTTP {outcome.status}, " if outcome.status is not None else ""
    took = f"{status}{outcome.duration:.2f}s"
    if outcome.ok:
        out.print(
            Text(f"{result.rule}: delivered to {result.channel} ({took}); sample: {result.sample}")
        )
        return
    err.print(
        Text(f"monitor: {result.rule}: {result.channel} refused it ({took}): {outcome.error}"),
        soft_wrap=True,
    )
    raise typer.Exit(1)


# ---------------------------------------------------------------- entry point


def main() -> None:
    cli()
