"""The keyword matching monitor used before issue 16, kept verbatim as the cost baseline of
`python -m bench topics` (a helper: no `run`): monitor/core/topics.py as it was, keyword
lists and excludes only. Not used by monitor itself; monitor's own keyword path has been made
faster since (its answers are the same), so the baseline lives here.

Topic matching: keyword rules over headline and text (pure).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from monitor.core.topics import TopicMatch, TopicRule


@lru_cache(maxsize=4096)
def _term_pattern(term: str) -> re.Pattern[str]:
    """Whole words or phrases, case-insensitive; any run of spaces matches a space."""
    words = [re.escape(word) for word in term.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


# The non-ASCII letters re.IGNORECASE equates with ASCII ones (re's documentation) and that
# str.lower() does not turn into them.
_ASCII_LOOKALIKES = str.maketrans({"İ": "i", "ı": "i", "ſ": "s", "K": "k"})


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


def match_topics(rules: Sequence[TopicRule], title: str, text: str) -> list[TopicMatch]:
    """The topics whose keywords occur in the headline or text and none of whose excludes do."""
    haystack = f"{title}\n\n{text}"
    folded = haystack.translate(_ASCII_LOOKALIKES).lower()
    matches = []
    for rule in rules:
        terms = _found(rule.keywords, haystack, folded)
        if terms and not _found(rule.exclude, haystack, folded):
            matches.append(TopicMatch(rule.name, terms))
    return matches
