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
import html
import itertools
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
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import TCPServer
from urllib.parse import urlsplit

from rich.console import Console, RenderableType
from rich.padding import Padding
from rich.text import Text
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor import demo_content as content
from monitor import views
from monitor.app import App, open_app
from monitor.core.diff import compute_diff, render_plain, render_rich, version_text
from monitor.errors import ConfigError
from monitor.store import queries
from monitor.store.models import Story, Version

__all__ = ["SEEDS_DIR", "DemoSummary", "Newsroom", "NewsroomServer", "run_demo"]

# The shipped seed articles, found from the package like monitor/store/db.py finds migrations.
SEEDS_DIR = Path(__file__).resolve().parent.parent / "config" / "seeds"
HOST = "127.0.0.1"

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


# ---------------------------------------------------------------------------- the newsroom


@dataclass
class _Published:
    article: content.DemoArticle
    published: datetime
    live: bool = True


class Newsroom:
    """The outlets' state: which stories run where, as they read now. Thread-safe."""

    def __init__(self, base_url: str = "", seed_copy: content.DemoArticle | None = None) -> None:
        self.base_url = base_url
        self.stories: dict[str, _Published] = {}
        self.pages_served = 0
        self._lock = threading.Lock()
        self._requests = itertools.count()
        self._feeds = {feed.path: feed for feed in content.FEEDS}
        self._feed_of = {feed.source: feed for feed in content.FEEDS}
        now = datetime.now(UTC).replace(microsecond=0)
        start = [*content.AT_START, *([seed_copy] if seed_copy else [])]
        for minutes, article in enumerate(reversed(start), start=1):
            self.stories[article.slug] = _Published(article, now - timedelta(minutes=7 * minutes))

    # ------------------------------------------------------------ the script

    def apply(self, event: content.Event) -> bool:
        """Play one event; True when it changed or took down a story already out."""
        with self._lock:
            if event.kind == "publish":
                assert event.article is not None
                self.stories[event.slug] = _Published(
                    event.article, datetime.now(UTC).replace(microsecond=0)
                )
                return False
            story = self.stories[event.slug]
            article = story.article
            if event.kind == "takedown":
                story.live = False
            elif event.kind == "headline":
                story.article = replace(article, title=event.text)
            elif event.kind == "replace":
                paragraphs = tuple(p.replace(event.old, event.text) for p in article.paragraphs)
                story.article = replace(article, paragraphs=paragraphs)
            elif event.kind == "drop":
                paragraphs = tuple(
                    p for i, p in enumerate(article.paragraphs) if i != event.paragraph
                )
                story.article = replace(article, paragraphs=paragraphs)
            elif event.kind == "append":
                story.article = replace(article, paragraphs=(*article.paragraphs, event.text))
            return True

    # ------------------------------------------------------------ serving

    def url(self, article: content.DemoArticle) -> str:
        outlet = self._feed_of[article.feed].outlet
        section = "stories" if outlet == "wire" else "news"
        return f"{self.base_url}/{outlet}/{section}/{article.slug}"

    def respond(self, target: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a request target."""
        path = urlsplit(target).path
        if path == "/robots.txt":
            return 200, "text/plain; charset=utf-8", b"User-agent: *\nDisallow: /admin/\n"
        feed = self._feeds.get(path)
        if feed is not None:
            return 200, "application/rss+xml; charset=utf-8", self.feed_xml(feed)
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[1] in ("news", "stories"):
            with self._lock:
                story = self.stories.get(parts[2])
                n = next(self._requests)
                self.pages_served += 1
                found = story is not None and story.live
                page = (story.article, story.published) if story is not None else None
            if found and page is not None and self.url(page[0]).endswith(path):
                return 200, "text/html; charset=utf-8", self.article_html(*page, n)
        return 404, "text/html; charset=utf-8", b"<h1>Page not found</h1>"

    def feed_xml(self, feed: content.Feed) -> bytes:
        with self._lock:
            listed = sorted(
                (s for s in self.stories.values() if s.live and s.article.feed == feed.source),
                key=lambda s: s.published,
                reverse=True,
            )
            items = [(s.article, s.published) for s in listed]
        tracking = "?utm_source=rss&utm_medium=feed" if feed.outlet == "wire" else ""
        entries = "".join(
            "<item>"
            f"<title>{html.escape(article.title)}</title>"
            f"<link>{html.escape(self.url(article) + tracking)}</link>"
            f'<guid isPermaLink="false">{html.escape(article.slug)}</guid>'
            f"<pubDate>{format_datetime(published)}</pubDate>"
            f"<description>{html.escape(article.paragraphs[0][:160])}…</description>"
            "</item>"
            for article, published in items
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>{html.escape(feed.title)}</title><link>{self.base_url}/{feed.outlet}/</link>"
            f"<description>{html.escape(feed.title)}</description>{entries}</channel></rss>"
        ).encode()

    def article_html(self, article: content.DemoArticle, published: datetime, n: int) -> bytes:
        outlet = self._feed_of[article.feed].outlet
        render = _wire_page if outlet == "wire" else _daily_page
        return render(article, published, self.url(article), n).encode()


def _rotated(items: tuple[str, ...], n: int) -> tuple[str, ...]:
    k = n % len(items)
    return items[k:] + items[:k]


def _daily_page(article: content.DemoArticle, published: datetime, canonical: str, n: int) -> str:
    title = html.escape(article.title)
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in article.paragraphs)
    most_read = "".join(
        f'<li><a href="/daily/news/most-read-{i}">{html.escape(t)}</a></li>'
        for i, t in enumerate(_rotated(content.MOST_READ, n))
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title} | The Daily Demo</title>
<link rel="canonical" href="{canonical}">
<meta property="og:title" content="{title}">
<meta property="article:published_time" content="{published.isoformat()}">
<script>window.dataLayer = [{{"pageview": {n}}}];</script>
</head><body>
<header><nav><a href="/daily/">Home</a> <a href="/daily/technology">Technology</a>
<a href="/daily/world">World</a> <a href="/daily/sport">Sport</a></nav>
<div class="ticker">Updated {n % 59 + 1} minutes ago</div></header>
<div class="ad" id="ad-{n}">{html.escape(_rotated(content.ADS, n)[0])}</div>
<main><article>
<h1>{title}</h1>
<p class="byline">By <span class="author">{html.escape(article.byline)}</span></p>
<time datetime="{published.isoformat()}">{published:%d %B %Y}</time>
<div class="article-body">
{body}
</div>
</article>
<aside class="most-read"><h2>Most read</h2><ol>{most_read}</ol></aside>
<section class="related"><h2>Related stories</h2><ul>
<li><a href="/daily/news/related-{n}">More from our technology desk ({n})</a></li></ul></section>
</main>
<footer><p>© 2026 The Daily Demo. All rights reserved.</p>
<a href="/daily/privacy">Privacy</a> <a href="/daily/terms">Terms</a></footer>
</body></html>"""


def _wire_page(article: content.DemoArticle, published: datetime, canonical: str, n: int) -> str:
    title = html.escape(article.title)
    body = "\n".join(f'<p class="story-text">{html.escape(p)}</p>' for p in article.paragraphs)
    trending = "".join(
        f'<li><a href="/wire/stories/trending-{i}">{html.escape(t)}</a></li>'
        for i, t in enumerate(_rotated(content.TRENDING, n)[:4])
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title} - Pacific Wire</title>
<link rel="canonical" href="{canonical}">
<meta name="description" content="{html.escape(article.paragraphs[0][:150])}">
<meta property="article:published_time" content="{published.isoformat()}">
</head><body>
<div id="cookie-banner" data-session="s{n:06d}">We use cookies to improve your experience.
<button>Accept</button></div>
<header class="masthead"><a href="/wire/">Pacific Wire</a>
<span class="markets">Live markets · refreshed {n % 50 + 2} seconds ago</span></header>
<div class="layout">
<div class="story">
<h1 class="headline">{title}</h1>
<div class="meta"><span class="byline">By {html.escape(article.byline)}</span> ·
<time datetime="{published.isoformat()}">{published:%B %d, %Y %H:%M} UTC</time></div>
<div class="share">Share: <a href="#">Email</a> <a href="#">Copy link</a></div>
{body}
<p class="trust">Our Standards: The Pacific Wire Trust Principles.</p>
</div>
<aside class="trending"><h3>Trending</h3><ul>{trending}</ul></aside>
</div>
<footer>All quotes delayed a minimum of 15 minutes. © Pacific Wire 2026.</footer>
</body></html>"""


class _Handler(BaseHTTPRequestHandler):
    server: NewsroomServer
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers at shutdown

    def do_GET(self) -> None:
        status, content_type, body = self.server.newsroom.respond(self.path)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the demo prints what the monitor sees, not the access log."""


class NewsroomServer(ThreadingHTTPServer):
    """The newsroom on 127.0.0.1 and a free port, served from a daemon thread."""

    daemon_threads = True
    request_queue_size = 128  # the default 5 drops connections of a busy pass: 1 s SYN retries

    def __init__(self, newsroom: Newsroom) -> None:
        self.newsroom = newsroom
        super().__init__((HOST, 0), _Handler)
        self.base_url = f"http://{HOST}:{self.server_address[1]}"
        newsroom.base_url = self.base_url
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn); nothing here needs it.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, int(self.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.shutdown()
            self._thread.join(timeout=5)
        self.server_close()


def seed_copy(seeds_dir: Path = SEEDS_DIR) -> tuple[str, content.DemoArticle]:
    """(seed id, a syndicated copy of it): the first shipped seed, with another headline and
    a syndication line added."""
    seeds = sorted(seeds_dir.glob("*.txt")) if seeds_dir.is_dir() else []
    if not seeds:
        raise ConfigError(f"the demo needs the shipped seed articles in {seeds_dir}")
    text = seeds[0].read_text(encoding="utf-8")
    paragraphs = tuple(line.strip() for line in text.splitlines() if line.strip())
    article = content.DemoArticle(
        slug=content.SEED_COPY_SLUG,
        feed=content.SEED_COPY_FEED,
        title=content.SEED_COPY_TITLE,
        byline=content.SEED_COPY_BYLINE,
        paragraphs=(*paragraphs, content.SEED_COPY_FOOTER),
    )
    return seeds[0].stem, article


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
        f'\n[[sources]]\nname = {_toml(feed.source)}\nkind = "feed"\n'
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
        self.outlets = {feed.source: content.OUTLETS[feed.outlet].name for feed in content.FEEDS}

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
    newsroom = Newsroom(seed_copy=copy)
    server: NewsroomServer | None = None
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
        server = NewsroomServer(newsroom)
        server.start()
        summary.base_url = server.base_url
        summary.source_urls = [server.base_url + feed.path for feed in content.FEEDS]
        write_config(
            directory, server.base_url, interval=interval, rechecks=rechecks, seeds_dir=SEEDS_DIR
        )
        app = open_app(summary.config)
        app.sync()
        _intro(console, summary, seed_id, interval, step, duration)
        started = time.monotonic()
        asyncio.run(_run(app, newsroom, console, summary, started, duration, step, interval))
    finally:
        summary.seconds = time.monotonic() - started
        summary.pages_served = newsroom.pages_served
        if app is not None:
            app.close()
        if server is not None:
            server.stop()
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
            f"Demo over after {summary.seconds:.0f} s: {summary.passes} passes, "
            f"{summary.events} newsroom events, {summary.pages_served} article pages served.",
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
