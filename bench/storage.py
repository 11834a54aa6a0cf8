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
import base64
import contextlib
import os
import random
import sqlite3
import tempfile
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from json import dumps
from pathlib import Path

from sqlalchemy import func, select

from bench import Options, Report, Row
from bench.feedserver import FeedServer
from monitor.app import App, open_app
from monitor.clock import utcnow
from monitor.config import CONFIG_ENV, DATABASE_ENV
from monitor.pipeline import PassSummary, Pipeline
from monitor.store.models import Story, Version

FEEDS, ITEMS = 4, 20  # 80 articles
QUICK_FEEDS, QUICK_ITEMS = 1, 15
RECHECKS = 6  # unchanged re-checks: steps 1-6 of the default schedule; the edit is at step 7
QUICK_RECHECKS = 2
CONCURRENCY = 16
TOPIC = "export controls"  # every article mentions it, so every story is on topic

# ---------------------------------------------------------------- the news site (pure)

_FIRST = [
    "Maria", "James", "Chen", "Amara", "Lukas", "Priya", "Tomasz", "Elena", "Kwame", "Sofia",
    "Daniel", "Aiko", "Omar", "Ines",
]  # fmt: skip
_LAST = [
    "Okafor", "Lindqvist", "Moreau", "Tanaka", "Haddad", "Kowalski", "Reyes", "Brennan", "Osei",
    "Varga", "Novak",
]  # fmt: skip
_SUBJECTS = [
    "the ministry", "regulators", "the company", "analysts", "investors", "officials",
    "the agency", "researchers", "the board", "lawmakers", "the startup", "executives",
    "the court", "suppliers", "the chipmaker", "European officials", "the commission",
    "its largest customer", "two people familiar with the matter", "the trade body",
    "cloud providers", "the White House", "rival labs", "shareholders", "the regulator",
]  # fmt: skip
_VERBS = [
    "said", "warned", "expected", "announced", "confirmed", "estimated", "argued",
    "reported", "signalled", "acknowledged", "suggested", "disclosed", "insisted", "noted",
]  # fmt: skip
_MODALS = ["would", "could", "might", "will", "was likely to", "planned to", "had agreed to"]
_ACTIONS = [
    "review", "tighten", "delay", "expand", "challenge", "approve", "suspend", "revise",
    "restrict", "fund", "publish", "investigate", "renegotiate", "scale back", "accelerate",
]  # fmt: skip
_ADJECTIVES = [
    "new", "advanced", "proposed", "existing", "temporary", "sweeping", "narrow", "costly",
    "overdue", "disputed", "expanded", "stricter", "long-awaited", "confidential", "revised",
]  # fmt: skip
_NOUNS = [
    "licence", "shipments", "export rules", "training cluster", "supply agreement",
    "data centre", "funding round", "valuation", "chip orders", "safety review", "lawsuit",
    "investment plan", "open-weights release", "benchmark results", "quarterly guidance",
    "inference costs", "procurement contract", "research paper", "antitrust complaint",
    "subsidy programme", "partnership", "pricing model", "hiring freeze", "audit",
]  # fmt: skip
_PLACES = [
    "Washington", "Brussels", "Beijing", "Taipei", "Seoul", "Tokyo", "London", "Singapore",
    "Berlin", "Paris", "Delhi", "Dubai", "San Francisco", "Shenzhen", "Amsterdam",
]  # fmt: skip
_TAILS = [
    "by the end of the quarter", "before the summer", "in {place}", "after months of talks",
    "despite objections from {subject}", "according to a filing seen by reporters",
    "within {n} days", "at a cost of about ${n} million", "for the first time since {year}",
    "while {subject} {verb} the plan was premature", "as demand for chips kept rising",
    "pending a decision from {subject}", "by {n} per cent", "under pressure from {subject}",
]  # fmt: skip
_SECTIONS = [
    "World", "UK", "US", "Politics", "Business", "Markets", "Technology", "Science", "Health",
    "Climate", "Culture", "Sport", "Opinion", "Travel", "Money", "Education", "Media",
    "Obituaries", "Podcasts", "Video", "Newsletters", "Puzzles",
]  # fmt: skip


def _sentence(rng: random.Random, *, topic: bool = False) -> str:
    def fill(text: str) -> str:
        return text.format(
            place=rng.choice(_PLACES),
            subject=rng.choice(_SUBJECTS),
            verb=rng.choice(_VERBS),
            n=rng.randrange(2, 950),
            year=rng.randrange(1998, 2025),
        )

    subject = rng.choice(_SUBJECTS)
    thing = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
    if topic:
        thing = f"{TOPIC} on {rng.choice(_NOUNS)}"
    clause = (
        f"{rng.choice(_SUBJECTS)} {rng.choice(_MODALS)} {rng.choice(_ACTIONS)} the {thing} "
        f"{fill(rng.choice(_TAILS))}"
    )
    if rng.random() < 0.35:
        clause += f", {fill(rng.choice(_TAILS))}"
    if rng.random() < 0.3:
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        spokesperson = f"{name}, a spokesperson for {subject}, {rng.choice(_VERBS)}"
        text = f'"{clause.capitalize()}," {spokesperson}'
    else:
        text = f"{subject} {rng.choice(_VERBS)} that {clause}"
    return text[0].upper() + text[1:] + "."


def _nonce(rng: random.Random, size: int = 16) -> str:
    return base64.b64encode(rng.randbytes(size)).decode()


def _image(rng: random.Random, alt: str, widths: tuple[int, ...] = (240, 480, 800, 1200)) -> str:
    key = rng.randbytes(12).hex()
    base = f"https://static.bench-news.test/images/{key}"
    srcset = ", ".join(f"{base}/{w}x{w * 9 // 16}.jpg?auto=webp&amp;q=75 {w}w" for w in widths)
    return (
        f'<img src="{base}/{widths[-1]}.jpg" srcset="{srcset}" sizes="(max-width: 600px) 100vw, '
        f'50vw" alt="{escape(alt)}" loading="lazy" decoding="async">'
    )


@dataclass(frozen=True)
class _Site:
    """What every page of the site shares: CSS, a script bundle, navigation, footer, logo, and
    the pool of "Most read" headlines the rotating list is drawn from."""

    css: str
    bundle: str
    nav: str
    footer: str
    logo: str
    most_read: tuple[str, ...]  # <li> items

    @staticmethod
    def build(seed: int = 2026) -> _Site:
        rng = random.Random(seed)
        rules = []
        for _ in range(260):
            cls = "c-" + rng.randbytes(3).hex()
            rules.append(
                f".{cls}{{display:{rng.choice(['flex', 'block', 'grid', 'inline-block'])};"
                f"margin:{rng.randrange(0, 40)}px {rng.randrange(0, 24)}px;"
                f"color:#{rng.randbytes(3).hex()};font-size:{rng.randrange(10, 40) / 16:.4g}rem;"
                f"line-height:{rng.randrange(110, 170) / 100}}}"
            )
        css = "".join(rules)
        names = ["e", "t", "n", "r", "i", "o", "a", "s", "u", "c", "l", "d", "f", "p", "h"]
        props = ["push", "call", "apply", "bind", "then", "catch", "slice", "map", "filter"]
        chunks = []
        for index in range(420):
            a, b, c = rng.sample(names, 3)
            chunks.append(
                f"function {rng.choice(names)}{index:x}({a},{b}){{var {c}={a}.{rng.choice(props)}"
                f"({b},{rng.randrange(1 << 16)});return {c}&&{c}[{rng.randrange(64)}]||"
                f'"{rng.randbytes(4).hex()}"}}'
            )
        bundle = ";".join(chunks)
        nav = "".join(
            f'<li><a href="/{section.lower()}" data-link-name="nav : {section}">{section}</a>'
            + "".join(
                f'<a href="/{section.lower()}/{rng.randbytes(3).hex()}">'
                f"{rng.choice(_NOUNS).capitalize()}</a>"
                for _ in range(4)
            )
            + "</li>"
            for section in _SECTIONS
        )
        footer = "".join(
            f'<li><a href="/info/{rng.randbytes(4).hex()}">{rng.choice(_NOUNS).capitalize()} '
            f"{rng.choice(_SECTIONS).lower()}</a></li>"
            for _ in range(48)
        )
        points = " ".join(
            f"{rng.choice('MLCQ')}{rng.uniform(0, 200):.2f} {rng.uniform(0, 40):.2f}"
            for _ in range(220)
        )
        logo = f'<svg viewBox="0 0 200 40" aria-hidden="true"><path d="{points}Z"/></svg>'
        most_read = tuple(
            f'<li><a href="/news/{rng.randbytes(5).hex()}">'
            f"{escape(_sentence(rng)[:90].rstrip('. '))}</a>{_image(rng, 'thumbnail', (140,))}"
            "</li>"
            for _ in range(30)
        )
        return _Site(css, bundle, nav, footer, logo, most_read)


@dataclass(frozen=True)
class _Article:
    """One article, in its two revisions (revision 1: one sentence edited), rendered except
    for the furniture that changes at every request."""

    head: tuple[str, str]  # JSON-LD and meta tags, by revision
    body: tuple[str, str]  # <article> content, by revision
    state: tuple[str, str]  # the JSON state blob, by revision
    words: int

    @staticmethod
    def build(url: str, feed: int, item: int) -> _Article:
        rng = random.Random(feed * 1000 + item)
        title = _sentence(rng, topic=True).rstrip(".")[:110]
        standfirst = _sentence(rng)
        author = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        published = datetime(2026, 11, 20, 6, 0, tzinfo=UTC) - timedelta(minutes=37 * item + feed)
        target = rng.randrange(800, 1501)
        paragraphs: list[list[str]] = [[_sentence(rng, topic=True)]]
        words = len(paragraphs[0][0].split())
        while words < target:
            paragraph = [_sentence(rng) for _ in range(rng.randrange(1, 4))]
            words += sum(len(sentence.split()) for sentence in paragraph)
            paragraphs.append(paragraph)
        edited = [list(p) for p in paragraphs]
        where = len(edited) // 2
        edited[where][0] = _edit(edited[where][0], rng)
        image = _image(rng, title, (320, 640, 960, 1280, 1600, 2048))
        related = "".join(
            f'<li><a href="/news/{rng.randbytes(5).hex()}">{escape(_sentence(rng)[:80])}</a>'
            f"{_image(rng, 'related', (160, 320))}</li>"
            for _ in range(6)
        )
        tags = "".join(
            f'<a href="/topic/{noun.replace(" ", "-")}" rel="tag">{noun}</a>'
            for noun in rng.sample(_NOUNS, 5)
        )
        heads, bodies, states = [], [], []
        for revision, text in enumerate((paragraphs, edited)):
            modified = published + timedelta(hours=2 * revision + 1)
            ld = {
                "@context": "https://schema.org",
                "@type": "NewsArticle",
                "headline": title,
                "description": standfirst,
                "datePublished": published.isoformat(),
                "dateModified": modified.isoformat(),
                "author": [{"@type": "Person", "name": author}],
                "publisher": {"@type": "Organization", "name": "The Bench Chronicle"},
                "image": [f"https://static.bench-news.test/og/{feed:04d}-{item:02d}.jpg"],
                "mainEntityOfPage": url,
            }
            heads.append(
                f"<title>{escape(title)} | The Bench Chronicle</title>"
                f'<link rel="canonical" href="{url}">'
                f'<meta name="description" content="{escape(standfirst)}">'
                f'<meta property="og:title" content="{escape(title)}">'
                f'<meta property="og:url" content="{url}">'
                f'<meta property="og:type" content="article">'
                f'<meta property="article:published_time" content="{published.isoformat()}">'
                f'<meta property="article:modified_time" content="{modified.isoformat()}">'
                f'<meta name="twitter:card" content="summary_large_image">'
                f'<script type="application/ld+json">{dumps(ld)}</script>'
            )
            paragraphs_html = "".join(f"<p>{escape(' '.join(p))}</p>" for p in text)
            bodies.append(
                f'<h1>{escape(title)}</h1><p class="standfirst">{escape(standfirst)}</p>'
                f'<figure class="hero">{image}<figcaption>{escape(standfirst[:70])}'
                "</figcaption></figure>"
                f'<div class="byline">By <a rel="author" href="/profile/{author.lower()}">'
                f'{escape(author)}</a> <time class="updated">@UPDATED@</time></div>'
                f'<div class="article-body">{paragraphs_html}</div>'
                f'<div class="tags">{tags}</div>'
                f'<section class="related"><h2>Related stories</h2><ul>{related}</ul></section>'
            )
            state = {
                "page": {"id": f"{feed:04d}-{item:02d}", "type": "article", "url": url},
                "article": {
                    "headline": title,
                    "standfirst": standfirst,
                    "byline": author,
                    "blocks": [{"type": "paragraph", "text": " ".join(p)} for p in text],
                    "dateModified": modified.isoformat(),
                },
                "config": {"abTests": {f"test{i}": rng.choice("ABC") for i in range(12)}},
            }
            states.append(dumps(state))
        return _Article((heads[0], heads[1]), (bodies[0], bodies[1]), (states[0], states[1]), words)


def _edit(sentence: str, rng: random.Random) -> str:
    """The sentence with two words changed, as a correction or an update changes it."""
    words = sentence.split()
    for index in rng.sample(range(1, len(words) - 1), 2):
        words[index] = rng.choice([word for word in _ADJECTIVES if word != words[index]])
    return " ".join(words)


def _article_page(site: _Site, article: _Article, revision: int, request: int) -> bytes:
    """The page as served at request number `request`: furniture differs at every request."""
    rng = random.Random(request)
    nonce = _nonce(rng)
    start = request % len(site.most_read)
    most_read = (site.most_read[start:] + site.most_read[:start])[:10]
    ads = ",".join(
        f'{{"slot":"ad-{slot}","correlator":{rng.randrange(1 << 40)},"creative":'
        f'"{rng.randbytes(6).hex()}"}}'
        for slot in ("top", "mpu-1", "mpu-2", "inline-1", "inline-2", "footer")
    )
    minutes = request % 59 + 1
    body = article.body[revision].replace("@UPDATED@", f"Updated {minutes} minutes ago", 1)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{article.head[revision]}"
        f'<meta name="request-id" content="{rng.randbytes(16).hex()}">'
        f'<style nonce="{nonce}">{site.css}</style>'
        f'<script nonce="{nonce}">window.__config={{"pageViewId":"{rng.randbytes(8).hex()}",'
        f'"ads":[{ads}]}};</script>'
        f'<script nonce="{nonce}">{site.bundle}</script>'
        "</head><body>"
        f'<header><a class="logo" href="/">{site.logo}</a>'
        f'<nav aria-label="Sections"><ul>{site.nav}</ul></nav>'
        f'<div class="ticker">Live: markets, sport and weather, updated {minutes} minutes ago'
        "</div></header>"
        f'<div class="ad-slot" id="ad-top" data-correlator="{rng.randrange(1 << 40)}"></div>'
        f"<main><article>{body}</article>"
        f'<aside class="most-read"><h2>Most read</h2><ol>{"".join(most_read)}</ol></aside>'
        "</main>"
        f"<footer><ul>{site.footer}</ul><p>&copy; 2026 The Bench Chronicle.</p></footer>"
        f'<script id="__STATE__" type="application/json" nonce="{nonce}">'
        f"{article.state[revision]}</script>"
        f'<script nonce="{nonce}">window.__rendered={rng.randrange(1 << 40)};</script>'
        "</body></html>"
        f"<!-- rendered in {rng.randrange(5, 90)} ms by web-{rng.randrange(40)} -->"
    ).encode()


# ---------------------------------------------------------------- the server


class _NewsServer(FeedServer):
    """`FeedServer`'s feeds, plus /articles/NNNN/II: the article pages the feed items link to
    (no validators, furniture new at every request), in revision `revision`."""

    def __init__(self, feeds: int, items: int) -> None:
        super().__init__(feeds, items)
        self.site = _Site.build()
        self.revision = 0
        self.articles_served = 0
        self._articles: dict[tuple[int, int], _Article] = {}

    def article(self, feed: int, item: int) -> _Article:
        key = (feed, item)
        if key not in self._articles:
            url = f"{self.base_url}/articles/{feed:04d}/{item:02d}"
            self._articles[key] = _Article.build(url, feed, item)
        return self._articles[key]

    def respond(self, head: bytes) -> tuple[bytes, bool]:
        request_line = head.partition(b"\r\n")[0].split(b" ")
        if len(request_line) == 3 and request_line[0] == b"GET":
            parts = request_line[1].partition(b"?")[0].split(b"/")
            if len(parts) == 4 and parts[1] == b"articles" and parts[2].isdigit():
                feed, item = int(parts[2]), int(parts[3]) if parts[3].isdigit() else -1
                if 0 <= feed < self.feeds and 0 <= item < self.items:
                    return self._page(feed, item), b"connection: close" in head.lower()
        return super().respond(head)

    def _page(self, feed: int, item: int) -> bytes:
        self.stats.requests += 1
        self.articles_served += 1
        article = self.article(feed, item)
        body = _article_page(self.site, article, self.revision, self.stats.requests)
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: private, max-age=0\r\n\r\n"
        )
        return head.encode("latin-1") + body


@contextlib.contextmanager
def _serving(feeds: int, items: int) -> Iterator[_NewsServer]:
    """The site on 127.0.0.1, on an event loop in a thread of this process."""
    server = _NewsServer(feeds, items)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bench-news-site", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=10)
        yield server
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


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
        _serving(feeds, items) as server,
        tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp,
        _environment_without(DATABASE_ENV, CONFIG_ENV),
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


@contextlib.contextmanager
def _environment_without(*names: str) -> Iterator[None]:
    """The benchmark's own config and database, whatever MONITOR_DATABASE_URL says."""
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _open_app(folder: Path, server: _NewsServer, clock: _Clock) -> App:
    lines = [
        "[database]",
        f'url = "sqlite:///{folder / "monitor.db"}"',
        "[fetch]",
        f"concurrency = {CONCURRENCY}",
        f"per_host_concurrency = {CONCURRENCY}",
        'per_host_delay = "0s"',
        "allow_private_addresses = true",
        "[[topics]]",
        'name = "bench"',
        f'keywords = ["{TOPIC}"]',
    ]
    for index in range(server.feeds):
        url = f"{server.base_url}/feeds/{index:04d}.xml"
        lines += ["[[sources]]", f'name = "feed-{index:04d}"', 'kind = "feed"', f'url = "{url}"']
    path = folder / "monitor.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    app = open_app(path, clock=clock)
    app.sync()
    return app


async def _run(app: App, server: _NewsServer, clock: _Clock, rechecks: int) -> _Results:
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


def _keys(server: _NewsServer) -> list[tuple[int, int]]:
    return [(feed, item) for feed in range(server.feeds) for item in range(server.items)]


async def _pass(pipeline: Pipeline, server: _NewsServer, articles: int) -> PassSummary:
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


def _report(results: _Results, server: _NewsServer) -> Report:
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
