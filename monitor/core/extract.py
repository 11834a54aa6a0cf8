"""HTML in, Article out: the headline, byline, date, canonical URL and main text of a page.

Pure and total: hostile or broken HTML yields an Article with empty fields, never an
exception. Metadata comes from what publishers declare for machines (JSON-LD, Open Graph,
``rel=canonical``) read with selectolax; the main text comes from trafilatura, which scored
best on a news benchmark, unless a source configures its own CSS selectors.

The text is arbitrated between three readings: a source's own CSS selectors (when they
match), the page's structured data (JSON-LD ``articleBody``, microdata ``itemprop=articleBody``)
and trafilatura's main-text extraction. Furniture that survives inside the article container
("Read more: …", share and newsletter prompts, standards lines) is dropped by
``monitor.core.boilerplate``, and a page that is a consent wall, a paywall stub or a teaser is
marked ``not_article`` so the pipeline records it instead of storing it.

``Article.text`` feeds change detection, so it is kept deterministic: trafilatura runs in
``fast`` mode with ``favor_precision`` (one algorithm, no fallback voting that can flip between
renderings); only a page where it finds under ``_SHORT_TEXT`` characters is read again with
trafilatura's full cascade, and the longer reading wins. Paragraphs are rebuilt from its
element tree rather than from source line breaks. Its metadata extraction is not used (a
large share of its cost, for fields the page declares anyway): the headline, byline and date
come from what the page declares, and htmldate reads a date only for pages that declare none.
"""

from __future__ import annotations

import html as html_lib
import json
import logging
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.core.boilerplate import (
    is_onward_link,
    is_teaser_text,
    not_article_reason,
    without_furniture,
)
from monitor.core.dates import parse_date
from monitor.core.selectors import check_selector

__all__ = ["EMPTY_ARTICLE", "Article", "check_selector", "extract_article", "extract_links"]

log = logging.getLogger(__name__)

# trafilatura logs an ERROR for every page it finds empty; we report that as an empty
# Article instead. Quieten it only if the application has not configured it itself.
for _name in ("trafilatura", "htmldate"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.CRITICAL)


@dataclass(frozen=True, slots=True)
class Article:
    """What a reader sees of a story: every field is plain text, empty when not found."""

    title: str  # headline ('' if none found)
    byline: str | None
    published: datetime | None  # timezone-aware UTC
    canonical_url: str | None  # absolute http(s): rel=canonical, else og:url
    text: str  # main text, paragraphs separated by "\n\n", single spaces within
    site_name: str | None = None  # the publication: og:site_name, else JSON-LD publisher
    not_article: str | None = None  # why the page is not an article ("consent wall", …)


EMPTY_ARTICLE = Article(title="", byline=None, published=None, canonical_url=None, text="")


def extract_article(
    html: str,
    url: str | None = None,
    *,
    title_selector: str | None = None,
    text_selector: str | None = None,
) -> Article:
    """Extract an article; selectors, when given and matching, override the generic guess.

    Raises ValueError only for a syntactically invalid selector (a configuration error).
    """
    for selector in (title_selector, text_selector):
        if selector:
            check_selector(selector)
    try:
        return _extract(_sanitise(html), url, title_selector, text_selector)
    except Exception:  # last resort: one odd page must not stop a poll; keep the trace
        log.warning("extraction failed for %s", url, exc_info=True)
        return EMPTY_ARTICLE


def extract_links(html: str, base_url: str, selector: str) -> list[str]:
    """Absolute http(s) links matched by ``selector``, in page order, without duplicates."""
    return list(dict.fromkeys(url for url, _anchor in matched_anchors(html, base_url, selector)))


def matched_anchors(html: str, base_url: str, selector: str) -> Iterator[tuple[str, LexborNode]]:
    """Each link ``selector`` matches, as (absolute URL, its <a> element), in page order.

    A matched element that is not an ``<a>`` contributes the links inside it. Links are
    resolved against ``<base href>``; in-page links (``#top``) are skipped and fragments
    dropped: ``story#comments`` is ``story``.
    """
    check_selector(selector)
    tree = LexborHTMLParser(_sanitise(html))
    base = _document_base(tree, base_url)
    for node in tree.css(selector):
        anchors = [node] if node.tag == "a" else node.css("a[href]")
        for anchor in anchors:
            href = (anchor.attributes.get("href") or "").strip()
            link = None if href.startswith("#") else _absolute_http_url(href, base)
            if link is not None:
                yield urldefrag(link).url, anchor


def _extract(
    html: str, url: str | None, title_selector: str | None, text_selector: str | None
) -> Article:
    tree = LexborHTMLParser(html)
    page = _read_page(tree, url)
    title = _choose_title(tree, page, title_selector)
    # Forms of the headline that may open the text; it is in Article.title already.
    headlines = {title, page.ld.headline, page.og_title, page.h1}
    selected = (
        _without_headline(_selected_paragraphs(tree, text_selector), headlines)
        if text_selector
        else ()
    )
    pruned = _pruned_html(tree)
    chosen = _choose_text(page, selected, _main_text(pruned, html, url), headlines)
    return Article(
        title=title,
        byline=page.ld.byline or page.author,
        published=page.ld.published or page.published or _undeclared_date(pruned, url),
        canonical_url=page.canonical,
        text=_join(without_furniture(chosen.paragraphs)),
        site_name=page.site_name or page.ld.publisher,
        not_article=not_article_reason(
            chosen.paragraphs,
            free=page.ld.free,
            structured_body=chosen.structured,
            onward_link=is_teaser_text(chosen.paragraphs) and _links_onward(tree, url),
        ),
    )


def _links_onward(tree: LexborHTMLParser, url: str | None) -> bool:
    """Whether the page links on to its article elsewhere ("Continue reading on …"): one
    such link. Several are a list of other posts' excerpts, each with its "Read more"."""
    base = _document_base(tree, url)
    here = urldefrag(url or "").url
    targets = set()
    for anchor in tree.css("a[href]"):
        if is_onward_link(_collapse(anchor.text(deep=True)) or ""):
            target = _absolute_http_url(anchor.attributes.get("href"), base)
            if target is not None and urldefrag(target).url != here:
                targets.add(urldefrag(target).url)
    return len(targets) == 1


# --- page metadata (selectolax) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LinkedData:
    """The main article object from the page's JSON-LD, reduced to what we use."""

    headline: str | None = None
    byline: str | None = None
    published: datetime | None = None
    body: tuple[str, ...] = ()
    publisher: str | None = None
    free: bool | None = None  # isAccessibleForFree: False on a paywalled article


@dataclass(frozen=True, slots=True)
class _Page:
    ld: _LinkedData
    og_title: str | None
    published: datetime | None  # article:published_time and the like
    author: str | None  # meta author, rel=author, itemprop=author
    site_name: str | None
    canonical: str | None
    title_tag: str | None
    h1: str | None
    microdata_body: tuple[str, ...]  # itemprop=articleBody


def _read_page(tree: LexborHTMLParser, url: str | None) -> _Page:
    base = _document_base(tree, url)
    metas = _metas(tree)
    canonical = _absolute_http_url(_attr(tree, "link[rel~=canonical i]", "href"), base)
    og_url = _absolute_http_url(metas.get("og:url"), base)
    return _Page(
        ld=_linked_data(tree),
        og_title=_collapse(metas.get("og:title")),
        published=_declared_date(tree, metas),
        author=_declared_author(tree, metas),
        site_name=_collapse(metas.get("og:site_name")),
        canonical=canonical or og_url,
        title_tag=_first_text(tree, "head title"),
        h1=_first_text(tree, "article h1") or _first_text(tree, "h1"),
        microdata_body=_microdata_body(tree),
    )


_DATE_META = (  # lower case, as _metas keys them
    "article:published_time", "og:published_time", "datepublished", "date", "pubdate",
    "publishdate", "publish-date", "dc.date.issued", "dc.date", "dcterms.created",
    "sailthru.date", "parsely-pub-date",
)  # fmt: skip


def _declared_date(tree: LexborHTMLParser, metas: dict[str, str]) -> datetime | None:
    """The publication date the page declares in meta tags or microdata, if any."""
    for prop in _DATE_META:
        if (found := parse_date(metas.get(prop))) is not None:
            return found
    for node in tree.css('[itemprop="datePublished"], article time[datetime]'):
        value = node.attributes.get("content") or node.attributes.get("datetime")
        if (found := parse_date(value or node.text(deep=True))) is not None:
            return found
    return None


def _declared_author(tree: LexborHTMLParser, metas: dict[str, str]) -> str | None:
    names = (
        metas.get("author") or metas.get("article:author"),
        _first_text(tree, '[itemprop="author"] [itemprop="name"]'),
        _first_text(tree, '[rel~="author"]'),
        _first_text(tree, '[itemprop="author"], .byline .author, .byline, .author'),
    )
    for name in names:
        cleaned = _clean_byline(name)
        if cleaned and not cleaned.startswith(("http://", "https://")) and len(cleaned) < 100:
            return cleaned
    return None


# Only dates the page marks up (meta tags, <time>, the URL): htmldate's "extensive" text
# search takes a copyright line's year for a publication date.
_DATE_PARAMS: dict[str, Any] = {"original_date": True, "extensive_search": False}


def _undeclared_date(html: str, url: str | None) -> datetime | None:
    """htmldate's reading of <time> elements, dated elements and the URL, for pages that
    declare no date. `html` is selectolax's serialisation (a whole document: htmldate logs
    errors for a fragment); given a string, htmldate parses it and spares a copy of a tree."""
    import htmldate  # see _run_trafilatura

    try:
        found = htmldate.find_date(html, url=url, **_DATE_PARAMS)
    except Exception:  # a third-party parser on hostile input: no date, not a failed page
        log.debug("htmldate failed on %s", url, exc_info=True)
        return None
    return parse_date(found) if isinstance(found, str) else None


def _microdata_body(tree: LexborHTMLParser) -> tuple[str, ...]:
    for node in tree.css('[itemprop~="articleBody" i]'):
        paragraphs = _node_paragraphs(node)
        if paragraphs:
            return tuple(paragraphs)
    return ()


def _metas(tree: LexborHTMLParser) -> dict[str, str]:
    """Each <meta> property or name (lower-cased) with its first non-empty content. Open
    Graph tags count under either attribute: many sites wrongly use ``name=`` for them."""
    found: dict[str, str] = {}
    for node in tree.css("meta[content]"):
        content = (node.attributes.get("content") or "").strip()
        if not content:
            continue
        for attribute in ("property", "name", "itemprop"):
            key = (node.attributes.get(attribute) or "").strip().lower()
            if key:
                found.setdefault(key, content)
    return found


def _attr(tree: LexborHTMLParser, selector: str, name: str) -> str | None:
    for node in tree.css(selector):
        value = node.attributes.get(name)
        if value and value.strip():
            return value.strip()
    return None


def _document_base(tree: LexborHTMLParser, url: str | None) -> str | None:
    """The URL relative links resolve against: ``<base href>`` applied to the page URL."""
    href = _attr(tree, "base[href]", "href")
    if href is None:
        return url
    return _absolute_http_url(href, url) or url


def _absolute_http_url(href: str | None, base: str | None) -> str | None:
    if not href:
        return None
    try:
        absolute = urljoin(base or "", href.strip())
        parts = urlsplit(absolute)
    except ValueError:  # e.g. a malformed IPv6 host
        return None
    return absolute if parts.scheme in ("http", "https") and parts.netloc else None


# --- JSON-LD -------------------------------------------------------------------------------

_ARTICLE_TYPES = {
    "Article", "NewsArticle", "ReportageNews", "AnalysisNewsArticle", "BackgroundNewsArticle",
    "OpinionNewsArticle", "ReviewNewsArticle", "AskPublicNewsArticle", "BlogPosting",
    "LiveBlogPosting", "Report", "TechArticle", "SatiricalArticle",
}  # fmt: skip
_JSON_WRAPPERS = re.compile(r"^\s*(?://\s*)?(?:<!--|<!\[CDATA\[)|(?://\s*)?(?:-->|\]\]>)\s*$")


def _linked_data(tree: LexborHTMLParser) -> _LinkedData:
    roots = [item for node in tree.css("script[type]") for item in _json_ld_items(node)]
    by_id: dict[str, dict[str, Any]] = {}
    for node in _walk(roots):  # full nodes only: {"@id": ...} alone is a reference
        if isinstance(node.get("@id"), str) and len(node) > 1:
            by_id.setdefault(node["@id"], node)
    article = next((node for node in _walk(roots) if _is_article(node)), None)
    if article is None:
        return _LinkedData()
    return _LinkedData(
        headline=_ld_text(article.get("headline")) or _ld_text(article.get("name")),
        byline=_ld_names(article.get("author"), by_id),
        published=parse_date(_ld_text(article.get("datePublished"))),
        body=_ld_body(article.get("articleBody")),
        publisher=_ld_names(article.get("publisher"), by_id),
        free=_ld_free(article.get("isAccessibleForFree")),
    )


def _ld_free(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _json_ld_items(node: LexborNode) -> list[dict[str, Any]]:
    """Top-level objects of one JSON-LD script, with ``@graph`` members lifted up."""
    if "ld+json" not in (node.attributes.get("type") or "").lower():
        return []
    try:
        data = json.loads(_JSON_WRAPPERS.sub("", node.text(deep=True)), strict=False)
    except (ValueError, RecursionError):
        return []
    items = data if isinstance(data, list) else [data]
    dicts = [item for item in items if isinstance(item, dict)]
    graph = [g for d in dicts if isinstance(d.get("@graph"), list) for g in d["@graph"]]
    return dicts + [g for g in graph if isinstance(g, dict)]


def _walk(roots: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Breadth-first, so a page's own article beats ones nested in related-item lists."""
    queue = deque(roots)
    while queue:
        node = queue.popleft()
        yield node
        for value in node.values():
            children = value if isinstance(value, list) else [value]
            queue.extend(child for child in children if isinstance(child, dict))


def _is_article(node: dict[str, Any]) -> bool:
    types = node.get("@type")
    names = types if isinstance(types, list) else [types]
    # Types may be written "schema:NewsArticle" or "https://schema.org/NewsArticle".
    return any(isinstance(t, str) and re.split(r"[/:#]", t)[-1] in _ARTICLE_TYPES for t in names)


def _ld_text(value: object) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str)), None)
    if isinstance(value, dict):
        value = value.get("@value")
    return _collapse(html_lib.unescape(value)) if isinstance(value, str) else None


def _ld_names(value: object, by_id: dict[str, dict[str, Any]]) -> str | None:
    """Names of the people or organisations in an author-like property, comma separated."""
    names: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            ref = item.get("@id")
            if isinstance(ref, str) and "name" not in item:
                item = by_id.get(ref, item)
            item = item.get("name")
        name = _clean_byline(_ld_text(item))
        if name and name not in names:
            names.append(name)
    return ", ".join(names) or None


def _ld_body(value: object) -> tuple[str, ...]:
    if not isinstance(value, str) or not value.strip():
        return ()
    if re.search(r"<(?:p|br|div|h\d)\b", value, re.I):  # some CMSs put HTML in articleBody
        return tuple(_node_paragraphs(LexborHTMLParser(value).body))
    lines = html_lib.unescape(value).splitlines()
    return tuple(p for p in (" ".join(line.split()) for line in lines) if p)


# --- pruning before trafilatura -----------------------------------------------------------

# What is never article text, removed from the tree before trafilatura parses it again: less
# to parse and prune (inline scripts and styles are often most of a page's bytes), and the
# site's navigation and footer cannot leak in. Pruning by class names ("share", "related")
# was measured and rejected: pages put such words on the containers of the article itself.
_PRUNE_TAGS = [
    "script", "style", "noscript", "template", "svg", "iframe", "object", "link",
    "nav", "footer", "aside",
    "img", "picture", "video", "audio", "source", "canvas", "map",
    "button", "input", "select", "textarea",
]  # fmt: skip
_PRUNE_ROLES = "[role=navigation], [role=contentinfo]"
_KEEP = {"html", "head", "body", "main", "article"}


def _pruned_html(tree: LexborHTMLParser) -> str:
    """The page without its furniture (the tree is changed: read it first)."""
    tree.strip_tags(_PRUNE_TAGS)
    removed: set[int] = set()
    for node in tree.css(_PRUNE_ROLES):
        if node.tag not in _KEEP and not any(a.mem_id in removed for a in _ancestors(node)):
            removed.add(node.mem_id)
    for node in [n for n in tree.css(_PRUNE_ROLES) if n.mem_id in removed]:
        node.decompose()
    return tree.html or ""


# --- trafilatura ---------------------------------------------------------------------------

# Under this many characters the precise single pass may have missed the article (a page
# laid out in <div>s, a short piece among long comments): the full cascade reads it again.
_SHORT_TEXT = 1000


def _main_text(pruned: str, html: str, url: str | None) -> tuple[str, ...]:
    """trafilatura's paragraphs of the main text: the precise pass over the pruned page, else
    the full cascade over the whole page (its readability and jusText comparisons read the
    page's layout, which pruning changes: some sites put their text in an <aside>)."""
    found = _run_trafilatura(pruned, url, fast=True)
    if sum(map(len, found)) < _SHORT_TEXT:
        fuller = _run_trafilatura(html, url, fast=False)
        if sum(map(len, fuller)) > sum(map(len, found)):
            return fuller
    return found


def _run_trafilatura(html: str, url: str | None, *, fast: bool) -> tuple[str, ...]:
    """Any failure inside trafilatura means 'nothing found'."""
    # Imported here, not at the top: trafilatura, lxml and htmldate are only needed where
    # pages are extracted (the pool's workers), not by every process that reads an Article.
    import trafilatura
    from trafilatura.settings import Document

    try:
        doc = trafilatura.bare_extraction(
            html,
            url=url,
            fast=fast,
            favor_precision=fast,
            include_comments=False,
            include_tables=True,
        )
    except Exception:  # a third-party parser on hostile input: never let it take us down
        log.debug("trafilatura failed on %s", url, exc_info=True)
        return ()
    if not isinstance(doc, Document) or doc.body is None:  # None when it found no text
        return ()
    return tuple(_xml_paragraphs(doc.body))


# --- choosing the headline and text --------------------------------------------------------

_TITLE_SEPARATORS = (" | ", " – ", " — ", " - ", " :: ", " · ", " • ")


def _choose_title(tree: LexborHTMLParser, page: _Page, title_selector: str | None) -> str:
    """title_selector > JSON-LD > og:title > <h1> > <title> minus site suffix."""
    site_names = [name for name in (page.site_name, page.ld.publisher) if name]
    candidates = (
        _first_text(tree, title_selector) if title_selector else None,
        page.ld.headline,
        page.og_title,
        page.h1,
        _strip_site_suffix(page.title_tag, site_names) if page.title_tag else None,
    )
    return next((c for c in candidates if c), "")


def _strip_site_suffix(title: str, site_names: list[str]) -> str:
    """'Headline | Site Name' -> 'Headline'; only a short trailing segment counts as a site."""
    for sep in _TITLE_SEPARATORS:
        for name in site_names:
            if title.endswith(sep + name) and len(title) > len(sep + name):
                return title[: -len(sep + name)].strip()
    for sep in _TITLE_SEPARATORS:
        head, found, tail = title.rpartition(sep)
        if found and head.strip() and len(tail.split()) <= 4 and len(tail) < len(head):
            return head.strip()
    return title


@dataclass(frozen=True, slots=True)
class _Chosen:
    paragraphs: tuple[str, ...]
    structured: bool  # from the page's JSON-LD or microdata articleBody


def _choose_text(
    page: _Page, selected: tuple[str, ...], found: tuple[str, ...], headlines: set[str | None]
) -> _Chosen:
    """text_selector's paragraphs > main text > structured articleBody (when the main text is
    far shorter or holds the same words: the structured copy keeps its paragraph breaks)."""
    if selected:
        return _Chosen(selected, structured=False)
    text = _without_headline(found, headlines)
    words = " ".join(text).split()
    # A page rendered by JavaScript, or a paywalled teaser, may show only a cookie notice
    # or a few lines while its JSON-LD or microdata carry the whole article.
    for body in (page.ld.body, _without_headline(page.microdata_body, headlines)):
        if body and (
            sum(map(len, text)) < sum(map(len, body)) / 3 or words == " ".join(body).split()
        ):
            return _Chosen(body, structured=True)
    return _Chosen(text, structured=False)


def _without_headline(paragraphs: Iterable[str], headlines: set[str | None]) -> tuple[str, ...]:
    """The paragraphs without a first one that repeats the headline."""
    kept = tuple(paragraphs)
    if kept and kept[0].casefold() in {h.casefold() for h in headlines if h}:
        kept = kept[1:]
    return kept


def _first_text(tree: LexborHTMLParser, selector: str) -> str | None:
    for node in tree.css(selector):
        text = _collapse(node.text(deep=True))
        if text:
            return text
    return None


def _selected_paragraphs(tree: LexborHTMLParser, selector: str) -> Iterator[str]:
    """Paragraphs of every matched element, skipping matches nested in earlier ones."""
    chosen: set[int] = set()
    for node in tree.css(selector):
        if not any(a.mem_id in chosen for a in _ancestors(node)):
            chosen.add(node.mem_id)
            yield from _node_paragraphs(node)


def _ancestors(node: LexborNode) -> Iterator[LexborNode]:
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


# --- flattening element trees into paragraphs ---------------------------------------------

# Elements whose start and end break a paragraph; everything else flows inline.
_HTML_BLOCKS = {
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "div",
    "dl", "dt", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
    "tbody", "tfoot", "thead", "tr", "ul",
}  # fmt: skip
_HTML_CELLS = {"td", "th"}
_HTML_SKIPPED = {"script", "style", "noscript", "template", "svg", "iframe", "object", "head"}
# trafilatura's output vocabulary (TEI-like): only these flow inline.
_XML_INLINE = {"hi", "ref", "del", "span", "a", "b", "i", "em", "strong", "sub", "sup"}


class _Paragraphs:
    """Accumulates inline text, cutting a paragraph at each block boundary."""

    def __init__(self) -> None:
        self.done: list[str] = []
        self._parts: list[str] = []

    def add(self, text: str | None) -> None:
        if text:
            self._parts.append(text)

    def cell(self) -> None:
        if "".join(self._parts).strip():
            self._parts.append(" | ")

    def cut(self) -> None:
        paragraph = " ".join("".join(self._parts).split())
        if paragraph:
            self.done.append(paragraph)
        self._parts = []


def _xml_paragraphs(root: Any) -> list[str]:
    """Paragraphs of trafilatura's lxml output tree (iterative: trees can be deep)."""
    out = _Paragraphs()
    stack: list[Any] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.add(item)
        elif callable(item):
            item()
        elif isinstance(item.tag, str):  # skips comments and processing instructions
            _open_xml(item, out, stack)
    out.cut()
    return out.done


def _open_xml(element: Any, out: _Paragraphs, stack: list[Any]) -> None:
    tag = element.tag
    block = tag not in _XML_INLINE and tag != "cell"
    if tag == "cell":
        out.cell()
    if block:
        out.cut()
    stack.append(element.tail or "")
    if block:
        stack.append(out.cut)
    stack.extend(reversed(list(element)))
    stack.append(element.text or "")


def _node_paragraphs(root: LexborNode | None) -> list[str]:
    """Paragraphs of an HTML subtree parsed by selectolax (iterative: trees can be deep)."""
    out = _Paragraphs()
    stack: list[LexborNode | Callable[[], None]] = [] if root is None else [root]
    while stack:
        item = stack.pop()
        if isinstance(item, LexborNode):
            _open_node(item, out, stack)
        else:
            item()
    out.cut()
    return out.done


def _open_node(
    node: LexborNode, out: _Paragraphs, stack: list[LexborNode | Callable[[], None]]
) -> None:
    if node.is_text_node:
        out.add(node.text_content)
        return
    tag = node.tag or ""
    if not node.is_element_node or tag in _HTML_SKIPPED:
        return
    if tag in _HTML_CELLS:
        out.cell()
    if tag in _HTML_BLOCKS:
        out.cut()
        stack.append(out.cut)
    stack.extend(reversed(list(node.iter(include_text=True))))


# --- small helpers -------------------------------------------------------------------------


def _join(paragraphs: Iterable[str]) -> str:
    return "\n\n".join(p for p in paragraphs if p)


def _collapse(text: str | None) -> str | None:
    return " ".join(text.split()) if text else None


def _clean_byline(text: str | None) -> str | None:
    text = _collapse(text)
    if text and text.lower().startswith("by "):
        text = text[3:].strip()
    return text or None


def _sanitise(html: str) -> str:
    """Drop what the C parsers reject (NUL characters, lone surrogates) or choke on."""
    html = html.replace("\x00", "")
    try:
        html.encode("utf-8")
    except UnicodeEncodeError:
        html = html.encode("utf-8", errors="replace").decode("utf-8")
    return _limit_nesting(html)


# lexbor builds trees in time quadratic in the depth of nested blocks: 40,000 nested <div>s
# take seconds, 100,000 most of a minute. Real pages nest a few dozen deep.
_MAX_NESTING = 1000
_NESTING_TAG = re.compile(
    r"<(/?)(?:article|aside|blockquote|details|div|dl|fieldset|figure|footer|form|header"
    r"|main|nav|ol|section|table|ul)\b",
    re.IGNORECASE,
)


def _limit_nesting(html: str) -> str:
    """Cut the page off where block elements nest deeper than any real page does."""
    depth = 0
    for match in _NESTING_TAG.finditer(html):
        depth = max(0, depth - 1) if match.group(1) else depth + 1
        if depth > _MAX_NESTING:
            log.debug("page nests blocks over %d deep; cut off there", _MAX_NESTING)
            return html[: match.start()]
    return html
