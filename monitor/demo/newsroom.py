"""The one simulated newsroom: outlets, their feeds and article pages, on a local `WebServer`.

`monitor demo` plays a script against it, the tests edit it between two polls, and both see
pages dressed like real ones, whose furniture changes on every request (a rotating "most
read" or "trending" list, "updated N minutes ago", an ad, a cookie banner), so change detection
always meets the noise real sites make. What differs between its users is options, not copies:

    room = Newsroom()                                   # the tests: one outlet, The Daily Test
    room.serve(web_server)                              # /feeds/NAME.xml and /news/SLUG
    room.publish(article, "tech")                       # listed on /feeds/tech.xml
    room.edit(article.slug, title="A new headline")     # seen at the next request
    room.take_down(article.slug)                        # the page answers 404

    room = Newsroom(content.OUTLETS, content.FEEDS)     # the demo: two outlets, three feeds
    room.apply(event)                                   # one event of its script

The benchmarks' thousands of generated pages are `monitor.demo.generated`, served by their
own fast server (see bench/feedserver.py).
"""

from __future__ import annotations

import html
import itertools
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Literal

from monitor import defaults
from monitor.demo.webserver import Response, WebServer

__all__ = [
    "Article",
    "Event",
    "Feed",
    "NewsArticle",
    "Newsroom",
    "Outlet",
    "paragraphs_of",
    "seed_text",
]

HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"


@dataclass(frozen=True)
class Outlet:
    """A publication. Its article pages are /KEY/SECTION/SLUG (/SECTION/SLUG without a key)."""

    key: str
    name: str
    section: str = "news"
    style: Literal["daily", "wire"] = "daily"  # which page template dresses its articles
    tracking: str = ""  # a query string its feeds add to every link

    @property
    def home(self) -> str:
        return f"/{self.key}" if self.key else ""

    def path(self, slug: str) -> str:
        return f"{self.home}/{self.section}/{slug}"


@dataclass(frozen=True)
class Feed:
    """An RSS feed of one outlet, served at `path`."""

    name: str  # the source name a config gives it
    outlet: str  # an Outlet key
    path: str
    title: str
    newest_first: bool = False  # else in the order links were listed


@dataclass(frozen=True)
class Article:
    slug: str
    title: str
    paragraphs: tuple[str, ...]
    byline: str = "Staff reporter"
    published: datetime = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


NewsArticle = Article  # the tests' name for it

EventKind = Literal["publish", "headline", "replace", "drop", "append", "takedown"]


@dataclass(frozen=True)
class Event:
    """One thing that happens in the newsroom. `note` is what the demo says about it."""

    kind: EventKind
    slug: str
    note: str
    article: Article | None = None  # publish
    feed: str = ""  # publish: where it is listed
    text: str = ""  # headline: the new one; replace: the new words; append: the paragraph
    old: str = ""  # replace: the words replaced
    paragraph: int = 0  # drop: which one (0-based)


THE_DAILY_TEST = Outlet("", "The Daily Test")

# Page furniture: rotated at every request, never part of the story.
MOST_READ = (
    "Council approves new cycle lanes for the old town",
    "Five recipes for a rainy weekend",
    "Transfer window: the deals that matter",
    "Why the housing market cooled this autumn",
    "The best autumn walks within an hour of the city",
    "Storm warning issued for the coast",
    "What the new school timetable means for parents",
)
TRENDING = (
    "Markets: Asian shares mixed as investors await rate decision",
    "Oil steadies after two days of losses",
    "Shipping rates climb on Red Sea disruption",
    "Central bank holds rates, signals patience",
    "Tech stocks lead a rebound in Tokyo",
)
ADS = (
    "Subscribe for $1 a week",
    "Try our crossword app",
    "Listen to the morning briefing podcast",
    "Win tickets to the autumn festival",
)


@dataclass
class _Story:
    article: Article
    outlet: Outlet
    live: bool = True


@dataclass
class Newsroom:
    """The outlets' state: which article runs where, as it reads now, and which feed lists
    which links (a link may carry tracking, or lead nowhere yet). Thread-safe."""

    outlets: Iterable[Outlet] = (THE_DAILY_TEST,)
    feeds: Iterable[Feed] = ()
    base_url: str = ""
    pages_served: int = 0  # article page requests, taken-down pages included
    _outlets: dict[str, Outlet] = field(init=False)
    _feeds: dict[str, Feed] = field(init=False)
    _listed: dict[str, list[str]] = field(init=False, default_factory=dict)
    _stories: dict[str, _Story] = field(init=False, default_factory=dict)
    _requests: itertools.count[int] = field(init=False, default_factory=itertools.count)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _server: WebServer | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._outlets = {outlet.key: outlet for outlet in self.outlets}
        self._feeds = {feed.name: feed for feed in self.feeds}

    # ------------------------------------------------------------ serving

    def serve(self, server: WebServer) -> None:
        """Answer on `server`: every feed and article page, as it is at each request. Calling
        again puts back routes a test replaced."""
        self._server = server
        self.base_url = server.base_url
        for name in list(self._feeds):
            self._route_feed(name)
        for slug in list(self._stories):
            self._route_article(slug)

    def _route_feed(self, name: str) -> None:
        if self._server is not None:
            self._server.route(self._feeds[name].path, handler=lambda _: self._feed_response(name))

    def _route_article(self, slug: str) -> None:
        if self._server is not None:
            path = self._stories[slug].outlet.path(slug)
            self._server.route(path, handler=lambda _: self.page_response(slug))

    def _feed_response(self, name: str) -> Response:
        return Response(body=self.feed_xml(name), headers={"Content-Type": RSS})

    def page_response(self, slug: str) -> Response:
        """The article page of `slug` as served now (another route may serve it too)."""
        with self._lock:
            self.pages_served += 1
        page = self.article_html(slug)
        if page is None:
            return Response(
                status=404, body=b"<h1>Page not found</h1>", headers={"Content-Type": HTML}
            )
        return Response(body=page, headers={"Content-Type": HTML, "Cache-Control": "no-cache"})

    # ------------------------------------------------------------ the newsroom's work

    def feed(self, name: str) -> Feed:
        """Feed `name`, made at /feeds/NAME.xml of the first outlet when it is new."""
        with self._lock:
            if name not in self._feeds:
                outlet = next(iter(self._outlets))
                self._feeds[name] = Feed(
                    name, outlet, f"/feeds/{name}.xml", f"{self._outlets[outlet].name}: {name}"
                )
            return self._feeds[name]

    def publish(self, article: Article, *feeds: str, link_suffix: str = "") -> None:
        """Run `article` (on the outlet of its first feed) and list it on `feeds`."""
        listed = [self.feed(name) for name in feeds]
        outlet = self._outlets[listed[0].outlet] if listed else next(iter(self._outlets.values()))
        with self._lock:
            self._stories[article.slug] = _Story(article, outlet)
            for feed in listed:
                link = outlet.path(article.slug) + (link_suffix or outlet.tracking)
                self._listed.setdefault(feed.name, []).append(link)
        self._route_article(article.slug)
        for feed in listed:
            self._route_feed(feed.name)

    def list_link(self, feed: str, link: str) -> None:
        """List `link` (a path, perhaps with a query) on `feed`, whatever it leads to."""
        self.feed(feed)
        with self._lock:
            self._listed.setdefault(feed, []).append(link)
        self._route_feed(feed)

    def edit(self, slug: str, **changes: object) -> Article:
        with self._lock:
            story = self._stories[slug]
            story.article = replace(story.article, **changes)  # type: ignore[arg-type]
            return story.article

    def take_down(self, slug: str, live: bool = False) -> None:
        """The page answers 404 and the feeds stop listing it (`live=True` puts it back)."""
        with self._lock:
            self._stories[slug].live = live

    def apply(self, event: Event) -> bool:
        """Play one scripted event; True when it changed or took down a story already out."""
        if event.kind == "publish":
            assert event.article is not None
            now = datetime.now(UTC).replace(microsecond=0)
            self.publish(replace(event.article, published=now), event.feed)
            return False
        if event.kind == "takedown":
            self.take_down(event.slug)
            return True
        with self._lock:
            paragraphs = self._stories[event.slug].article.paragraphs
        if event.kind == "headline":
            self.edit(event.slug, title=event.text)
        elif event.kind == "replace":
            self.edit(
                event.slug, paragraphs=tuple(p.replace(event.old, event.text) for p in paragraphs)
            )
        elif event.kind == "drop":
            kept = tuple(p for i, p in enumerate(paragraphs) if i != event.paragraph)
            self.edit(event.slug, paragraphs=kept)
        elif event.kind == "append":
            self.edit(event.slug, paragraphs=(*paragraphs, event.text))
        return True

    # ------------------------------------------------------------ what is served

    def feed_xml(self, name: str, base_url: str | None = None) -> bytes:
        feed = self.feed(name)
        base = self.base_url if base_url is None else base_url
        with self._lock:
            links = list(self._listed.get(name, []))
            stories = dict(self._stories)
        entries = []
        for link in links:
            slug = next((slug for slug in stories if f"/{slug}" in link), None)
            story = stories.get(slug) if slug else None
            if story is not None and not story.live:
                continue
            article = story.article if story else Article(slug="", title=link, paragraphs=())
            entries.append((article, base + link))
        if feed.newest_first:
            entries.sort(key=lambda entry: entry[0].published, reverse=True)
        items = "".join(
            "<item>"
            f"<title>{html.escape(article.title)}</title>"
            f"<link>{html.escape(url)}</link>"
            f"<guid>{html.escape(url)}</guid>"
            f"<pubDate>{format_datetime(article.published)}</pubDate>"
            + (
                f"<description>{html.escape(article.paragraphs[0][:160])}…</description>"
                if article.paragraphs
                else ""
            )
            + "</item>"
            for article, url in entries
        )
        outlet = self._outlets[feed.outlet]
        home = f"{base}{outlet.home}/"
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>{html.escape(feed.title)}</title><link>{home}</link>"
            f"<description>{html.escape(feed.title)}</description>{items}</channel></rss>"
        ).encode()

    def article_html(self, slug: str, base_url: str | None = None) -> bytes | None:
        """The page of `slug` as served now (furniture new at each call), None when gone."""
        with self._lock:
            story = self._stories.get(slug)
            n = next(self._requests)
            if story is None or not story.live:
                return None
            article, outlet = story.article, story.outlet
        base = self.base_url if base_url is None else base_url
        render = _wire_page if outlet.style == "wire" else _daily_page
        return render(article, outlet, base, n).encode()


def _rotated(items: tuple[str, ...], n: int) -> tuple[str, ...]:
    k = n % len(items)
    return items[k:] + items[:k]


def _links(outlet: Outlet, kind: str, titles: Iterable[str]) -> str:
    """A list of links to other stories: furniture."""
    return "".join(
        f'<li><a href="{outlet.home}/{outlet.section}/{kind}-{i}">{html.escape(t)}</a></li>'
        for i, t in enumerate(titles)
    )


def _daily_page(article: Article, outlet: Outlet, base_url: str, n: int) -> str:
    title, name, home = html.escape(article.title), html.escape(outlet.name), outlet.home
    published = article.published
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in article.paragraphs)
    most_read = _links(outlet, "most-read", _rotated(MOST_READ, n))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title} | {name}</title>
<link rel="canonical" href="{base_url}{outlet.path(article.slug)}">
<meta property="og:title" content="{title}">
<meta property="og:site_name" content="{name}">
<meta property="article:published_time" content="{published.isoformat()}">
<script>window.dataLayer = [{{"pageview": {n}}}];</script>
</head><body>
<header><nav><a href="{home}/">Home</a> <a href="{home}/technology">Technology</a>
<a href="{home}/world">World</a> <a href="{home}/sport">Sport</a></nav>
<div class="ticker">Updated {n % 59 + 1} minutes ago</div></header>
<div class="ad" id="ad-{n}">{html.escape(_rotated(ADS, n)[0])}</div>
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
<li><a href="{home}/{outlet.section}/related-{n}">More from our technology desk ({n})</a></li>
</ul></section>
</main>
<footer><p>© 2026 {name}. All rights reserved.</p>
<a href="{home}/privacy">Privacy</a> <a href="{home}/terms">Terms</a></footer>
</body></html>"""


def _wire_page(article: Article, outlet: Outlet, base_url: str, n: int) -> str:
    title, name, home = html.escape(article.title), html.escape(outlet.name), outlet.home
    published = article.published
    body = "\n".join(f'<p class="story-text">{html.escape(p)}</p>' for p in article.paragraphs)
    trending = _links(outlet, "trending", _rotated(TRENDING, n)[:4])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title} - {name}</title>
<link rel="canonical" href="{base_url}{outlet.path(article.slug)}">
<meta name="description" content="{html.escape(article.paragraphs[0][:150])}">
<meta property="article:published_time" content="{published.isoformat()}">
<script type="application/ld+json">{_publisher_json_ld(outlet.name)}</script>
</head><body>
<div id="cookie-banner" data-session="s{n:06d}">We use cookies to improve your experience.
<button>Accept</button></div>
<header class="masthead"><a href="{home}/">{name}</a>
<span class="markets">Live markets · refreshed {n % 50 + 2} seconds ago</span></header>
<div class="layout">
<div class="story">
<h1 class="headline">{title}</h1>
<div class="meta"><span class="byline">By {html.escape(article.byline)}</span> ·
<time datetime="{published.isoformat()}">{published:%B %d, %Y %H:%M} UTC</time></div>
<div class="share">Share: <a href="#">Email</a> <a href="#">Copy link</a></div>
{body}
<p class="trust">Our Standards: The {name} Trust Principles.</p>
</div>
<aside class="trending"><h3>Trending</h3><ul>{trending}</ul></aside>
</div>
<footer>All quotes delayed a minimum of 15 minutes. © {name} 2026.</footer>
</body></html>"""


def _publisher_json_ld(name: str) -> str:
    """The wire names itself the way many sites do: a JSON-LD article's publisher."""
    document = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "publisher": {"@type": "Organization", "name": name},
    }
    return json.dumps(document).replace("</", "<\\/")


# ---------------------------------------------------------------- the shipped seed articles


def seed_text(stem_prefix: str) -> str:
    """The text of the first shipped seed whose file name starts with `stem_prefix`."""
    return defaults.seed_text(stem_prefix)


def paragraphs_of(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())
