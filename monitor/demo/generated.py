"""The newsroom's generated site, for the benchmarks' thousands of pages (poll_pass, storage,
peers, ingest, footprint): RSS feeds /feeds/NNNN.xml of `items` items each linking to an article
page /articles/NNNN/II, dressed like real ones (navigation, critical CSS, inline scripts,
JSON-LD, a JSON state blob repeating the text, image srcsets, ads, footer) with furniture that
changes at every request. Pure and deterministic: bench/feedserver.py serves it, fast.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from json import dumps
from xml.sax.saxutils import escape as xml_escape

DEFAULT_ITEMS = 30
_EPOCH = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
_VOCABULARY = (
    "export controls chips model training data centre regulators investors shares market "
    "analysts quarter revenue growth launch release open weights benchmark reasoning cost "
    "inference cluster supply chain ministry officials licence shipment cloud startup "
    "researchers paper lab funding round valuation lawsuit court ruling policy agency review"
)
_WORDS = _VOCABULARY.split()

PageMaker = Callable[[str, int, int], bytes]
"""(base_url, feed, item) -> the HTML of article page /articles/NNNN/II."""


# ---------------------------------------------------------------- the feeds (pure)


def feed_path(index: int) -> str:
    return f"/feeds/{index:04d}.xml"


def article_url(base_url: str, feed: int, item: int) -> str:
    return f"{base_url}/articles/{feed:04d}/{item:02d}"


def feed_etag(index: int, revision: int = 0) -> str:
    return f'"feed-{index:04d}-v{revision + 1}"'


def feed_body(base_url: str, index: int, items: int = DEFAULT_ITEMS, revision: int = 0) -> bytes:
    """Feed `index` as RSS 2.0: deterministic, about 700 bytes an item (title, link, guid,
    date, author, a one-paragraph description with escaped markup), like a news site's feed.
    A later `revision` has the same items and a lastBuildDate of its own."""
    rng = random.Random(index)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
        f"<title>Bench outlet {index:04d}</title>\n<link>{base_url}/</link>\n"
        f"<description>Synthetic feed {index:04d} for the monitor benchmarks</description>\n"
        "<language>en</language>\n"
    ]
    if revision:
        built = _EPOCH + timedelta(minutes=revision)
        parts.append(f"<lastBuildDate>{format_datetime(built, usegmt=True)}</lastBuildDate>\n")
    for item in range(items):
        url = article_url(base_url, index, item)
        title = " ".join(rng.choice(_WORDS) for _ in range(9)).capitalize()
        text = " ".join(rng.choice(_WORDS) for _ in range(55))
        published = _EPOCH - timedelta(minutes=17 * item + index)
        parts.append(
            "<item>\n"
            f"<title>{xml_escape(title)}</title>\n"
            f"<link>{url}</link>\n"
            f'<guid isPermaLink="true">{url}</guid>\n'
            f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate>\n"
            f"<dc:creator>Reporter {rng.randrange(100)}</dc:creator>\n"
            f"<description>{xml_escape(f'<p>{text.capitalize()}.</p>')}</description>\n"
            "</item>\n"
        )
    parts.append("</channel>\n</rss>\n")
    return "".join(parts).encode("utf-8")


TOPIC = "export controls"  # every article mentions it, so every story is on topic

# ---------------------------------------------------------------- the news site (pure)

FIRST = [
    "Maria", "James", "Chen", "Amara", "Lukas", "Priya", "Tomasz", "Elena", "Kwame", "Sofia",
    "Daniel", "Aiko", "Omar", "Ines",
]  # fmt: skip
LAST = [
    "Okafor", "Lindqvist", "Moreau", "Tanaka", "Haddad", "Kowalski", "Reyes", "Brennan", "Osei",
    "Varga", "Novak",
]  # fmt: skip
SUBJECTS = [
    "the ministry", "regulators", "the company", "analysts", "investors", "officials",
    "the agency", "researchers", "the board", "lawmakers", "the startup", "executives",
    "the court", "suppliers", "the chipmaker", "European officials", "the commission",
    "its largest customer", "two people familiar with the matter", "the trade body",
    "cloud providers", "the White House", "rival labs", "shareholders", "the regulator",
]  # fmt: skip
VERBS = [
    "said", "warned", "expected", "announced", "confirmed", "estimated", "argued",
    "reported", "signalled", "acknowledged", "suggested", "disclosed", "insisted", "noted",
]  # fmt: skip
MODALS = ["would", "could", "might", "will", "was likely to", "planned to", "had agreed to"]
ACTIONS = [
    "review", "tighten", "delay", "expand", "challenge", "approve", "suspend", "revise",
    "restrict", "fund", "publish", "investigate", "renegotiate", "scale back", "accelerate",
]  # fmt: skip
ADJECTIVES = [
    "new", "advanced", "proposed", "existing", "temporary", "sweeping", "narrow", "costly",
    "overdue", "disputed", "expanded", "stricter", "long-awaited", "confidential", "revised",
]  # fmt: skip
NOUNS = [
    "licence", "shipments", "export rules", "training cluster", "supply agreement",
    "data centre", "funding round", "valuation", "chip orders", "safety review", "lawsuit",
    "investment plan", "open-weights release", "benchmark results", "quarterly guidance",
    "inference costs", "procurement contract", "research paper", "antitrust complaint",
    "subsidy programme", "partnership", "pricing model", "hiring freeze", "audit",
]  # fmt: skip
PLACES = [
    "Washington", "Brussels", "Beijing", "Taipei", "Seoul", "Tokyo", "London", "Singapore",
    "Berlin", "Paris", "Delhi", "Dubai", "San Francisco", "Shenzhen", "Amsterdam",
]  # fmt: skip
TAILS = [
    "by the end of the quarter", "before the summer", "in {place}", "after months of talks",
    "despite objections from {subject}", "according to a filing seen by reporters",
    "within {n} days", "at a cost of about ${n} million", "for the first time since {year}",
    "while {subject} {verb} the plan was premature", "as demand for chips kept rising",
    "pending a decision from {subject}", "by {n} per cent", "under pressure from {subject}",
]  # fmt: skip
SECTIONS = [
    "World", "UK", "US", "Politics", "Business", "Markets", "Technology", "Science", "Health",
    "Climate", "Culture", "Sport", "Opinion", "Travel", "Money", "Education", "Media",
    "Obituaries", "Podcasts", "Video", "Newsletters", "Puzzles",
]  # fmt: skip


def sentence(rng: random.Random, *, topic: bool = False) -> str:
    def fill(text: str) -> str:
        return text.format(
            place=rng.choice(PLACES),
            subject=rng.choice(SUBJECTS),
            verb=rng.choice(VERBS),
            n=rng.randrange(2, 950),
            year=rng.randrange(1998, 2025),
        )

    subject = rng.choice(SUBJECTS)
    thing = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    if topic:
        thing = f"{TOPIC} on {rng.choice(NOUNS)}"
    clause = (
        f"{rng.choice(SUBJECTS)} {rng.choice(MODALS)} {rng.choice(ACTIONS)} the {thing} "
        f"{fill(rng.choice(TAILS))}"
    )
    if rng.random() < 0.35:
        clause += f", {fill(rng.choice(TAILS))}"
    if rng.random() < 0.3:
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        spokesperson = f"{name}, a spokesperson for {subject}, {rng.choice(VERBS)}"
        text = f'"{clause.capitalize()}," {spokesperson}'
    else:
        text = f"{subject} {rng.choice(VERBS)} that {clause}"
    return text[0].upper() + text[1:] + "."


def random_nonce(rng: random.Random, size: int = 16) -> str:
    return base64.b64encode(rng.randbytes(size)).decode()


def image_tag(rng: random.Random, alt: str, widths: tuple[int, ...] = (240, 480, 800, 1200)) -> str:
    key = rng.randbytes(12).hex()
    base = f"https://static.bench-news.test/images/{key}"
    srcset = ", ".join(f"{base}/{w}x{w * 9 // 16}.jpg?auto=webp&amp;q=75 {w}w" for w in widths)
    return (
        f'<img src="{base}/{widths[-1]}.jpg" srcset="{srcset}" sizes="(max-width: 600px) 100vw, '
        f'50vw" alt="{escape(alt)}" loading="lazy" decoding="async">'
    )


@dataclass(frozen=True)
class Site:
    """What every page of the site shares: CSS, a script bundle, navigation, footer, logo, and
    the pool of "Most read" headlines the rotating list is drawn from."""

    css: str
    bundle: str
    nav: str
    footer: str
    logo: str
    most_read: tuple[str, ...]  # <li> items

    @staticmethod
    def build(seed: int = 2026) -> Site:
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
                f"{rng.choice(NOUNS).capitalize()}</a>"
                for _ in range(4)
            )
            + "</li>"
            for section in SECTIONS
        )
        footer = "".join(
            f'<li><a href="/info/{rng.randbytes(4).hex()}">{rng.choice(NOUNS).capitalize()} '
            f"{rng.choice(SECTIONS).lower()}</a></li>"
            for _ in range(48)
        )
        points = " ".join(
            f"{rng.choice('MLCQ')}{rng.uniform(0, 200):.2f} {rng.uniform(0, 40):.2f}"
            for _ in range(220)
        )
        logo = f'<svg viewBox="0 0 200 40" aria-hidden="true"><path d="{points}Z"/></svg>'
        most_read = tuple(
            f'<li><a href="/news/{rng.randbytes(5).hex()}">'
            f"{escape(sentence(rng)[:90].rstrip('. '))}</a>{image_tag(rng, 'thumbnail', (140,))}"
            "</li>"
            for _ in range(30)
        )
        return Site(css, bundle, nav, footer, logo, most_read)


def related_links(rng: random.Random) -> str:
    """The "Related" list of an article page: six headlines with thumbnails."""
    return "".join(
        f'<li><a href="/news/{rng.randbytes(5).hex()}">{escape(sentence(rng)[:80])}</a>'
        f"{image_tag(rng, 'related', (160, 320))}</li>"
        for _ in range(6)
    )


def topic_tags(rng: random.Random) -> str:
    return "".join(
        f'<a href="/topic/{noun.replace(" ", "-")}" rel="tag">{noun}</a>'
        for noun in rng.sample(NOUNS, 5)
    )


@dataclass(frozen=True)
class Article:
    """One article, in its two revisions (revision 1: one sentence edited), rendered except
    for the furniture that changes at every request."""

    head: tuple[str, str]  # JSON-LD and meta tags, by revision
    body: tuple[str, str]  # <article> content, by revision
    state: tuple[str, str]  # the JSON state blob, by revision
    words: int

    @staticmethod
    def build(url: str, feed: int, item: int) -> Article:
        rng = random.Random(feed * 1000 + item)
        title = sentence(rng, topic=True).rstrip(".")[:110]
        standfirst = sentence(rng)
        author = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        published = datetime(2026, 11, 20, 6, 0, tzinfo=UTC) - timedelta(minutes=37 * item + feed)
        target = rng.randrange(800, 1501)
        paragraphs: list[list[str]] = [[sentence(rng, topic=True)]]
        words = len(paragraphs[0][0].split())
        while words < target:
            paragraph = [sentence(rng) for _ in range(rng.randrange(1, 4))]
            words += sum(len(sentence.split()) for sentence in paragraph)
            paragraphs.append(paragraph)
        edited = [list(p) for p in paragraphs]
        where = len(edited) // 2
        edited[where][0] = edit_sentence(edited[where][0], rng)
        image = image_tag(rng, title, (320, 640, 960, 1280, 1600, 2048))
        related, tags = related_links(rng), topic_tags(rng)
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
        return Article((heads[0], heads[1]), (bodies[0], bodies[1]), (states[0], states[1]), words)


def edit_sentence(sentence: str, rng: random.Random) -> str:
    """The sentence with two words changed, as a correction or an update changes it."""
    words = sentence.split()
    for index in rng.sample(range(1, len(words) - 1), 2):
        words[index] = rng.choice([word for word in ADJECTIVES if word != words[index]])
    return " ".join(words)


def render_article(site: Site, article: Article, revision: int, request: int) -> bytes:
    """The page as served at request number `request`: furniture differs at every request."""
    rng = random.Random(request)
    nonce = random_nonce(rng)
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
