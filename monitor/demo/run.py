"""`monitor demo`: the whole product at work in a minute, without the internet.

A simulated newsroom answers on 127.0.0.1 (feeds and article pages whose furniture changes
on every request: a "most read" list, "updated N minutes ago", an ad), and follows a script:
every `step` seconds a story appears, a headline is rewritten, a number is corrected, a
paragraph is cut, a story is taken down, another outlet covers the same event. Among the
first stories is a syndicated copy of one of the shipped seed articles.

The real pipeline polls it with a temporary SQLite database and a generated monitor.toml,
and after each pass the demo prints what is new and what changed, with the diff. It stops
on Ctrl-C or after `duration` seconds, prints a summary and how to explore the database
(kept with `keep`, otherwise deleted with its folder).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console, RenderableType
from rich.padding import Padding
from rich.text import Text
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor import defaults, views
from monitor.app import App, open_app
from monitor.core.diff import compute_diff, render_plain, render_rich, version_text
from monitor.demo import content
from monitor.demo.newsroom import Article, Newsroom, paragraphs_of
from monitor.demo.webserver import WebServer
from monitor.errors import ConfigError
from monitor.store import queries
from monitor.store.models import Story, Version

__all__ = ["DemoSummary", "open_newsroom", "run_demo", "seed_copy"]

_STYLES = {
    "new": "green",
    "duplicate": "cyan",
    "offtopic": "dim",
    "cluster": "blue",
    "removed": "red",
    "restored": "green",
    "major": "bold yellow",
    "headline": "magenta",
    "edit": "yellow",
    "minor": "dim",
    "newsroom": "dim",
}


@dataclass
class DemoSummary:
    """What a demo run saw. `directory` is gone afterwards unless `kept`."""

    directory: Path
    config: Path
    database: Path
    base_url: str
    kept: bool = False
    seconds: float = 0.0
    passes: int = 0
    events: int = 0  # newsroom events played from the script
    edits_made: int = 0  # of which changed or took down a story
    pages_served: int = 0  # article pages the newsroom served
    new: int = 0  # on-topic stories, not copies
    duplicates: int = 0
    offtopic: int = 0
    changes: int = 0  # versions after the first, removals included
    removals: int = 0
    clusters: int = 0  # stories that joined another outlet's coverage
    story_ids: list[int] = field(default_factory=list)  # the new stories
    changed_ids: list[int] = field(default_factory=list)  # stories with an edit (not removals)
    source_urls: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{_count(self.new, 'new story', 'new stories')}, "
            f"{_count(self.duplicates, 'copy', 'copies')} folded away, "
            f"{_count(self.offtopic, 'off-topic story', 'off-topic stories')} skipped, "
            f"{_count(self.changes, 'change', 'changes')} "
            f"({_count(self.removals, 'removal', 'removals')}), "
            f"{_count(self.clusters, 'cluster', 'clusters')} joined"
        )


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def seed_copy() -> tuple[str, Article]:
    """(seed id, a syndicated copy of it): the first shipped seed, with another headline and
    a syndication line added."""
    shipped = defaults.seeds()
    if not shipped:
        raise ConfigError("the demo needs the seed articles shipped in monitor/defaults/seeds")
    name, text = shipped[0]
    article = Article(
        slug=content.SEED_COPY_SLUG,
        title=content.SEED_COPY_TITLE,
        byline=content.SEED_COPY_BYLINE,
        paragraphs=(*paragraphs_of(text), content.SEED_COPY_FOOTER),
    )
    return Path(name).stem, article


def open_newsroom(seed: Article, server: WebServer) -> Newsroom:
    """The demo's two outlets with the first stories out (the newest last) and `seed`'s copy
    on the wire, served by `server`."""
    newsroom = Newsroom(content.OUTLETS.values(), content.FEEDS)
    newsroom.serve(server)
    server.route("/robots.txt", b"User-agent: *\nDisallow: /admin/\n", content_type="text/plain")
    now = datetime.now(UTC).replace(microsecond=0)
    start = [*content.AT_START, (seed, content.SEED_COPY_FEED)]
    for minutes, (article, feed) in enumerate(reversed(start), start=1):
        newsroom.publish(replace(article, published=now - timedelta(minutes=7 * minutes)), feed)
    return newsroom


# ---------------------------------------------------------------------------- the run


def _toml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _duration(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def write_config(
    folder: Path, base_url: str, *, interval: float, rechecks: int, seeds_dir: Path
) -> Path:
    """monitor.toml for the demo: SQLite in `folder`, the newsroom's feeds as sources."""
    topics = "".join(
        f"\n[[topics]]\nname = {_toml(name)}\n"
        f"keywords = [{', '.join(_toml(k) for k in keywords)}]\n"
        f"exclude = [{', '.join(_toml(x) for x in exclude)}]\n"
        for name, keywords, exclude in content.TOPICS
    )
    sources = "".join(
        f'\n[[sources]]\nname = {_toml(feed.name)}\nkind = "feed"\n'
        f"url = {_toml(base_url + feed.path)}\n"
        for feed in content.FEEDS
    )
    step = _toml(_duration(interval))
    text = f"""# Generated by `monitor demo`: a simulated newsroom at {base_url}.

[database]
url = {_toml("sqlite:///" + str(folder / "monitor.db"))}

[fetch]
user_agent = "monitor/0.1 (demo)"
timeout = "5s"
concurrency = 8
per_host_concurrency = 8
per_host_delay = "0s"
allow_private_addresses = true

[polling]
interval = {step}
recheck = [{", ".join([step] * rechecks)}]

[seeds]
path = {_toml(str(seeds_dir))}
{topics}{sources}"""
    path = folder / "monitor.toml"
    path.write_text(text, encoding="utf-8")
    return path


class _Reporter:
    """After each pass: the stories and versions the database did not have before."""

    def __init__(
        self,
        console: Console,
        sessions: sessionmaker[Session],
        summary: DemoSummary,
        clock: Callable[[], str],
    ) -> None:
        self.console = console
        self.sessions = sessions
        self.summary = summary
        self.clock = clock
        self.last_story = 0
        self.last_version = 0
        self.outlets = {feed.name: content.OUTLETS[feed.outlet].name for feed in content.FEEDS}

    def say(self, mark: str, label: str, style: str, *parts: str | Text) -> None:
        line = Text.assemble((f"{self.clock()} ", "dim"), (f"{mark} {label:<9} ", style), *parts)
        self.console.print(line, soft_wrap=True)

    def outlet(self, story: Story) -> str:
        name = story.source.name if story.source else ""
        return self.outlets.get(name, name or "?")

    def report(self) -> None:
        with self.sessions() as session:
            stories = list(
                session.scalars(select(Story).where(Story.id > self.last_story).order_by(Story.id))
            )
            for story in stories:
                self.last_story = max(self.last_story, story.id)
                self._story(session, story)
            versions = list(
                session.scalars(
                    select(Version).where(Version.id > self.last_version).order_by(Version.id)
                )
            )
            for version in versions:
                self.last_version = max(self.last_version, version.id)
                if version.number > 1:
                    self._version(session, version)

    def _story(self, session: Session, story: Story) -> None:
        title = Text(views.clean(story.title))
        outlet = Text(f" ({views.clean(self.outlet(story))})", style="dim")
        if story.status == "offtopic":
            self.summary.offtopic += 1
            self.say("·", "off-topic", _STYLES["offtopic"], title, outlet, " not listed")
            return
        if story.status != "active":
            return
        if story.duplicate_kind:
            self.summary.duplicates += 1
            of = (
                f"seed {story.duplicate_of_seed_id}"
                if story.duplicate_kind == "seed"
                else f"story {story.duplicate_of_story_id}"
            )
            similarity = f" ({story.similarity:.2f})" if story.similarity is not None else ""
            self.say(
                "=",
                "duplicate",
                _STYLES["duplicate"],
                Text(f"of {views.clean(of)}{similarity}: ", style=_STYLES["duplicate"]),
                title,
                outlet,
            )
            return
        self.summary.new += 1
        self.summary.story_ids.append(story.id)
        topics = ", ".join(t.topic for t in story.topics)
        self.say(
            "+",
            "new",
            _STYLES["new"],
            Text(f"[{views.clean(topics)}] ", style="bold"),
            title,
            outlet,
            Text(f"  story {story.id}", style="dim"),
        )
        if story.cluster_id is not None and story.cluster_id != story.id:
            members = list(
                session.scalars(
                    select(Story).where(Story.cluster_id == story.cluster_id).order_by(Story.id)
                )
            )
            outlets = sorted({self.outlet(m) for m in members})
            ids = ", ".join(str(m.id) for m in members)
            self.summary.clusters += 1
            count = f"{len(outlets)} outlets" if len(outlets) > 1 else f"{len(members)} stories"
            self.say(
                "#",
                "cluster",
                _STYLES["cluster"],
                Text(f"{count} on one event: {views.clean(', '.join(outlets))} ", style="bold"),
                Text(f"(stories {ids})", style="dim"),
            )

    def _version(self, session: Session, version: Version) -> None:
        story = session.get(Story, version.story_id)
        title = Text(views.clean(story.title if story else version.title))
        change = version.change_class or "edit"
        self.summary.changes += 1
        if change == "removed":
            self.summary.removals += 1
            self.say(
                "-",
                "removed",
                _STYLES["removed"],
                Text(f"story {version.story_id}: ", style="bold"),
                title,
                Text(" (the page is gone)", style="dim"),
            )
            return
        if version.story_id not in self.summary.changed_ids:
            self.summary.changed_ids.append(version.story_id)
        before = queries.latest_content_version(session, version.story_id, below=version.number)
        self.say(
            "~",
            change,
            _STYLES.get(change, "yellow"),
            Text(
                f"story {version.story_id}: version {before.number if before else '?'} → "
                f"{version.number} ",
                style="bold",
            ),
            title,
        )
        if before is None:
            return
        result = compute_diff(version_text(before), version_text(version))
        diff: RenderableType = (
            render_rich(result) if self.console.color_system else Text(render_plain(result))
        )
        self.console.print(Padding(diff, (0, 0, 0, 10), expand=False))


def run_demo(
    duration: float | None = None,
    keep: bool = False,
    console: Console | None = None,
    step: float = 5.0,
) -> DemoSummary:
    """Run the newsroom and the service against it until Ctrl-C or `duration` seconds.

    `step` is the time between two newsroom events; the polling interval and the re-check
    schedule follow it (2 s at the default step).
    """
    if step <= 0 or (duration is not None and duration < 0):
        raise ValueError("step must be positive and duration not negative")
    console = console or Console(highlight=False)
    interval = min(2.0, max(0.25, step / 2))
    rechecks = max(20, math.ceil((len(content.SCRIPT) + 4) * step / interval))
    seed_id, copy = seed_copy()
    directory = Path(tempfile.mkdtemp(prefix="monitor-demo-"))
    server: WebServer | None = None
    newsroom: Newsroom | None = None
    app: App | None = None
    summary = DemoSummary(
        directory=directory,
        config=directory / "monitor.toml",
        database=directory / "monitor.db",
        base_url="",
        kept=keep,
    )
    started = time.monotonic()
    try:
        # Unrecorded: the demo runs for as long as its user wants, the requests are not kept.
        server = WebServer(record=False)
        newsroom = open_newsroom(copy, server)
        summary.base_url = server.base_url
        summary.source_urls = [server.base_url + feed.path for feed in content.FEEDS]
        # The seeds are copied next to the config, so that a kept folder is complete.
        seeds_dir = directory / "seeds"
        defaults.write_seeds(seeds_dir)
        write_config(
            directory, server.base_url, interval=interval, rechecks=rechecks, seeds_dir=seeds_dir
        )
        app = open_app(summary.config)
        app.sync()
        _intro(console, summary, seed_id, interval, step, duration)
        started = time.monotonic()
        asyncio.run(_run(app, newsroom, console, summary, started, duration, step, interval))
    finally:
        summary.seconds = time.monotonic() - started
        summary.pages_served = newsroom.pages_served if newsroom is not None else 0
        if app is not None:
            app.close()
        if server is not None:
            server.close()
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)
    _outro(console, summary)
    return summary


def _intro(
    console: Console,
    summary: DemoSummary,
    seed_id: str,
    interval: float,
    step: float,
    duration: float | None,
) -> None:
    console.print(Text("monitor demo", style="bold"), soft_wrap=True)
    lines = [
        f"A simulated newsroom is up at {summary.base_url}: two outlets, "
        f"{len(content.FEEDS)} feeds, pages whose 'most read' list, ad and 'updated N minutes "
        "ago' change on every request.",
        f"Among the first stories is a syndicated copy of the seed article {seed_id}.",
        f"monitor polls it every {interval:g} s and re-checks each story as often; something "
        f"happens in the newsroom every {step:g} s.",
        f"Temporary database: {summary.database}",
        (
            f"Stopping after {duration:g} s."
            if duration is not None
            else "Press Ctrl-C to stop and see the summary."
        ),
    ]
    for line in lines:
        console.print(Text(line, style="dim"), soft_wrap=True)
    console.print()


async def _run(
    app: App,
    newsroom: Newsroom,
    console: Console,
    summary: DemoSummary,
    started: float,
    duration: float | None,
    step: float,
    interval: float,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def clock() -> str:
        seconds = int(time.monotonic() - started)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"

    reporter = _Reporter(console, app.sessions, summary, clock)
    signals = threading.current_thread() is threading.main_thread()

    def interrupted() -> None:
        console.print(Text(f"{clock()} stopping after this pass…", style="dim"), soft_wrap=True)
        stop.set()
        loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C interrupts at once

    if signals:
        loop.add_signal_handler(signal.SIGINT, interrupted)
    if duration is not None:
        loop.call_later(max(0.0, duration - (time.monotonic() - started)), stop.set)

    async def play() -> None:
        for event in content.SCRIPT:
            await asyncio.sleep(step)
            if newsroom.apply(event):
                summary.edits_made += 1
            summary.events += 1
            reporter.say("»", "newsroom", _STYLES["newsroom"], Text(event.note, style="dim"))
        if duration is None:
            await asyncio.sleep(interval * 3)
            reporter.say(
                "»",
                "newsroom",
                _STYLES["newsroom"],
                Text("That was the whole script. Ctrl-C for the summary.", style="dim"),
            )

    script = asyncio.create_task(play())
    try:
        async with app.pipeline() as pipeline:
            while True:
                await pipeline.run_pass()
                summary.passes += 1
                reporter.report()
                if stop.is_set():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        script.cancel()
        if signals:
            loop.remove_signal_handler(signal.SIGINT)


def _outro(console: Console, summary: DemoSummary) -> None:
    console.print()
    console.print(
        Text(
            f"Demo over after {summary.seconds:.0f} s: {_count(summary.passes, 'pass', 'passes')}, "
            f"{_count(summary.events, 'newsroom event', 'newsroom events')}, "
            f"{_count(summary.pages_served, 'article page', 'article pages')} served.",
            style="bold",
        ),
        soft_wrap=True,
    )
    console.print(Text(summary.line()), soft_wrap=True)
    if summary.changes <= summary.edits_made:
        console.print(
            Text(
                f"Each of the {summary.pages_served} page views had another 'most read' list, "
                "ad and 'updated N minutes ago': none of that noise became a version. "
                f"The newsroom's {_count(summary.edits_made, 'real edit', 'real edits')} "
                f"made {_count(summary.changes, 'version', 'versions')}.",
                style="dim",
            ),
            soft_wrap=True,
        )
    config = summary.config
    example = (summary.changed_ids or summary.story_ids or [1])[0]
    if summary.kept:
        console.print(Text(f"The database is kept in {summary.database}. Explore it:"))
        for command in (
            "list",
            "list --include-duplicates --since all",
            "list --removed",
            "list --clusters",
            f"diff {example}",
            f"history {example}",
        ):
            console.print(
                Text(f"  monitor --config {config} {command}", style="cyan"), soft_wrap=True
            )
    else:
        console.print(
            Text(
                f"The temporary database in {summary.directory} has been deleted. Run "
                "`monitor demo --keep` to keep it, then explore it with "
                f"`monitor --config {config} list` and `monitor --config {config} diff ID`."
            ),
            soft_wrap=True,
        )
