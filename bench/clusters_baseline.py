"""The clustering monitor used before issue 16, kept verbatim as the baseline of
`python -m bench clusters` (a helper: no `run`): monitor/core/clusters.py, then the store's
candidate look-up of monitor/store/queries.py (ClusterTermsCache, cluster_candidates). Not
used by monitor itself.

Coverage clusters (pure): distinct stories about the same event, grouped.

A story's *terms* are the distinctive words of its headline and lead: names (capitalised
words), numbers, and longer words that are not stopwords. Two stories are about the same
event when the terms they share carry enough weight: a weighted Jaccard similarity in which
each term weighs its inverse document frequency among the stories of the window, so that
"DeepSeek" in a window full of DeepSeek stories counts for little and "H800" or "App Store"
for a lot.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.store.models import Story, StoryTopic

LEAD_WORDS = 40
THRESHOLD = 0.15

_WORD = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*")
_POSSESSIVE = re.compile(r"['’]s$")
_STOPWORDS = frozenset(
    """
    a about above after again against all also although am an and any are as at be because
    been before being below between both but by can could did do does doing down during
    each few for from further had has have having he her here hers him his how i if in into
    is it its itself just me more most my no nor not now of off on once only or other our
    out over own same says said she should so some such than that the their them then there
    these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your according percent year years week
    monday tuesday wednesday thursday friday saturday sunday today yesterday new news
    report reported reports told people first last since many much like
    """.split()  # noqa: SIM905 (a word list reads better as text)
)


def cluster_terms(title: str, text: str) -> frozenset[str]:
    """The distinctive words of a headline and the first LEAD_WORDS words of the text."""
    lead = " ".join(text.split()[:LEAD_WORDS])
    terms = set()
    for found in _WORD.findall(f"{title} {lead}"):
        word = _POSSESSIVE.sub("", found)
        lowered = word.casefold()
        if lowered in _STOPWORDS:
            continue
        if word[0].isupper() or any(ch.isdigit() for ch in word) or len(word) >= 6:
            terms.add(lowered)
    return frozenset(terms)


def inverse_document_frequencies(
    documents: Iterable[frozenset[str]], *, only: frozenset[str] | None = None
) -> dict[str, float]:
    """idf(t) = log(1 + N / df(t)) over the documents given (the window's stories); for the
    terms in `only` alone when given (N still counts every document)."""
    counts: Counter[str] = Counter()
    total = 0
    for terms in documents:
        counts.update(terms if only is None else terms & only)
        total += 1
    return {term: math.log(1 + total / df) for term, df in counts.items()}


def similarity(a: frozenset[str], b: frozenset[str], idf: Mapping[str, float]) -> float:
    """Weighted Jaccard: the weight of the shared terms over the weight of all terms."""
    union = a | b
    if not union:
        return 0.0
    default = max(idf.values(), default=1.0)
    return _weighted_jaccard(a, b, idf, default)


def _weighted_jaccard(
    a: frozenset[str], b: frozenset[str], idf: Mapping[str, float], default: float
) -> float:
    shared = sum(idf.get(term, default) for term in a & b)
    return shared / sum(idf.get(term, default) for term in a | b)


def best_cluster(
    terms: frozenset[str],
    candidates: Mapping[int, tuple[int, frozenset[str]]],
    *,
    threshold: float = THRESHOLD,
) -> tuple[int, float] | None:
    """The cluster of the most similar candidate story, if similar enough (threshold > 0).

    `candidates` maps story id → (its cluster id, its terms). Returns (cluster id, score).
    Only candidates sharing a term can score above 0, so only they are scored, and only
    the weights of their terms are computed: the window may hold thousands of stories.
    """
    if not terms or not candidates:
        return None
    sharing = [
        (cluster, other) for cluster, other in candidates.values() if not terms.isdisjoint(other)
    ]
    if not sharing:
        return None
    needed = terms.union(*(other for _, other in sharing))
    idf = inverse_document_frequencies(
        [terms, *(other for _, other in candidates.values())], only=needed
    )
    default = max(idf.values(), default=1.0)
    best: tuple[int, float] | None = None
    for cluster_id, other in sharing:
        score = _weighted_jaccard(terms, other, idf, default)
        if score >= threshold and (best is None or score > best[1]):
            best = (cluster_id, score)
    return best


# ---------------------------------------------------------------- monitor/store/queries.py

ClusterTerms = tuple[int, frozenset[str]]  # a story's cluster id and terms: set once, at its start


class ClusterTermsCache:
    """Stories' cluster ids and terms, kept between clustering calls (from several threads):
    they never change once stored, so each is read and decoded once."""

    def __init__(self) -> None:
        self._known: dict[int, ClusterTerms] = {}
        self._lock = threading.Lock()

    def lookup(self, ids: Sequence[int]) -> tuple[dict[int, ClusterTerms], list[int]]:
        """(what is known of `ids`, the ids not known)."""
        with self._lock:
            found = {i: self._known[i] for i in ids if i in self._known}
        return found, [i for i in ids if i not in found]

    def add(self, entries: dict[int, ClusterTerms], *, keep: Sequence[int]) -> None:
        """Remember `entries`; past a size well beyond `keep` (the window), forget the rest."""
        with self._lock:
            self._known.update(entries)
            if len(self._known) > 2 * len(keep) + 10_000:
                self._known = {i: self._known[i] for i in keep if i in self._known}


def cluster_candidates(
    session: Session,
    *,
    since: datetime,
    topics: Sequence[str],
    exclude: int | None,
    cache: ClusterTermsCache | None = None,
) -> dict[int, ClusterTerms]:
    """Recent clustered stories sharing a topic: story id → (cluster id, terms)."""
    if not topics:
        return {}
    ids = session.scalars(
        select(Story.id).where(
            Story.first_seen_at >= since,
            Story.cluster_id.is_not(None),
            Story.id != (exclude if exclude is not None else -1),
            Story.id.in_(select(StoryTopic.story_id).where(StoryTopic.topic.in_(topics))),
        )
    ).all()
    found, missing = cache.lookup(ids) if cache is not None else ({}, list(ids))
    read: dict[int, ClusterTerms] = {}
    for start in range(0, len(missing), 500):
        rows = session.execute(
            select(Story.id, Story.cluster_id, Story.cluster_terms).where(
                Story.id.in_(missing[start : start + 500])
            )
        )
        for story_id, cluster_id, terms in rows:
            if cluster_id is not None:
                read[story_id] = (cluster_id, frozenset(terms or ()))
    if cache is not None and read:
        cache.add(read, keep=ids)
    found.update(read)
    return {story_id: found[story_id] for story_id in ids if story_id in found}
