"""RSS/Atom feeds: bytes in, entries out (pure).

feedparser is always given bytes: given a string it would fetch URLs or open files by
itself. The DOCTYPE is cut out first, because feedparser's loose fallback parser expands
one large internal entity referenced many times (hundreds of MB from a 78 KiB feed).
"""

from __future__ import annotations

import html
import io
import logging
import re
from calendar import timegm
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.errors import ParseError
from monitor.sources.feed_fast import RawEntry, parse_fast
from monitor.urls import canonicalize_url

log = logging.getLogger(__name__)

_TAG = re.compile(r"<[^>]*>")
_DOCTYPE = re.compile(rb"<!DOCTYPE[^>\[]*(\[.*?\])?\s*>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class FeedEntry:
    url: str  # canonical
    title: str
    published: datetime | None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    entries: tuple[FeedEntry, ...]
    skipped: int  # entries without a usable link


def strip_doctype(body: bytes) -> bytes:
    """Remove every DOCTYPE and internal subset: no entity of the feed is ever expanded.

    Repeated until nothing changes, because cutting one out can splice a new one together
    (`<!DOC<!DOCTYPE x>TYPE rss [...]>`), and feedparser re-declares the entities of any
    DOCTYPE left before the root element.
    """
    while (stripped := _DOCTYPE.sub(b"", body)) != body:
        body = stripped
    return body


def parse_feed(body: bytes, base_url: str, *, fast: bool = True) -> ParsedFeed:
    """Parse an RSS or Atom document; a broken entry is skipped, a non-feed raises ParseError.

    Well-formed, plainly structured feeds take the fast path (feed_fast); everything else,
    and everything with `fast=False`, goes through feedparser.
    """
    body = strip_doctype(body)
    quick = parse_fast(body) if fast else None
    if quick is not None:
        feed_title, raw = quick
    else:
        feed_title, raw = _parse_with_feedparser(body, base_url)
    out: list[FeedEntry] = []
    seen: set[str] = set()
    skipped = 0
    for link, title, published in raw:
        item = _entry(link, title, published, base_url)
        if item is None:
            skipped += 1
        elif item.url not in seen:
            seen.add(item.url)
            out.append(item)
    return ParsedFeed(title=plain_text(feed_title), entries=tuple(out), skipped=skipped)


def _parse_with_feedparser(body: bytes, base_url: str) -> tuple[str, list[RawEntry]]:
    parsed: Any = feedparser.parse(
        io.BytesIO(body), response_headers={"content-location": base_url}
    )
    version = parsed.get("version") or ""
    entries = parsed.get("entries") or []
    if not version and not entries:
        raise ParseError(f"not an RSS or Atom feed{_what_it_is(body)}")
    raw: list[RawEntry] = [
        (
            entry.get("link") or _alternate_link(entry),
            str(entry.get("title") or ""),
            _entry_time(entry),
        )
        for entry in entries
    ]
    return str(parsed.get("feed", {}).get("title") or ""), raw


def _what_it_is(body: bytes) -> str:
    head = body[:2048].lstrip().lower()
    if not head:
        return ": the body is empty"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return ": the server sent an HTML page"
    return ""


def _entry(link: object, title: str, published: datetime | None, base_url: str) -> FeedEntry | None:
    if not link or not isinstance(link, str):
        return None
    try:
        url = canonicalize_url(link.strip(), base=base_url)
    except ValueError:
        return None
    if not url.startswith(("http://", "https://")):
        return None
    return FeedEntry(url=url, title=plain_text(title), published=published)


def plain_text(fragment: str) -> str:
    """Feed titles are often HTML: tags dropped, entities decoded, whitespace folded."""
    if "<" in fragment:
        fragment = _TAG.sub(" ", fragment)
    return " ".join(html.unescape(fragment).split())


def _alternate_link(entry: Any) -> str | None:
    for link in entry.get("links") or []:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return str(link["href"])
    return None


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed"):
        value = dict.get(entry, key)  # plain dict access: feedparser's alias map warns
        if value:
            try:
                return datetime.fromtimestamp(timegm(value), tz=UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None
