"""A simulated newsroom for tests: feeds and article pages a test edits between polls.

Pages carry realistic furniture that changes on every request (a rotating "Most read"
list, "Updated N minutes ago", a rotating ad), so change detection is tested against
the noise real sites produce.
"""

from __future__ import annotations

import html
import itertools
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from tests.support.webserver import Response, WebServer

SEEDS_DIR = Path(__file__).resolve().parents[2] / "config" / "seeds"

MOST_READ = [
    "Local council approves new cycle lanes",
    "Five recipes for a rainy weekend",
    "Transfer window: the deals that matter",
    "Why the housing market cooled this autumn",
    "A guide to the best autumn walks",
    "Storm warning issued for the coast",
]
ADS = ["Subscribe for $1 a week", "Try our puzzles app", "Listen to the morning podcast"]


@dataclass(frozen=True)
class NewsArticle:
    slug: str
    title: str
    paragraphs: tuple[str, ...]
    byline: str = "Staff reporter"
    published: datetime = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@dataclass
class Newsroom:
    """Articles by slug and which feed lists which links (a link may carry tracking)."""

    articles: dict[str, NewsArticle] = field(default_factory=dict)
    feeds: dict[str, list[str]] = field(default_factory=dict)
    _requests: itertools.count[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: WebServer | None = None

    def serve(self, server: WebServer) -> None:
        """Answer on `server`: /feeds/NAME.xml and /news/SLUG, as they are at each request."""
        self._server = server
        for feed in list(self.feeds):
            self._route_feed(feed)
        for slug in list(self.articles):
            self._route_article(slug)

    def _route_feed(self, feed: str) -> None:
        server = self._server
        if server is not None:
            server.route(
                f"/feeds/{feed}.xml",
                handler=lambda _request: Response(
                    body=self.feed_xml(feed, server.base_url),
                    headers={"Content-Type": "application/rss+xml; charset=utf-8"},
                ),
            )

    def _route_article(self, slug: str) -> None:
        server = self._server
        if server is not None:
            server.route(f"/news/{slug}", handler=lambda _request: self._article_response(slug))

    def _article_response(self, slug: str) -> Response:
        assert self._server is not None
        page = self.article_html(slug, self._server.base_url)
        if page is None:
            return Response(status=404, body=b"gone")
        return Response(body=page, headers={"Content-Type": "text/html; charset=utf-8"})

    def publish(self, article: NewsArticle, *feeds: str, link_suffix: str = "") -> None:
        with self._lock:
            self.articles[article.slug] = article
            for feed in feeds:
                self.feeds.setdefault(feed, []).append(f"/news/{article.slug}{link_suffix}")
        self._route_article(article.slug)
        for feed in feeds:
            self._route_feed(feed)

    def list_link(self, feed: str, link: str) -> None:
        with self._lock:
            self.feeds.setdefault(feed, []).append(link)
        self._route_feed(feed)

    def edit(self, slug: str, **changes: object) -> NewsArticle:
        with self._lock:
            edited = replace(self.articles[slug], **changes)  # type: ignore[arg-type]
            self.articles[slug] = edited
            return edited

    def feed_xml(self, feed: str, base_url: str) -> bytes:
        with self._lock:
            links = list(self.feeds.get(feed, []))
            articles = dict(self.articles)
        items = []
        for link in links:
            slug = next((slug for slug in articles if f"/{slug}" in link), None)
            article = articles[slug] if slug else NewsArticle(slug="", title=link, paragraphs=())
            items.append(
                "<item>"
                f"<title>{html.escape(article.title)}</title>"
                f"<link>{html.escape(base_url + link)}</link>"
                f"<guid>{html.escape(base_url + link)}</guid>"
                f"<pubDate>{format_datetime(article.published)}</pubDate>"
                "</item>"
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>The Daily Test: {feed}</title><link>{base_url}/</link>"
            f"<description>Test feed</description>{''.join(items)}</channel></rss>"
        ).encode()

    def article_html(self, slug: str, base_url: str) -> bytes | None:
        with self._lock:
            article = self.articles.get(slug)
            n = next(self._requests)
        if article is None:
            return None
        most_read = MOST_READ[n % len(MOST_READ) :] + MOST_READ[: n % len(MOST_READ)]
        body = "\n".join(f"<p>{html.escape(p)}</p>" for p in article.paragraphs)
        items = "".join(
            f'<li><a href="/news/other-{i}">{html.escape(t)}</a></li>'
            for i, t in enumerate(most_read)
        )
        canonical = f"{base_url}/news/{article.slug}"
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(article.title)} | The Daily Test</title>
<link rel="canonical" href="{canonical}">
<meta property="og:title" content="{html.escape(article.title)}">
<meta property="article:published_time" content="{article.published.isoformat()}">
</head><body>
<header><nav><a href="/">Home</a> <a href="/tech">Tech</a> <a href="/world">World</a>
<a href="/sport">Sport</a></nav><div class="ticker">Updated {n % 59 + 1} minutes ago</div></header>
<div class="ad">{ADS[n % len(ADS)]}</div>
<main><article>
<h1>{html.escape(article.title)}</h1>
<p class="byline">By <span class="author">{html.escape(article.byline)}</span></p>
<time datetime="{article.published.isoformat()}">{article.published:%d %B %Y}</time>
<div class="article-body">
{body}
</div>
</article>
<aside class="most-read"><h2>Most read</h2><ol>{items}</ol></aside>
<section class="related"><h2>Related stories</h2><ul>
<li><a href="/news/related-{n}">More from our technology desk ({n})</a></li></ul></section>
</main>
<footer><p>© 2026 The Daily Test. All rights reserved.</p>
<a href="/privacy">Privacy</a> <a href="/terms">Terms</a></footer>
</body></html>""".encode()


def seed_text(stem_prefix: str) -> str:
    for path in sorted(SEEDS_DIR.glob("*.txt")):
        if path.stem.startswith(stem_prefix):
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(stem_prefix)


def paragraphs_of(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())
