"""Similarity to example articles: TF-IDF cosine, with no model to download (pure).

The document frequencies come from a corpus (the seeds and the stored stories) and are
refreshed as it grows. What a topic needs to score a story travels to the process-pool
workers with the topic rule, so it is kept small: the examples' weighted vectors, the
inverse document frequency of the examples' own words, and one figure for every other
word (the mean over the corpus), which only enters a story's vector length.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.core.query import words

# Words too common in English news to tell topics apart; dropped before weighting.
_STOP_WORDS = """
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers herself him himself his how i if in into is it
its itself just me more most my myself no nor not now of off on once only or other our ours
ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself yourselves
said says say s t new one two year years week last first
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())


def content_words(text: str) -> list[str]:
    """The words that carry meaning: folded, without stop words and one-letter tokens."""
    return meaningful(words(text))


def meaningful(folded: Sequence[str]) -> list[str]:
    """Of words already folded (monitor.core.query.words), those that carry meaning."""
    return [w for w in folded if len(w) > 1 and w not in STOP_WORDS]


@dataclass(frozen=True, slots=True)
class Corpus:
    """Document frequencies over `size` documents."""

    size: int
    frequencies: dict[str, int]

    @classmethod
    def of(cls, texts: Iterable[str]) -> Corpus:
        counts: Counter[str] = Counter()
        size = 0
        for text in texts:
            counts.update(set(content_words(text)))
            size += 1
        return cls(size, dict(counts))

    def idf(self, word: str) -> float:
        return math.log((1 + self.size) / (1 + self.frequencies.get(word, 0))) + 1.0

    def mean_idf(self, excluding: frozenset[str]) -> float:
        """The idf of a word occurrence drawn from the corpus, words in `excluding` apart."""
        total = weight = 0.0
        for word, count in self.frequencies.items():
            if word not in excluding:
                total += count * self.idf(word)
                weight += count
        return total / weight if weight else self.idf("")


@dataclass(frozen=True, slots=True)
class Example:
    """One example article: its label (`seed 000_x`, a file name) and unit TF-IDF vector."""

    label: str
    vector: dict[str, float]


@dataclass(frozen=True, slots=True)
class Similar:
    """What a topic's `like` rule needs to score a story (small enough to ship per task)."""

    examples: tuple[Example, ...]
    idf: dict[str, float]  # of the examples' words
    other_idf: float  # of any other word
    threshold: float


def _weights(counts: Counter[str], idf: dict[str, float], other: float) -> dict[str, float]:
    return {w: (1.0 + math.log(n)) * idf.get(w, other) for w, n in counts.items()}


def build(examples: Sequence[tuple[str, str]], corpus: Corpus, threshold: float) -> Similar:
    """The rule of a topic whose examples are (label, text) pairs, weighted by `corpus`."""
    counted = [(label, Counter(content_words(text))) for label, text in examples]
    vocabulary = frozenset(w for _, counts in counted for w in counts)
    idf = {w: corpus.idf(w) for w in vocabulary}
    other = corpus.mean_idf(vocabulary)
    built = []
    for label, counts in counted:
        weights = _weights(counts, idf, other)
        norm = math.sqrt(sum(v * v for v in weights.values())) or 1.0
        built.append(Example(label, {w: v / norm for w, v in weights.items()}))
    return Similar(tuple(built), idf, other, threshold)


def best_example(similar: Similar, folded: Sequence[str]) -> tuple[str, float] | None:
    """The example closest to a text, given as its folded words (monitor.core.query.words),
    and the cosine; None when the text has no words that carry meaning.

    One pass over the text's distinct words: only those the examples have can add to a dot
    product; every other one enters the vector's length alone, with the same idf."""
    if not similar.examples:
        return None
    idf = similar.idf
    weights = {}
    known = others = 0.0  # squared lengths: of the examples' words, and of the others' tf
    for word, count in Counter(folded).items():
        if len(word) < 2 or word in STOP_WORDS:
            continue
        tf = 1.0 + math.log(count) if count > 1 else 1.0
        weight = idf.get(word)
        if weight is None:
            others += tf * tf
        else:
            weight = weights[word] = tf * weight
            known += weight * weight
    if not weights and not others:
        return None
    norm = math.sqrt(known + others * similar.other_idf**2)
    best = ("", -1.0)
    for example in similar.examples:
        vector = example.vector
        dot = sum(v * vector[w] for w, v in weights.items() if w in vector)
        score = dot / norm
        if score > best[1]:
            best = (example.label, score)
    return best[0], round(best[1], 4)
