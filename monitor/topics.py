"""Topic matching: keyword rules over headline and text (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class TopicRule:
    name: str
    keywords: tuple[str, ...]
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TopicMatch:
    topic: str
    terms: tuple[str, ...]  # the configured keywords that matched, in configured order


@lru_cache(maxsize=4096)
def _term_pattern(term: str) -> re.Pattern[str]:
    """Whole words or phrases, case-insensitive; any run of spaces matches a space."""
    words = [re.escape(word) for word in term.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def _found(terms: Iterable[str], haystack: str) -> tuple[str, ...]:
    return tuple(term for term in terms if _term_pattern(term).search(haystack))


def match_topics(rules: Sequence[TopicRule], title: str, text: str) -> list[TopicMatch]:
    """The topics whose keywords occur in the headline or text and none of whose excludes do."""
    haystack = f"{title}\n\n{text}"
    matches = []
    for rule in rules:
        terms = _found(rule.keywords, haystack)
        if terms and not _found(rule.exclude, haystack):
            matches.append(TopicMatch(rule.name, terms))
    return matches
