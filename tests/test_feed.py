"""Feed parsing against sample files with expected results (add a file, not code)."""

from __future__ import annotations

import json
import tracemalloc
from datetime import datetime
from pathlib import Path

import pytest

from monitor.core.dates import as_utc
from monitor.core.sources.feed import parse_feed
from monitor.errors import ParseError


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 to the microsecond: the parsers' precision, which the CLI rounds away."""
    return None if value is None else as_utc(value).isoformat().replace("+00:00", "Z")


FEEDS = Path(__file__).parent / "data" / "feeds"
SAMPLES = sorted(p for p in FEEDS.glob("*.xml") if p.with_suffix(".expected.json").exists())


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "feedparser"])
@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_sample_feeds(sample: Path, fast: bool) -> None:
    """Both parsers read every sample alike: the fast path is only a shortcut."""
    expected = json.loads(sample.with_suffix(".expected.json").read_text())
    parsed = parse_feed(sample.read_bytes(), "https://example.org/feed.xml", fast=fast)
    assert parsed.title == expected["title"]
    assert parsed.skipped == expected["skipped"]
    got = [{"url": e.url, "title": e.title, "published": iso(e.published)} for e in parsed.entries]
    assert got == expected["entries"]


def test_html_is_not_a_feed() -> None:
    with pytest.raises(ParseError, match="not an RSS or Atom feed: the server sent an HTML page"):
        parse_feed(b"<!DOCTYPE html><html><body><p>Hello</p></body></html>", "https://x.org/")


def test_empty_body_is_not_a_feed() -> None:
    with pytest.raises(ParseError):
        parse_feed(b"", "https://x.org/")


def test_large_entity_referenced_many_times_is_not_expanded() -> None:
    entity = "A" * 50_000
    refs = "&big;" * 5_000
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY big "{entity}">]>'
        f'<rss version="2.0"><channel><title>t</title><item><title>{refs}</title>'
        "<link>https://x.org/a</link></item></channel></rss>"
    ).encode()
    tracemalloc.start()
    try:
        parsed = parse_feed(body, "https://x.org/")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000  # expanded, it would be 250 MB
    assert [e.url for e in parsed.entries] == ["https://x.org/a"]


def test_billion_laughs_is_not_expanded() -> None:
    lol = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{"&lol" + str(i - 1) + ";" * 1}' + f'{("&lol" + str(i - 1) + ";") * 9}">'
        for i in range(1, 10)
    ]
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [{"".join(lol)}]>'
        '<rss version="2.0"><channel><title>&lol9;</title><item><title>x</title>'
        "<link>https://x.org/b</link></item></channel></rss>"
    ).encode()
    parsed = parse_feed(body, "https://x.org/")
    assert len(parsed.title) < 1000
    assert [e.url for e in parsed.entries] == ["https://x.org/b"]
