"""extract_article / extract_links on realistic pages: what a reader would see, nothing else."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.encoding import decode_html
from monitor.core.extract import (
    EMPTY_ARTICLE,
    Article,
    check_selector,
    extract_article,
    extract_links,
)

PAGES = Path(__file__).parent / "data" / "pages"
HERALD_URL = (
    "https://www.coastalherald.example/news/local/2024/03/14/harbour-flood-barrier-approved"
)


def page(name: str) -> str:
    return decode_html((PAGES / name).read_bytes())


def paragraphs(article: Article) -> list[str]:
    return article.text.split("\n\n")


def assert_well_formed(text: str) -> None:
    """Paragraphs separated by one blank line, single spaces inside, no stray whitespace."""
    for paragraph in text.split("\n\n"):
        assert paragraph, "empty paragraph"
        assert paragraph == " ".join(paragraph.split()), repr(paragraph)


def assert_absent(text: str, furniture: list[str]) -> None:
    for phrase in furniture:
        assert phrase not in text, f"page furniture leaked into text: {phrase!r}"


# --- a typical news page --------------------------------------------------------------------

HERALD_PARAGRAPHS = [
    "Councillors voted 31 to 9 to fund the tidal barrier, ending years of argument over who "
    "should pay.",
    "The harbour town will get a tidal flood barrier after councillors voted on Wednesday night "
    "to commit £48m to a scheme first proposed in 2013.",
    "“This is the most important vote this chamber has taken in a generation,” said the council "
    "leader, Margaret Hale. “Every winter we have asked families on the lower streets to sleep "
    "with sandbags at the door. That ends now.”",
    "The barrier, a pair of steel gates that can be swung shut across the harbour mouth in about "
    "forty minutes, will be built by a consortium led by Northwall Civil Engineering. Work is "
    "expected to begin in the autumn and to take three years.",
    "What happens next",
    "Hale said the council would publish quarterly cost reports. “If we are asking people to "
    "trust us with this money, they should be able to see where every pound goes,” she said.",
]
HERALD_FURNITURE = [
    "We use cookies",  # cookie banner
    "Accept all",
    "Puzzles and crosswords",  # header navigation
    "Search the Herald",
    "Subscribe from £1 a week",
    "Advertisement",  # ad slots
    "Dunmore Furnishings",
    "BrightSpark Energy",
    "cheap flights to Lisbon",
    "Read more",  # inline related links
    "Storm surge closes quay",
    "Share on Facebook",  # share tools
    "Updated 7 minutes ago",
    "Most read",  # sidebar
    "Lifeboat crew rescues two kayakers",
    "Related stories",
    "Insurance premiums soar",
    "Comments (48)",  # comments
    "SaltyDog77",
    "My mother’s house has flooded",
    "Show more comments",
    "Sign up to Morning Briefing",  # newsletter box
    "Registered in England and Wales",  # footer
    "Privacy policy",
    "dataLayer",  # scripts
]


def test_news_page_metadata() -> None:
    article = extract_article(page("news_article.html"), HERALD_URL)
    assert article.title == "Harbour council approves £48m flood barrier after decade of delays"
    assert article.byline == "Priya Natarajan, Tom Ellery"
    assert article.published == datetime(2024, 3, 14, 9, 30, tzinfo=UTC)
    # rel=canonical is relative in the page and wins over og:url (which carries a utm tag).
    assert article.canonical_url == HERALD_URL


def test_news_page_text_is_the_article_and_only_the_article() -> None:
    article = extract_article(page("news_article.html"), HERALD_URL)
    found = paragraphs(article)
    for expected in HERALD_PARAGRAPHS:
        assert expected in found
    assert found[0] == HERALD_PARAGRAPHS[0], "the headline is not repeated as the first paragraph"
    assert found[-1] == HERALD_PARAGRAPHS[-1]
    assert len(found) == 10
    assert_absent(article.text, HERALD_FURNITURE)
    assert_well_formed(article.text)


def test_rerendered_page_with_rotating_furniture_gives_identical_article() -> None:
    """Change detection compares Article.text: sidebars, ads and 'updated' labels must not leak."""
    first = page("news_article.html")
    second = page("news_article_rerender.html")
    assert "Updated 42 minutes ago" in second
    assert "Fire crews tackle blaze" in second
    assert first != second
    assert extract_article(first, HERALD_URL) == extract_article(second, HERALD_URL)


def test_extraction_is_deterministic() -> None:
    html = page("news_article.html")
    assert len({extract_article(html, HERALD_URL) for _ in range(3)}) == 1


# --- JSON-LD variants -----------------------------------------------------------------------


def test_wordpress_json_ld_graph_with_author_references() -> None:
    url = "https://westbridgedaily.example/2024/05/02/minister-resigns-cash-for-visas/"
    article = extract_article(page("jsonld_graph.html"), url)
    # The headline's HTML entities are decoded; the people are resolved through their @id.
    assert article.title == "Immigration minister resigns over ‘cash for visas’ claims"
    assert article.byline == "Helen Achterberg, Marcus Obi"
    assert article.published == datetime(2024, 5, 2, 6, 15, tzinfo=UTC)
    assert article.canonical_url == url
    assert paragraphs(article)[0].startswith("The immigration minister, Carl Lindqvist, resigned")
    assert paragraphs(article)[-1].endswith("said its home affairs spokesperson, Ana Ribeiro.")
    assert len(paragraphs(article)) == 4
    furniture = ["Skip to content", "Posted 3 hours ago", "Share this", "Visa backlog hits",
                 "Good riddance", "Leave a Reply", "Recent Posts", "Budget vote delayed",
                 "Proudly powered by WordPress"]  # fmt: skip
    assert_absent(article.text, furniture)


def test_json_ld_list_with_cdata_after_a_malformed_block() -> None:
    article = extract_article(page("jsonld_list.html"), "https://www.valleycourier.example/")
    # The ReportageNews at top level wins over the NewsArticle nested in its related items.
    assert article.title == "Drought: reservoirs fall to 41% as hosepipe ban looms"
    assert article.byline == "Graham Pettersen"  # "By " dropped
    assert article.published == datetime(2024, 8, 19, 19, 2, tzinfo=UTC)  # from -05:00
    # og:url given with name= and without a scheme.
    assert (
        article.canonical_url
        == "https://www.valleycourier.example/news/drought-reservoirs-41-percent"
    )
    # The page shows more than the JSON-LD summary, so the page's text is used.
    assert "the lowest August figure since records began in 1976" in article.text
    assert len(paragraphs(article)) == 3
    assert_absent(article.text, ["Trending now", "Man rescued", "Sunny, 31°C", "Hillside Media",
                                 "Updated 2 hours ago", "Advertise with us"])  # fmt: skip


def test_malformed_json_ld_is_ignored() -> None:
    article = extract_article(page("jsonld_malformed.html"), "https://northgate.example/library")
    assert article.title == "Central library to reopen after £2m refurbishment"
    assert article.byline is None
    assert article.published is None
    assert paragraphs(article)[0].startswith("The central library will reopen on Saturday")
    assert len(paragraphs(article)) == 3


def test_page_whose_body_is_only_in_json_ld() -> None:
    article = extract_article(page("jsonld_body_only.html"), "https://tidewatertimes.example/x")
    assert article.title == "Port strike called off after overnight talks"
    assert article.byline == "Ines Carvalho"
    assert article.published == datetime(2024, 11, 5, 5, 45, tzinfo=UTC)
    assert article.canonical_url == (
        "https://tidewatertimes.example/business/port-strike-called-off-a81c3"
    )
    assert paragraphs(article) == [
        "A strike that would have shut the container port for five days has been called off "
        "after overnight talks between the operator and the dockworkers' union.",
        "The union said members would vote on a revised pay offer of 6.5% this year and 4% next "
        "year, along with a guarantee of no compulsory redundancies when the new automated "
        "cranes arrive.",
        "Shipping lines had begun diverting vessels to other ports ahead of the planned walkout, "
        "which was due to begin at 6am on Wednesday.",
        "The port handles around a fifth of the country's container imports.",
    ]


def test_json_ld_article_body_containing_html() -> None:
    html = """<html><head><script type="application/ld+json">
    {"@type": "schema:NewsArticle", "headline": "Bridge reopens",
     "articleBody": "<p>The bridge reopened at dawn.</p><p>Traffic was light &amp; slow.</p>"}
    </script></head><body><div id="app"></div></body></html>"""
    article = extract_article(html)
    assert article.title == "Bridge reopens"
    assert article.text == "The bridge reopened at dawn.\n\nTraffic was light & slow."


# --- legacy encodings through the whole chain ----------------------------------------------


def test_windows_1252_page() -> None:
    article = extract_article(page("cp1252_article.html"), "https://rivieragazette.example/cafe")
    assert article.title == "Café prices: “A coffee now costs €3.20”"
    assert article.byline is not None and "Françoise Duré" in article.byline
    assert article.published is None  # no date on the page; the copyright year is not one
    assert "“People still come, but they stay for one coffee instead of two,” said José Nuñez" in (
        article.text
    )
    assert "between €1.30 and €1.90 — a rise of almost 30% since 2019." in article.text
    assert_absent(article.text, ["Archives", "Économie", "Mentions légales"])


def test_shift_jis_page() -> None:
    article = extract_article(page("shift_jis_article.html"), "https://minatomachi.example/a")
    assert article.title == "市役所の新庁舎、来春に開庁へ"
    assert len(paragraphs(article)) == 3
    assert paragraphs(article)[0].startswith("市は１４日、建て替え工事が進む市役所の新庁舎")
    assert_absent(article.text, ["スポーツ", "全転載禁止"])


# --- headline preference ----------------------------------------------------------------------

BODY = "".join(
    f"<p>Paragraph {n} of the story says something different about the harbour, the weather "
    f"and the council, so that it reads like an article.</p>"
    for n in range(1, 5)
)


def test_title_selector_beats_everything() -> None:
    html = page("news_article.html")
    article = extract_article(html, HERALD_URL, title_selector=".standfirst")
    assert article.title.startswith("Councillors voted 31 to 9")


def test_title_selector_matching_nothing_falls_back() -> None:
    article = extract_article(page("news_article.html"), HERALD_URL, title_selector=".nope")
    assert article.title == "Harbour council approves £48m flood barrier after decade of delays"


def test_og_title_beats_h1_and_title_tag() -> None:
    html = (
        '<html><head><title>Tag title | Site</title><meta property="og:title" content="OG title">'
        f"</head><body><article><h1>H1 title</h1>{BODY}</article></body></html>"
    )
    assert extract_article(html).title == "OG title"


def test_h1_beats_title_tag() -> None:
    html = (
        "<html><head><title>Tag title | The Site</title></head>"
        f"<body><article><h1>Council approves budget</h1>{BODY}</article></body></html>"
    )
    article = extract_article(html)
    assert article.title == "Council approves budget"
    assert "Council approves budget" not in article.text


@pytest.mark.parametrize(
    ("title_tag", "headline"),
    [
        ("Council approves budget | The Coastal Herald", "Council approves budget"),
        ("Council approves budget - Herald", "Council approves budget"),
        ("Council approves budget — Coastal Herald Online", "Council approves budget"),
        ("Brexit - what happens next - BBC News", "Brexit - what happens next"),
        ("Plain headline with no site", "Plain headline with no site"),
    ],
)
def test_title_tag_loses_its_site_suffix(title_tag: str, headline: str) -> None:
    html = f"<html><head><title>{title_tag}</title></head><body><div>{BODY}</div></body></html>"
    assert extract_article(html).title == headline


def test_no_headline_anywhere() -> None:
    assert extract_article(f"<html><body><div>{BODY}</div></body></html>").title == ""


# --- text selectors and paragraph boundaries --------------------------------------------------


def test_text_selector_takes_matched_blocks_in_order() -> None:
    article = extract_article(
        page("news_article.html"), HERALD_URL, text_selector=".story-body > p, .story-body > h2"
    )
    found = paragraphs(article)
    assert found[0] == HERALD_PARAGRAPHS[1]
    assert found[-1] == HERALD_PARAGRAPHS[-1]
    assert "What happens next" in found
    assert len(found) == 9
    assert_absent(article.text, ["Advertisement", "Read more", "BrightSpark"])


def test_text_selector_does_not_repeat_nested_matches() -> None:
    html = page("news_article.html")
    outer = extract_article(html, HERALD_URL, text_selector=".story-body")
    both = extract_article(html, HERALD_URL, text_selector=".story-body, .story-body p")
    assert outer.text == both.text
    assert outer.text.count("Work is expected to begin in the autumn") == 1


def test_text_selector_matching_nothing_falls_back_to_generic_extraction() -> None:
    html = page("news_article.html")
    assert (
        extract_article(html, HERALD_URL, text_selector=".no-such-class").text
        == extract_article(html, HERALD_URL).text
    )


def test_paragraph_boundaries_come_from_markup_not_source_line_breaks() -> None:
    html = """<div class="body">
      <p>A paragraph wrapped
         over   three
         source lines.</p>
      <p>Before a break<br>after a break</p>
      Loose text in the container
      <ul><li>First <b>item</b></li><li>Second item</li></ul>
      <table><tr><th>Ward</th><th>Votes</th></tr><tr><td>North</td><td>1,204</td></tr></table>
      <script>var hidden = "not text";</script><style>p { color: red }</style>
    </div>"""
    article = extract_article(html, text_selector=".body")
    assert paragraphs(article) == [
        "A paragraph wrapped over three source lines.",
        "Before a break",
        "after a break",
        "Loose text in the container",
        "First item",
        "Second item",
        "Ward | Votes",
        "North | 1,204",
    ]


def test_generic_text_keeps_paragraphs_and_single_spaces() -> None:
    html = f"""<html><body><article>
      <p>A paragraph wrapped
         over   three source lines, with enough words that it is plainly part of the article
         and not a caption.</p>
      {BODY}</article></body></html>"""
    text = extract_article(html).text
    assert_well_formed(text)
    assert paragraphs(extract_article(html))[0].startswith("A paragraph wrapped over three source")


# --- canonical URL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "url", "canonical"),
    [
        ('<link rel="canonical" href="/a/b">', "https://x.example/q?p=1", "https://x.example/a/b"),
        ('<meta property="og:url" content="https://x.example/og">', None, "https://x.example/og"),
        ('<link rel="canonical" href="/rel">', None, None),  # cannot be made absolute
        ('<link rel="canonical" href="javascript:alert(1)">', "https://x.example/", None),
        ('<link rel="canonical" href="http://[::1">', "https://x.example/", None),
        (
            '<base href="https://cdn.example/news/"><link rel="canonical" href="story">',
            "https://x.example/",
            "https://cdn.example/news/story",
        ),
        ("", "https://x.example/page", None),
    ],
)
def test_canonical_url(head: str, url: str | None, canonical: str | None) -> None:
    html = f"<html><head>{head}</head><body><div>{BODY}</div></body></html>"
    assert extract_article(html, url).canonical_url == canonical


def test_published_falls_back_to_open_graph() -> None:
    html = (
        '<html><head><meta property="article:published_time" content="2024-06-01T12:00:00+02:00">'
        f"</head><body><article>{BODY}</article></body></html>"
    )
    assert extract_article(html).published == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)


# --- hostile input ---------------------------------------------------------------------------

HOSTILE = {
    "empty": "",
    "whitespace": " \n\t ",
    "lone angle bracket": "<",
    "nul characters": "<p>a\x00b</p>\x00",
    "lone surrogate": "<html><body><p>\ud800 text</p></body></html>",
    "binary junk": bytes(range(256)).decode("latin-1") * 20,
    "not html": '{"json": true}',
    "xml feed": "<?xml version='1.0'?><rss><channel><item><title>x</title></item></channel></rss>",
    "frameset": "<frameset><frame src='a.html'></frameset>",
    "deeply nested blocks": "<div>" * 100_000 + "text" + "</div>" * 100_000,
    "deeply nested json-ld": "<script type='application/ld+json'>"
    + "[" * 100_000
    + "]" * 100_000
    + "</script>",
    "json-ld with wrong types": """<script type="application/ld+json">
        {"@type": ["NewsArticle", 7], "headline": {"a": 1}, "author": [[{"@id": [1]}], null, 5],
         "datePublished": "9999-12-31T23:59:59-14:00", "articleBody": 42, "@graph": "x"}
        </script>""",
    "unclosed everything": "<html><head><title>T<script>var x = '<p>'; <body><article><p>Hi",
}


@pytest.mark.parametrize("html", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_html_never_raises(html: str) -> None:
    article = extract_article(html, "https://x.example/a")
    assert isinstance(article, Article)
    if article.text:
        assert_well_formed(article.text)
    assert isinstance(extract_links(html, "https://x.example/a", "a"), list)


def test_empty_page_gives_the_empty_article() -> None:
    assert extract_article("") == EMPTY_ARTICLE


def test_empty_page_logs_nothing_at_warning_level(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        extract_article("")
        extract_article("<p>x</p>", "https://x.example/a")
    assert caplog.records == []


TOKENS = [
    "<div>", "</div>", "<p>", "</p>", "<br>", "<article>", "<h1>", "</h1>", "<table><td>",
    "<script type='application/ld+json'>", "</script>", '{"@type": "NewsArticle", ',
    '"headline": ', '"articleBody": ', '"x"', "}", "[", "]", ",", "<title>", "&amp;",
    "<meta property='og:title' content='", "'>", "<link rel=canonical href='", "text ",
    "word ", "\x00", "\ud800", "<!--", "-->", "<![CDATA[", "é€",
]  # fmt: skip
HTMLISH = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)


@settings(max_examples=150, deadline=None)
@given(html=st.one_of(HTMLISH, st.text(max_size=300)))
def test_arbitrary_input_never_raises(html: str) -> None:
    article = extract_article(html, "https://x.example/a")
    assert isinstance(article.title, str)
    assert isinstance(article.text, str)
    assert article.published is None or article.published.tzinfo is UTC


@pytest.mark.parametrize("selector", ["a[", "div >", ""])
def test_invalid_selector_is_a_configuration_error(selector: str) -> None:
    with pytest.raises(ValueError, match="invalid CSS selector"):
        check_selector(selector)
    with pytest.raises(ValueError, match="invalid CSS selector"):
        extract_links("<a href='/x'>x</a>", "https://x.example/", selector)
    if selector:
        with pytest.raises(ValueError, match="invalid CSS selector"):
            extract_article("<p>x</p>", text_selector=selector)


# --- links -----------------------------------------------------------------------------------


def test_extract_links_from_a_section_page() -> None:
    html = """<html><body>
      <nav><a href="/">Home</a></nav>
      <ul class="headlines">
        <li><a href="/news/one">One</a></li>
        <li><a href="two">Two</a> <a href="two#comments">12 comments</a></li>
        <li><a href="https://other.example/three?x=1">Three</a></li>
        <li><a href="/news/one">One again</a></li>
        <li><a href="#top">Back to top</a></li>
        <li><a href="javascript:void(0)">Load more</a></li>
        <li><a href="mailto:desk@x.example">Tips</a></li>
        <li><a href="tel:+441234">Call</a></li>
        <li><a>No href</a></li>
        <li><a href="  /news/four  ">Four</a></li>
      </ul></body></html>"""
    assert extract_links(html, "https://x.example/news/", ".headlines a") == [
        "https://x.example/news/one",
        "https://x.example/news/two",
        "https://other.example/three?x=1",
        "https://x.example/news/four",
    ]
    # A container selector yields the links inside it.
    assert extract_links(html, "https://x.example/news/", ".headlines") == extract_links(
        html, "https://x.example/news/", ".headlines a"
    )


def test_extract_links_honours_base_href() -> None:
    html = '<head><base href="https://cdn.example/a/"></head><a class="s" href="b">b</a>'
    assert extract_links(html, "https://x.example/", "a.s") == ["https://cdn.example/a/b"]


def test_extract_links_from_the_news_page_sidebar() -> None:
    links = extract_links(page("news_article.html"), HERALD_URL, ".most-read a")
    assert links[0] == "https://www.coastalherald.example/news/2024/03/14/lifeboat-rescue"
    assert len(links) == 5
