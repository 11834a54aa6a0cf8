"""Sitemap parsing against sample files with expected results (add a file, not code)."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.dates import as_utc, parse_date
from monitor.core.sources.sitemap import ParsedSitemap, parse_sitemap
from monitor.errors import ParseError


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 to the microsecond: the parsers' precision, which the CLI rounds away."""
    return None if value is None else as_utc(value).isoformat().replace("+00:00", "Z")


SITEMAPS = Path(__file__).parent / "data" / "sitemaps"
SAMPLES = sorted(p for p in SITEMAPS.iterdir() if not p.name.endswith(".expected.json"))
BASE_URL = "https://www.example.org/sitemap.xml"
NOW = datetime(2025, 1, 28, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(days=2)


def expected_for(sample: Path) -> Path:
    return sample.with_name(sample.name.split(".")[0] + ".expected.json")


def parse(body: bytes, **kwargs: int) -> ParsedSitemap:
    return parse_sitemap(body, BASE_URL, now=NOW, max_age=MAX_AGE, **kwargs)


def as_json(parsed: ParsedSitemap) -> dict[str, object]:
    return {
        "skipped": parsed.skipped,
        "sitemaps": list(parsed.sitemaps),
        "entries": [
            {"url": e.url, "title": e.title, "published": iso(e.published)} for e in parsed.entries
        ],
    }


def test_every_sample_has_expected_results() -> None:
    assert SAMPLES
    assert all(expected_for(sample).exists() for sample in SAMPLES)


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_sitemaps(sample: Path) -> None:
    expected = json.loads(expected_for(sample).read_text())
    assert as_json(parse(sample.read_bytes())) == expected


def test_gzipped_sample_is_really_gzipped() -> None:
    assert (SITEMAPS / "gzipped.xml.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_utf16_sitemap() -> None:
    text = (SITEMAPS / "no_namespace.xml").read_text().replace("UTF-8", "UTF-16")
    expected = json.loads(expected_for(SITEMAPS / "no_namespace.xml").read_text())
    assert as_json(parse(text.encode("utf-16"))) == expected


def test_byte_order_mark_and_leading_blank_lines_are_tolerated() -> None:
    body = b"\xef\xbb\xbf\n\n" + (SITEMAPS / "no_namespace.xml").read_bytes()
    assert len(parse(body).entries) == 3


def test_every_gzip_member_is_read() -> None:
    head, tail = b"<urlset><url><loc>https://x.org/a</loc></url>", b"</urlset>"
    body = gzip.compress(head, mtime=0) + gzip.compress(tail, mtime=0)
    assert [e.url for e in parse(body).entries] == ["https://x.org/a"]


def test_max_age_is_measured_from_now() -> None:
    body = b"<urlset><url><loc>https://x.org/a</loc><lastmod>2025-01-01</lastmod></url></urlset>"
    assert parse(body).entries == ()
    later = parse_sitemap(body, BASE_URL, now=NOW, max_age=timedelta(days=30))
    assert [e.url for e in later.entries] == ["https://x.org/a"]


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_sitemap(b"<urlset/>", BASE_URL, now=datetime(2025, 1, 28), max_age=MAX_AGE)


# --- what is not a sitemap ----------------------------------------------------------------


def one_line_error(body: bytes, **kwargs: int) -> str:
    with pytest.raises(ParseError) as caught:
        parse(body, **kwargs)
    message = str(caught.value)
    assert message and "\n" not in message
    return message


@pytest.mark.parametrize(
    "body",
    [
        b"<!doctype html><html><head><title>Not found</title></head><body><p>Gone<br></body>",
        b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
        b"\n  <HTML><BODY>Moved <a href=/x>here</a></BODY></HTML>",
    ],
    ids=["html5", "xhtml", "sloppy"],
)
def test_html_is_not_a_sitemap(body: bytes) -> None:
    assert one_line_error(body) == "not a sitemap: the server sent an HTML page"


def test_feed_is_not_a_sitemap() -> None:
    message = one_line_error(b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>')
    assert message.startswith("not a sitemap: the root element is <rss>")


@pytest.mark.parametrize("body", [b"", b" \r\n\t ", b"\xef\xbb\xbf", gzip.compress(b"")])
def test_empty_body_is_not_a_sitemap(body: bytes) -> None:
    assert one_line_error(body) == "not a sitemap: the body is empty"


def test_text_without_urls_is_not_a_sitemap() -> None:
    assert one_line_error(b"Service unavailable\nTry again later\n").startswith("not a sitemap")


@pytest.mark.parametrize(
    "body",
    [
        b"<urlset><url><loc>https://x.org/a</loc></url>",  # truncated
        b"<urlset><url><loc>https://x.org/a?b=1&c=2</loc></url></urlset>",  # bare ampersand
        b"<urlset><url><loc>https://x.org/&nbsp;</loc></url></urlset>",  # HTML entity
        b"<urlset><url></loc></url></urlset>",
    ],
)
def test_malformed_xml(body: bytes) -> None:
    message = one_line_error(body)
    assert message.startswith("malformed sitemap XML: ")
    assert "line 1, column" in message


def test_corrupt_and_truncated_gzip() -> None:
    whole = gzip.compress((SITEMAPS / "news.xml").read_bytes())
    assert "truncated" in one_line_error(whole[: len(whole) // 2])
    corrupt = whole[:10] + bytes(b ^ 0xFF for b in whole[10:40]) + whole[40:]
    assert one_line_error(corrupt).startswith("sitemap is not valid gzip")


def test_plain_body_over_the_cap() -> None:
    body = (SITEMAPS / "news.xml").read_bytes()
    assert one_line_error(body, max_bytes=1000) == "sitemap is larger than 1000 bytes"


# --- hostile input ------------------------------------------------------------------------


def gzip_bomb(head: bytes, filler: bytes, megabytes: int, tail: bytes) -> bytes:
    """A small gzip body that inflates to ``megabytes`` MiB of ``filler``."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = filler * ((1 << 20) // len(filler))
    parts = [compressor.compress(head)]
    parts += [compressor.compress(block) for _ in range(megabytes)]
    parts += [compressor.compress(tail), compressor.flush()]
    return b"".join(parts)


def refusal_and_peak_memory(body: bytes) -> tuple[str, int]:
    """The one-line ParseError message for ``body``, and the peak memory spent reaching it."""
    tracemalloc.start()
    try:
        message = one_line_error(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return message, peak


@pytest.mark.parametrize(
    ("head", "filler"),
    [
        (b'<?xml version="1.0"?><urlset>', b" "),  # XML: streamed into the parser
        (b"<urlset><url><loc>https://x.org/", b"a"),  # one endless URL
        (b"", b"\x00"),  # not XML: read as a text sitemap with one endless line
    ],
    ids=["whitespace", "endless-loc", "zeros"],
)
def test_gzip_bomb_is_refused_at_the_cap_without_being_held(head: bytes, filler: bytes) -> None:
    bomb = gzip_bomb(head, filler, 64, b"</urlset>")
    assert len(bomb) < 200_000
    message, peak = refusal_and_peak_memory(bomb)
    assert message == "sitemap inflates to more than 50000000 bytes"
    assert peak < 5_000_000  # inflated, 64 MiB


def test_gzip_bomb_cap_is_a_parameter() -> None:
    bomb = gzip_bomb(b"<urlset>", b" ", 2, b"</urlset>")
    assert parse(bomb).entries == ()
    assert one_line_error(bomb, max_bytes=1_000_000).endswith("more than 1000000 bytes")


def test_billion_laughs_is_refused_before_expansion() -> None:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    body = (
        f'<?xml version="1.0"?><!DOCTYPE urlset [{"".join(entities)}]>'
        "<urlset><url><loc>https://x.org/&lol9;</loc></url></urlset>"
    ).encode()
    message, peak = refusal_and_peak_memory(body)
    assert message == "refused sitemap: it declares XML entities"
    assert peak < 1_000_000


def test_large_entity_referenced_many_times_is_refused() -> None:
    body = (
        f'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY big "{"A" * 50_000}">]>'
        f"<urlset><url><loc>https://x.org/</loc><news:news><news:title>{'&big;' * 5_000}"
        "</news:title></news:news></url></urlset>"
    ).encode()
    message, peak = refusal_and_peak_memory(body)
    assert message == "refused sitemap: it declares XML entities"
    assert peak < 5_000_000  # expanded, it would be 250 MB


def test_external_entity_is_refused() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<urlset><url><loc>https://x.org/&xxe;</loc></url></urlset>"
    )
    assert one_line_error(body) == "refused sitemap: it declares XML entities"


def test_doctype_without_entities_is_harmless() -> None:
    body = b'<!DOCTYPE urlset SYSTEM "http://x.org/s.dtd"><urlset><url><loc>/a</loc></url></urlset>'
    assert [e.url for e in parse(body).entries] == ["https://www.example.org/a"]


# --- dates (W3C datetimes, read by monitor.core.dates.parse_date) ----------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025", datetime(2025, 1, 1, tzinfo=UTC)),
        ("2025-01", datetime(2025, 1, 1, tzinfo=UTC)),
        ("2025-01-28", datetime(2025, 1, 28, tzinfo=UTC)),
        ("2025-01-28T10:15+01:00", datetime(2025, 1, 28, 9, 15, tzinfo=UTC)),
        ("2025-01-28T10:15:30Z", datetime(2025, 1, 28, 10, 15, 30, tzinfo=UTC)),
        ("2025-01-28T10:15:30.5-05:00", datetime(2025, 1, 28, 15, 15, 30, 500000, tzinfo=UTC)),
        ("2025-01-28T10:15:30.123456789Z", datetime(2025, 1, 28, 10, 15, 30, 123456, tzinfo=UTC)),
        ("2025-01-28T10:15:30", datetime(2025, 1, 28, 10, 15, 30, tzinfo=UTC)),  # zone missing
        (" 2025-01-28 10:15:30 +0530 ", datetime(2025, 1, 28, 4, 45, 30, tzinfo=UTC)),
        ("Tue, 28 Jan 2025 10:15:30 GMT", datetime(2025, 1, 28, 10, 15, 30, tzinfo=UTC)),
    ],
)
def test_w3c_datetimes(text: str, expected: datetime) -> None:
    parsed = parse_date(text)
    assert parsed == expected
    assert parsed is not None and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2025-13-01", "2025-02-30", "2025-01-28T25:00Z", "0001-01-01"]
)
def test_unusable_datetimes(text: str) -> None:
    assert parse_date(text) is None


@given(st.text(max_size=40))
def test_any_text_parses_to_utc_or_none(text: str) -> None:
    parsed = parse_date(text)
    assert parsed is None or parsed.tzinfo is UTC


@given(
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_iso_datetimes_round_trip(moment: datetime, offset_minutes: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    assert parse_date(aware.isoformat()) == aware
