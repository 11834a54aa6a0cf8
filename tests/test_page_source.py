"""Listing pages (section fronts) against sample pages with expected results.

Each ``tests/data/listings/NAME[.CASE].expected.json`` names the source settings to apply to
``NAME.html`` and the entries they must yield: a new case is a file, not code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.core.sources.page import ParsedListing, compile_pattern, parse_listing

LISTINGS = Path(__file__).parent / "data" / "listings"
CASES = sorted(LISTINGS.glob("*.expected.json"))


def parse(html: str, links: str = "a", **patterns: str) -> ParsedListing:
    return parse_listing(html, "https://news.example/section/", links=links, **patterns)


def urls(parsed: ParsedListing) -> list[str]:
    return [e.url for e in parsed.entries]


@pytest.mark.parametrize("case", CASES, ids=[p.name.removesuffix(".expected.json") for p in CASES])
def test_sample_listings(case: Path) -> None:
    expected = json.loads(case.read_text())
    source = expected["source"]
    html = (LISTINGS / (case.name.split(".")[0] + ".html")).read_text()
    parsed = parse_listing(
        html,
        source["base_url"],
        links=source["links"],
        include=source["include"],
        exclude=source["exclude"],
    )
    assert parsed.skipped == expected["skipped"]
    assert [{"url": e.url, "title": e.title} for e in parsed.entries] == expected["entries"]
    assert all(e.published is None for e in parsed.entries)


def test_relative_links_resolve_against_base_href() -> None:
    html = '<base href="https://cdn.news.example/mirror/"><h3><a href="story-1">One</a></h3>'
    assert urls(parse(html, "h3 a")) == ["https://cdn.news.example/mirror/story-1"]


def test_tracking_variants_and_fragments_are_one_entry() -> None:
    html = (
        '<a href="/a?utm_source=x">First</a> <a href="/a#comments">3 comments</a>'
        '<a href="https://NEWS.example:443/a">Again</a>'
    )
    parsed = parse(html)
    assert [(e.url, e.title) for e in parsed.entries] == [("https://news.example/a", "First")]
    assert parsed.skipped == 0


def test_link_text_beats_image_alt_for_the_same_url() -> None:
    html = (
        '<a href="/a"><img src="/a.jpg" alt="A photo"></a>'
        '<a href="/a">The <b>real</b>\n   headline</a>'
        '<a href="/b"><img src="/b.jpg" alt="Only a photo"></a>'
        '<a href="/c"></a>'
    )
    titles = [(e.url.rsplit("/", 1)[1], e.title) for e in parse(html).entries]
    assert titles == [("a", "The real headline"), ("b", "Only a photo"), ("c", "")]


def test_non_http_links_are_ignored() -> None:
    html = '<a href="mailto:x@news.example">Mail</a><a href="javascript:go()">Go</a>'
    html += '<a href="#">Top</a><a href="ftp://news.example/a">FTP</a>'
    assert parse(html) == ParsedListing(entries=(), skipped=0)


def test_include_and_exclude_search_the_canonical_url() -> None:
    html = '<a href="/news/1">1</a><a href="/NEWS/2?utm_source=x">2</a><a href="/video/3">3</a>'
    assert urls(parse(html, include=r"/news/")) == ["https://news.example/news/1"]
    assert urls(parse(html, include=r"(?i)/news/")) == [
        "https://news.example/news/1",
        "https://news.example/NEWS/2",
    ]
    assert urls(parse(html, exclude=r"utm_|/video/")) == [
        "https://news.example/news/1",
        "https://news.example/NEWS/2",
    ]
    assert parse(html, include="news", exclude=r"\d$").skipped == 3


def test_no_match_is_an_empty_listing() -> None:
    assert parse("<p>Redesigned!</p>", "h3.headline a") == ParsedListing(entries=(), skipped=0)


def test_deeply_nested_page_is_cut_not_choked_on() -> None:
    html = '<a href="/top">Top</a>' + "<div>" * 100_000 + '<a href="/deep">x</a>'
    assert urls(parse(html)) == ["https://news.example/top"]


def test_compile_pattern() -> None:
    assert compile_pattern(r"/\d{4}/").search("https://x.org/2025/a")
    with pytest.raises(ValueError, match=r"^invalid regular expression '/\(news': ") as caught:
        compile_pattern("/(news")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"include": "[a-"}, "invalid regular expression"),
        ({"exclude": "*x"}, "invalid regular expression"),
        ({"links": "h3 >> a"}, "invalid CSS selector"),
    ],
)
def test_invalid_settings_raise_value_error(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse("<a href='/a'>a</a>", **settings)
