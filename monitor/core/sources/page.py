"""Section fronts (HTML listing pages): text in, entries out (pure).

Which links are articles is configured per source: a CSS selector for the links and,
optionally, regular expressions the canonical URL must (``include``) or must not
(``exclude``) contain. ``monitor.core.extract.extract_links`` decides which links the selector
matches and how they resolve; a second pass over the same anchors reads their text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selectolax.lexbor import LexborNode

# The private helpers make the second pass resolve links exactly as extract_links does.
from monitor.core.extract import check_selector, matched_anchors
from monitor.core.sources.feed import FeedEntry
from monitor.core.urls import canonicalize_url

__all__ = ["ParsedListing", "compile_pattern", "parse_listing"]


@dataclass(frozen=True, slots=True)
class ParsedListing:
    entries: tuple[FeedEntry, ...]
    skipped: int  # matched links left out by include/exclude, or without a usable URL


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile an include/exclude expression; ValueError (one line) if it is invalid."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None


def parse_listing(
    html: str,
    base_url: str,
    *,
    links: str,
    include: str | None = None,
    exclude: str | None = None,
) -> ParsedListing:
    """Article links of a listing page, in page order, canonical and without duplicates.

    ``include`` and ``exclude`` are searched (``re.search``) in each canonical URL. The title
    is the link's text, whitespace folded (else its ``title`` attribute or image ``alt``).
    Raises ValueError for an invalid selector or expression (a configuration error).
    """
    check_selector(links)
    keep = compile_pattern(include) if include is not None else None
    drop = compile_pattern(exclude) if exclude is not None else None
    titles = _link_titles(html, base_url, links)
    entries: dict[str, FeedEntry] = {}
    skipped = 0
    for link in titles:
        try:
            url = canonicalize_url(link)
        except ValueError:
            skipped += 1
            continue
        if (keep and not keep.search(url)) or (drop and drop.search(url)):
            skipped += 1
        elif url not in entries:
            entries[url] = FeedEntry(url=url, title=titles.get(link, ""), published=None)
    return ParsedListing(entries=tuple(entries.values()), skipped=skipped)


def _link_titles(html: str, base_url: str, selector: str) -> dict[str, str]:
    """The title of each matched link, keyed by its absolute URL, in page order.

    The first link text wins; a link without text (an image) offers its ``title`` or the
    image's ``alt`` in case no other link to the same URL has text.
    """
    in_order: dict[str, None] = {}
    texts: dict[str, str] = {}
    fallbacks: dict[str, str] = {}
    for url, anchor in matched_anchors(html, base_url, selector):
        in_order.setdefault(url)
        if text := _fold(anchor.text(deep=True)):
            texts.setdefault(url, text)
        elif not fallbacks.get(url):
            fallbacks[url] = _fallback_title(anchor)
    return {url: texts.get(url) or fallbacks.get(url, "") for url in in_order}


def _fallback_title(anchor: LexborNode) -> str:
    title = _fold(anchor.attributes.get("title"))
    if not title and (image := anchor.css_first("img[alt]")) is not None:
        title = _fold(image.attributes.get("alt"))
    return title


def _fold(text: str | None) -> str:
    return " ".join(text.split()) if text else ""
