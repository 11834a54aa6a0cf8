"""Topic matching: keyword lists, queries (monitor.core.query) and similarity to example
articles (monitor.core.similarity) over a story's headline, text, outlet and URL (pure).

A topic matches when its keywords, its query or its examples do, and none of its `exclude`
terms occurs. Each match says why (`TopicMatch.by`), for `monitor show`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from monitor.core.query import Document, Term, compile_query
from monitor.core.query import parse as parse_query
from monitor.core.similarity import Similar, best_example


@dataclass(frozen=True, slots=True)
class TopicRule:
    """A topic's rules. The query travels as text (compiled once per process, on first use)."""

    name: str
    keywords: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    query: str | None = None
    like: Similar | None = None


@dataclass(frozen=True, slots=True)
class TopicMatch:
    topic: str
    # The configured keywords that matched, in configured order; or the query's terms found
    # (as written in the query, those under a NOT apart).
    terms: tuple[str, ...]
    by: MatchedBy = "keywords"
    example: str | None = None  # by "like": the closest example
    score: float | None = None  # and its cosine similarity


MatchedBy = Literal["keywords", "query", "like"]


def explain(by: str | None, terms: Sequence[str], example: str | None, score: float | None) -> str:
    """One line saying why a story is in a topic, as `monitor show` prints it."""
    if by == "like" and example is not None:
        return f"similar to {example} (score {score or 0:.2f})"
    kind = "query terms" if by == "query" else "keywords"
    return f"{kind} {', '.join(terms)}" if terms else kind


@lru_cache(maxsize=4096)
def _term_pattern(term: str) -> re.Pattern[str]:
    """Whole words or phrases, case-insensitive; any run of spaces matches a space."""
    words = [re.escape(word) for word in term.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


# The non-ASCII letters re.IGNORECASE equates with ASCII ones (re's documentation) and that
# str.lower() does not turn into them.
_ASCII_LOOKALIKES = (("İ", "i"), ("ı", "i"), ("ſ", "s"), ("\u212a", "k"))


def _lowered(haystack: str) -> str:
    """`haystack` lower-cased, those letters as their ASCII twins: what the substring
    pre-tests of keywords read. (str.replace for the letters present: str.translate would
    look every character of a non-ASCII text up in a table, most of a long story's cost.)"""
    if not haystack.isascii():
        for letter, ascii_twin in _ASCII_LOOKALIKES:
            if letter in haystack:
                haystack = haystack.replace(letter, ascii_twin)
    return haystack.lower()


@lru_cache(maxsize=4096)
def _ascii_words(term: str) -> tuple[str, ...] | None:
    """The lower-cased words of an ASCII term, or None: no quick test for it."""
    return tuple(term.lower().split()) if term.isascii() else None


def _found(terms: Iterable[str], haystack: str, folded: str) -> tuple[str, ...]:
    """The terms that occur in `haystack`. An ASCII term none of whose words appear in
    `folded` (the haystack lower-cased) cannot match: most terms do not, and a substring
    test is many times cheaper than the search."""
    found = []
    for term in terms:
        words = _ascii_words(term)
        if words is not None and not all(word in folded for word in words):
            continue
        if _term_pattern(term).search(haystack):
            found.append(term)
    return tuple(found)


def match_topics(
    rules: Sequence[TopicRule], title: str, text: str, *, outlet: str = "", url: str = ""
) -> list[TopicMatch]:
    """The topics whose keywords, query or examples match, and none of whose excludes occur.

    The cheaper rules go first: the examples are scored only when no term matched."""
    haystack = folded = ""  # for keywords and excludes; queries and examples use `doc`
    doc = None
    for rule in rules:  # a loop, not any(): this runs for every story and every topic
        if not haystack and (rule.keywords or rule.exclude):
            haystack = f"{title}\n\n{text}"
            folded = _lowered(haystack)
        if doc is None and (rule.query is not None or rule.like is not None):
            doc = Document(title, text, outlet, url)
    matches = []
    for rule in rules:
        match = _match_rule(rule, haystack, folded, doc)
        if match is not None and not (rule.exclude and _found(rule.exclude, haystack, folded)):
            matches.append(match)
    return matches


def _match_rule(
    rule: TopicRule, haystack: str, folded: str, doc: Document | None
) -> TopicMatch | None:
    terms = _found(rule.keywords, haystack, folded) if rule.keywords else ()
    if terms:
        return TopicMatch(rule.name, terms)
    if doc is None:
        return None
    if rule.query is not None:
        query = compile_query(rule.query)
        if query.matches(doc):
            return TopicMatch(rule.name, query.explain(doc), "query")
    if rule.like is not None:
        best = best_example(rule.like, doc.words_of(("title", "text")))
        if best is not None and best[1] >= rule.like.threshold:
            return TopicMatch(rule.name, (), "like", best[0], best[1])
    return None


def highlights(match: TopicMatch) -> list[re.Pattern[str]]:
    """Patterns that find, in a story's raw headline and text, the terms that made `match`
    (none for a match by similarity): what `monitor topics test` highlights."""
    if match.by == "keywords":
        return [_term_pattern(term) for term in match.terms]
    patterns = []
    for found in match.terms:
        term = parse_query(found.split(" (", 1)[0])  # a wildcard names its words after it
        if isinstance(term, Term):
            words = r"\W+".join(re.escape(w) for w in term.words)
            tail = r"\w*" if term.prefix else ""
            patterns.append(re.compile(rf"(?<!\w){words}{tail}(?!\w)", re.IGNORECASE))
    return patterns
