"""RSS/Atom feeds: bytes in, entries out (pure).

feedparser is always given bytes: given a string it would fetch URLs or open files by
itself. The DOCTYPE is cut out first, because feedparser's loose fallback parser expands
one large internal entity referenced many times (hundreds of MB from a 78 KiB feed).

Nothing but ParseError leaves `parse_feed`, whatever the bytes: a feed that could be read only
in part (not well-formed, mislabelled encoding) is returned with a one-line `warning`.
"""

from __future__ import annotations

import html
import io
import logging
import re
import xml.sax
from calendar import timegm
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.core.sources.feed_fast import RawEntry, parse_fast
from monitor.core.urls import canonicalize_url
from monitor.errors import ParseError

log = logging.getLogger(__name__)

_TAG = re.compile(r"<[^>]*>")
# C0 controls other than tab, newline and return: PostgreSQL refuses NUL in text columns.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DOCTYPE_OPEN = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_DOCTYPE_NAME_END = re.compile(rb"[>\[]")
_SUBSET_END = re.compile(rb"\]\s*>")
_ELEMENT = re.compile(rb"<\w")  # where feedparser's loose parser takes the root to start
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_WARNING_LENGTH = 300
# A declaration read as ASCII cannot be telling the truth about UTF-16 or UTF-32.
_WIDE_LABEL = re.compile(
    rb"""(\s*<\?xml[^>]{0,200}?encoding\s*=\s*["'])(utf-?(?:16|32)[^"']{0,10})(["'])""",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class FeedEntry:
    url: str  # canonical
    title: str
    published: datetime | None
    feed_title: str | None = None  # the feed's own title: the outlet, when a page names none


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    entries: tuple[FeedEntry, ...]
    skipped: int  # entries without a usable link
    # One line when the feed was read despite a fault (not well-formed, mislabelled
    # encoding): the operator sees it in `monitor sources`; None for a sound feed.
    warning: str | None = None


def strip_doctype(body: bytes) -> bytes:
    """Remove every DOCTYPE and internal subset: no entity of the feed is ever expanded.

    Cutting one out can splice a new one together (`<!DOC<!DOCTYPE x>TYPE rss [...]>`), and
    feedparser re-declares the entities of any DOCTYPE left before the root element, so the
    bytes either side of each cut are checked again. An unterminated DOCTYPE (a subset with no
    `]>`) is cut up to the first element, where a loose parser would read on. One pass, in
    time linear in the body: a regular expression that searched to the end for every
    `<!DOCTYPE [` took minutes over a few hundred KB of them.
    """
    return _DoctypeStripper(body).run()


class _DoctypeStripper:
    """strip_doctype's one pass; remembers which searches found nothing, not to repeat them."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.no_subset_end_from = len(body) + 1  # no `]>` at or after this offset
        self.no_name_end_from = len(body) + 1  # no `>` or `[` at or after this offset

    def run(self) -> bytes:
        body = self.body
        out = bytearray()
        pos = 0
        while (match := _DOCTYPE_OPEN.search(body, pos)) is not None:
            out += body[pos : match.start()]
            pos = self.end_of(match.end())
            while (joined := self.spliced(out, pos)) is not None:  # a DOCTYPE across the cut
                del out[joined[0] :]
                pos = self.end_of(joined[1])
        if pos == 0:
            return body
        out += body[pos:]
        return bytes(out)

    def spliced(self, out: bytearray, pos: int) -> tuple[int, int] | None:
        """(offset in out, offset in body past `<!DOCTYPE`) of one that the cut joined."""
        tail = bytes(out[-8:])
        match = _DOCTYPE_OPEN.search(tail + self.body[pos : pos + 9])
        if match is None or match.start() >= len(tail):
            return None
        return len(out) - len(tail) + match.start(), pos + match.end() - len(tail)

    def end_of(self, start: int) -> int:
        """The offset just past the DOCTYPE whose `<!DOCTYPE` ends at `start`."""
        mark = None
        if start < self.no_name_end_from:
            mark = _DOCTYPE_NAME_END.search(self.body, start)
            if mark is None:
                self.no_name_end_from = start
        if mark is not None and mark.group() == b">":
            return mark.end()
        if mark is not None and mark.end() < self.no_subset_end_from:
            close = _SUBSET_END.search(self.body, mark.end())
            if close is not None:
                return close.end()
            self.no_subset_end_from = mark.end()
        element = _ELEMENT.search(self.body, start)
        return element.start() if element is not None else len(self.body)


def parse_feed(body: bytes, base_url: str, *, fast: bool = True) -> ParsedFeed:
    """Parse an RSS or Atom document; a broken entry is skipped, a non-feed raises ParseError.

    Well-formed, plainly structured feeds take the fast path (feed_fast); everything else,
    and everything with `fast=False`, goes through feedparser.
    """
    body, fault = _relabel_wide_encoding(strip_doctype(body))
    quick = parse_fast(body) if fast else None
    if quick is not None:
        feed_title, raw = quick
    else:
        feed_title, raw, parser_fault = _parse_with_feedparser(body, base_url)
        fault = fault or parser_fault
    out: list[FeedEntry] = []
    seen: set[str] = set()
    skipped = 0
    outlet = plain_text(feed_title) or None
    for link, title, published in raw:
        item = _entry(link, title, published, base_url, outlet)
        if item is None:
            skipped += 1
        elif item.url not in seen:
            seen.add(item.url)
            out.append(item)
    warning = f"{fault}, {len(out)} entries read" if fault else None
    return ParsedFeed(title=outlet or "", entries=tuple(out), skipped=skipped, warning=warning)


def _parse_with_feedparser(body: bytes, base_url: str) -> tuple[str, list[RawEntry], str | None]:
    """(feed title, entries, what was wrong with the feed or None)."""
    repaired = _valid_char_refs(body)
    try:
        parsed: Any = feedparser.parse(
            io.BytesIO(repaired), response_headers={"content-location": base_url}
        )
    except Exception as exc:  # feedparser has its own bugs on broken input: one line, not a trace
        log.debug("feedparser failed", exc_info=True)
        raise ParseError(f"unreadable feed: the feed parser failed ({type(exc).__name__})") from exc
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
    fault = _fault(parsed.get("bozo_exception")) if parsed.get("bozo") else None
    if fault is None and repaired is not body:
        fault = "malformed feed: references to characters XML does not allow"
    return str(parsed.get("feed", {}).get("title") or ""), raw, fault


def _fault(exc: object) -> str | None:
    """What feedparser tolerated, in one line; None for what says nothing about the feed."""
    if exc is None or isinstance(exc, feedparser.NonXMLContentType):
        return None  # it is never told the Content-Type
    if isinstance(exc, xml.sax.SAXParseException):
        text = f"malformed feed: {exc.getMessage()} (line {exc.getLineNumber()})"
    elif isinstance(exc, feedparser.CharacterEncodingOverride):
        text = f"mislabelled encoding: {exc}"
    elif isinstance(exc, feedparser.CharacterEncodingUnknown):
        text = f"unknown encoding: {exc}"
    else:
        text = f"malformed feed: {exc or type(exc).__name__}"
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= _WARNING_LENGTH else text[: _WARNING_LENGTH - 1] + "…"


def _relabel_wide_encoding(body: bytes) -> tuple[bytes, str | None]:
    """A feed whose ASCII-readable declaration says UTF-16 or UTF-32 is really ASCII-based
    (UTF-8, as browsers assume): relabelled, or neither parser could read it at all."""
    match = _WIDE_LABEL.match(body)
    if match is None:
        return body, None
    label = match.group(2).decode("ascii", errors="replace")
    fixed = body[: match.start(2)] + b"utf-8" + body[match.end(2) :]
    return fixed, f"mislabelled encoding: document declared as {label}, but parsed as utf-8"


def _valid_char_refs(body: bytes) -> bytes:
    """Character references to what no XML character is (a surrogate, NUL, past U+10FFFF)
    become U+FFFD: feedparser's loose parser raises on them instead of reading on."""

    def fix(match: re.Match[bytes]) -> bytes:
        hex_digits, digits = match.groups()
        number = (hex_digits or digits).lstrip(b"0")
        if len(number) > 8:  # past U+10FFFF either way (and int() refuses 4,300 digits)
            return b"&#xFFFD;"
        value = int(number or b"0", 16 if hex_digits else 10)
        return match.group() if _xml_char(value) else b"&#xFFFD;"

    return _CHAR_REF.sub(fix, body) if b"&#" in body else body


def _xml_char(value: int) -> bool:
    return (
        value in (0x9, 0xA, 0xD)
        or 0x20 <= value <= 0xD7FF
        or 0xE000 <= value <= 0xFFFD
        or 0x10000 <= value <= 0x10FFFF
    )


def _what_it_is(body: bytes) -> str:
    head = body[:2048].lstrip().lower()
    if not head:
        return ": the body is empty"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return ": the server sent an HTML page"
    return ""


def _entry(
    link: object, title: str, published: datetime | None, base_url: str, feed_title: str | None
) -> FeedEntry | None:
    if not link or not isinstance(link, str):
        return None
    try:
        url = canonicalize_url(link.strip(), base=base_url)
    except ValueError:
        return None
    if not url.startswith(("http://", "https://")):
        return None
    return FeedEntry(url=url, title=plain_text(title), published=published, feed_title=feed_title)


def plain_text(fragment: str) -> str:
    """Feed titles are often HTML: tags dropped, entities decoded, whitespace folded."""
    if (
        fragment.isprintable()  # no control character; no whitespace but the plain space
        and "<" not in fragment
        and "&" not in fragment
        and "  " not in fragment
        and fragment[:1] != " "
        and fragment[-1:] != " "
    ):
        return fragment  # already plain (most titles): nothing to drop, decode or fold
    if "<" in fragment:
        fragment = _TAG.sub(" ", fragment)
    return " ".join(_CONTROL.sub(" ", html.unescape(fragment)).split())


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
