"""XML sitemaps (sitemaps.org, Google News): bytes in, entries out (pure).

The body is read with expat, which is incremental: a gzipped sitemap is inflated in small
pieces straight into the parser, and never beyond ``max_bytes`` in total, so a gzip bomb
costs a few hundred kilobytes before it is refused. A sitemap that declares entities is
refused before any of them can be expanded. Element names are matched by their local
part: sitemaps in the wild use the standard namespace, none, or a wrong one. A declared
encoding expat cannot read (multi-byte, or unknown: `encoding="bogus"`) is decoded here
instead, as that codec when Python has it, else as UTF-8; nothing but ParseError leaves.

A body that does not start with ``<`` is read as a plain-text sitemap: one URL a line.
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from typing import NoReturn
from xml.parsers import expat

from monitor.core.dates import parse_date
from monitor.core.sources.feed import FeedEntry, plain_text
from monitor.core.urls import canonicalize_url
from monitor.errors import ParseError

__all__ = ["ParsedSitemap", "parse_sitemap"]

_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"
_XML_ENCODING = re.compile(rb"""\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([^"'>]{1,40})["']""")
_CHUNK = 1 << 16  # inflated bytes handed to the parser at a time
_MAX_FIELD = 1 << 16  # longer URLs, titles, dates or text lines are garbage: treated as absent
_HTML = re.compile(rb"<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.IGNORECASE)

# What is read from each <url> / <sitemap>, by path below it (local names, lower case).
_LOC, _LASTMOD = ("loc",), ("lastmod",)
_NEWS_TITLE, _NEWS_DATE = ("news", "title"), ("news", "publication_date")
_FIELDS = {_LOC, _LASTMOD, _NEWS_TITLE, _NEWS_DATE}
_ITEM = {"urlset": "url", "sitemapindex": "sitemap"}


@dataclass(frozen=True, slots=True)
class ParsedSitemap:
    entries: tuple[FeedEntry, ...]  # from a <urlset> or a text sitemap
    sitemaps: tuple[str, ...]  # from a <sitemapindex>: child sitemaps to fetch next
    skipped: int  # <url>/<sitemap> elements or text lines without a usable http(s) URL


def parse_sitemap(
    body: bytes,
    base_url: str,
    *,
    now: datetime,
    max_age: timedelta,
    max_bytes: int = 50_000_000,
) -> ParsedSitemap:
    """Parse a sitemap or sitemap index, gzipped or not; raise ParseError if it is neither.

    Entries and child sitemaps dated before ``now - max_age`` (news publication date, else
    ``lastmod``) are left out; undated ones are kept. ``max_bytes`` caps the inflated size.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    cutoff = now - max_age
    first, rest = _skip_blank_start(_inflate(body, max_bytes))
    if first.startswith((b"<", b"\xff\xfe", b"\xfe\xff")):
        return _read_xml(chain([first], rest), base_url, cutoff)
    return _read_text(chain([first], rest), base_url)


# --- bytes ---------------------------------------------------------------------------------


def _inflate(body: bytes, max_bytes: int) -> Iterator[bytes]:
    """The document in pieces: gunzipped (every member) if the body starts like gzip."""
    if not body.startswith(_GZIP_MAGIC):
        if len(body) > max_bytes:
            raise ParseError(f"sitemap is larger than {max_bytes} bytes")
        yield body
        return
    total = 0
    data = body
    while data.startswith(_GZIP_MAGIC):  # anything after the last member is ignored
        inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        while not inflater.eof:
            try:
                piece = inflater.decompress(data, _CHUNK)
            except zlib.error as exc:
                raise ParseError(f"sitemap is not valid gzip: {exc}") from None
            data = inflater.unconsumed_tail
            total += len(piece)
            if total > max_bytes:
                raise ParseError(f"sitemap inflates to more than {max_bytes} bytes")
            if not piece and not data and not inflater.eof:
                raise ParseError("sitemap gzip stream is truncated")
            if piece:
                yield piece
        data = inflater.unused_data


def _skip_blank_start(pieces: Iterator[bytes]) -> tuple[bytes, Iterator[bytes]]:
    """The first piece with content, a byte-order mark and leading whitespace cut off.

    Whitespace before the XML declaration is a fatal error to XML parsers and a common slip
    of sitemap generators (a blank line printed by a PHP include).
    """
    start = True
    for piece in pieces:
        if start:
            piece, start = piece.removeprefix(_UTF8_BOM), False
        if piece.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16: expat decodes it
            return piece, pieces
        piece = piece.lstrip()
        if piece:
            return piece, pieces
    raise ParseError("not a sitemap: the body is empty")


# --- XML -----------------------------------------------------------------------------------


class _Reader:
    """expat callbacks that collect <url> and <sitemap> items into a ParsedSitemap."""

    def __init__(self, base_url: str, cutoff: datetime) -> None:
        self.base_url = base_url
        self.cutoff = cutoff
        self.root: str | None = None
        self.stack: list[str] = []  # local names of the open elements
        self.item: dict[tuple[str, ...], str] | None = None
        self.text: list[str] | None = None  # character data of the field being read
        self.size = 0  # characters in self.text
        self.entries: dict[str, FeedEntry] = {}
        self.sitemaps: dict[str, None] = {}
        self.skipped = 0

    def start(self, name: str, attributes: object) -> None:
        local = name.rpartition(":")[2].lower()
        if self.root is None:
            self.root = local
            if local not in _ITEM:
                raise ParseError(_not_a_sitemap(local))
        self.stack.append(local)
        if len(self.stack) == 2 and local == _ITEM[self.root]:
            self.item = {}
        elif self.item is not None and tuple(self.stack[2:]) in _FIELDS:
            self.text, self.size = [], 0

    def characters(self, data: str) -> None:
        if self.text is None or self.item is None:
            return
        self.text.append(data)
        self.size += len(data)
        if self.size > _MAX_FIELD:
            self.item.setdefault(tuple(self.stack[2:]), "")
            self.text = None

    def end(self, name: str) -> None:
        if self.item is not None and self.text is not None:
            self.item.setdefault(tuple(self.stack[2:]), "".join(self.text).strip())
            self.text = None
        elif self.item is not None and len(self.stack) == 2:
            self._finish(self.item)
            self.item = None
        self.stack.pop()

    def _finish(self, item: dict[tuple[str, ...], str]) -> None:
        url = _http_url(item.get(_LOC, ""), self.base_url)
        if url is None:
            self.skipped += 1
            return
        dated = item.get(_NEWS_DATE) or item.get(_LASTMOD)
        published = parse_date(dated)  # W3C datetimes are ISO 8601; some write RFC 2822
        if published is not None and published < self.cutoff:
            return
        if self.root == "sitemapindex":
            self.sitemaps.setdefault(url)
        elif url not in self.entries:
            title = plain_text(item.get(_NEWS_TITLE, ""))
            self.entries[url] = FeedEntry(url=url, title=title, published=published)

    def result(self) -> ParsedSitemap:
        return ParsedSitemap(
            entries=tuple(self.entries.values()),
            sitemaps=tuple(self.sitemaps),
            skipped=self.skipped,
        )


def _read_xml(pieces: Iterable[bytes], base_url: str, cutoff: datetime) -> ParsedSitemap:
    reader = _Reader(base_url, cutoff)
    parser = _parser(reader, None)
    rest = iter(pieces)
    head = b""
    try:
        first = next(rest, b"")
        head = first[:1024]
        try:
            parser.Parse(first, False)
        except (LookupError, ValueError):  # the declared encoding is one expat cannot read
            reader = _Reader(base_url, cutoff)
            parser = _parser(reader, "utf-8")
            rest = _as_utf8(chain([first], rest), _declared_encoding(head))
        for piece in rest:
            parser.Parse(piece, False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        if reader.root is None and _HTML.search(head):
            raise ParseError(_not_a_sitemap("html")) from None
        raise ParseError(f"malformed sitemap XML: {exc}") from None
    return reader.result()


def _parser(reader: _Reader, encoding: str | None) -> expat.XMLParserType:
    """An expat parser feeding `reader`, refusing entities; `encoding` overrides the document's."""
    parser = expat.ParserCreate(encoding)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.EntityDeclHandler = _refuse_entities
    parser.UnparsedEntityDeclHandler = _refuse_entities
    parser.ExternalEntityRefHandler = _refuse_entities
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.characters
    parser.buffer_text = True  # one callback per text run, not one per line
    return parser


def _declared_encoding(head: bytes) -> str:
    """The text codec the XML declaration names, if Python has it; else UTF-8."""
    match = _XML_ENCODING.match(head)
    label = match.group(1).decode("ascii", errors="replace").strip() if match else ""
    try:
        b"a".decode(label)  # LookupError for unknown names and for zlib, base64 & co.
    except (LookupError, ValueError):
        return "utf-8"
    return label


def _as_utf8(pieces: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """The pieces decoded from `encoding` (undecodable bytes replaced) and encoded as UTF-8."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    for piece in pieces:
        yield decoder.decode(piece).encode("utf-8", errors="replace")
    yield decoder.decode(b"", final=True).encode("utf-8", errors="replace")


def _refuse_entities(*_: object) -> NoReturn:
    raise ParseError("refused sitemap: it declares XML entities")


def _not_a_sitemap(root: str) -> str:
    if root == "html":
        return "not a sitemap: the server sent an HTML page"
    return f"not a sitemap: the root element is <{root}>, not <urlset> or <sitemapindex>"


# --- text ----------------------------------------------------------------------------------


def _read_text(pieces: Iterable[bytes], base_url: str) -> ParsedSitemap:
    entries: dict[str, FeedEntry] = {}
    skipped = 0
    for line in _lines(pieces):
        url = _http_url(line, base_url) if line.startswith(("http://", "https://")) else None
        if url is None:
            skipped += bool(line)
        else:
            entries.setdefault(url, FeedEntry(url=url, title="", published=None))
    if not entries and skipped:
        raise ParseError("not a sitemap: neither XML nor a list of URLs")
    return ParsedSitemap(entries=tuple(entries.values()), sitemaps=(), skipped=skipped)


def _lines(pieces: Iterable[bytes]) -> Iterator[str]:
    """Stripped lines; an overlong one (a bomb of zeros, say) is cut short, never a URL."""
    pending = bytearray()
    overlong = False
    for piece in pieces:
        pending += piece
        end = pending.rfind(b"\n")
        if end >= 0:
            complete = bytes(pending[:end]).split(b"\n")
            del pending[: end + 1]
            if overlong:
                complete[0], overlong = b"(overlong line)", False
            yield from (line.decode("utf-8", errors="replace").strip() for line in complete)
        if len(pending) > _MAX_FIELD:
            del pending[_MAX_FIELD:]
            overlong = True
    yield "(overlong line)" if overlong else pending.decode("utf-8", errors="replace").strip()


def _http_url(text: str, base_url: str) -> str | None:
    if not text:
        return None
    try:
        url = canonicalize_url(text, base=base_url)
    except ValueError:
        return None
    return url if url.startswith(("http://", "https://")) else None
