"""Coverage clusters (pure): distinct stories about the same event, grouped.

Outlets paraphrase an event but cannot paraphrase away its facts: the people and companies
named, the amounts, the dates, the words someone was quoted saying. A story's *terms* are
taken from its headline and lead, each tagged with its kind:

    e:h20       an identifier: a word with a digit (H20, V3.1, MI308, R1)
    n:5.89e+11  a number with its scale written out ($589 billion = $589bn); p:17 a
                percentage (17%, 17 per cent)
    d:01-27     a date (January 27, 27 Jan., or "Monday" read against the publication time)
    q:have the money  three words in a row of a quotation
    w:distil    a word of four letters or more, an acronym or a short name, cut to its first
                STEM letters so that "distilled" and "distillation" meet

A term weighs its kind's weight times its rarity squared: its inverse document frequency
among the background of stories seen (`EventIndex`) over the highest possible, so a name
every other story carries ("DeepSeek" in a DeepSeek window) weighs next to nothing and
"UE8M0" or "$589bn" nearly its full weight. Two stories' *pair score* is the weight of the
terms they share, a term of one headline counting HEADLINE_BONUS times, of both
BOTH_HEADLINES_BONUS times, and the shared words (w:) WORD_CAP at most (beyond that, it
takes a fact). It is zero unless MIN_SPECIFIC of the shared terms are specific (the
famous-name guard: an identifier, number, date, quotation, or a word in at most
FAMOUS_SHARE of the background's stories; two events sharing only famous names and their
beat's vocabulary never match), and zero when they share words only and their headlines
nothing (a lead that mentions another story's subject in passing is not its event: this
holds even while the background is too small to tell famous words from rare ones).

While the background holds fewer than SMALL_BACKGROUND = 1 / FAMOUS_SHARE stories (a fresh
install), its counts cannot make any word famous: a word seen once is as rare as it can
look. Until then what monitor knows beforehand decides: the words of the topic keywords a
story matched (in every story of the topic by definition: "DeepSeek", "Stargate") and the
stems common in general English (Zipf frequency COMMON_ZIPF or more in
data/general_words.txt: "model", "campus", "reasoning") are famous; names and rarer words
("Hangzhou", "coding") and facts stay specific.

A story joins a cluster when the mean of its pair scores with the cluster's members in the
window, each shrunk linearly with the time between the two (zero at the window's edge),
reaches the threshold — of several, the one it resembles most (the same mean without the
cap on words); else it starts a cluster. Averaging over the cluster, not taking the best
member, keeps a follow-up that repeats one report's numbers out of the event it follows;
the window keeps everything older out.

`EventIndex` keeps the window's stories in an inverted index (term → stories) and the
background's document frequencies, kept up to date as stories arrive and leave, so that a
look-up costs the same however many stories the window and the store hold: only specific
terms carried by at most MAX_POSTINGS stories of the window find candidates, the MAX_SCORED
clusters sharing the most of them are scored, each against at most MAX_MEMBERS members, and
the background halves its counts past BACKGROUND_STORIES stories (older coverage counting
less, memory bounded).
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from itertools import islice

LEAD_WORDS = 80  # of the text, after the headline
STEM = 6
THRESHOLD = 3.3  # the default of [clusters] threshold
KIND_WEIGHTS = {"e": 2.0, "n": 2.0, "p": 2.0, "d": 1.5, "q": 1.5, "w": 1.0}
RARITY_POWER = 2
HEADLINE_BONUS = 1.5  # a shared term in one of the two headlines counts this many times
BOTH_HEADLINES_BONUS = 2.5  # … in both
WORD_CAP = 5.0  # shared words (w:) count at most this much: beyond it, it takes a fact
SPECIFIC_KINDS = frozenset("enpdq")  # specific whatever their frequency
FAMOUS_SHARE = 0.05  # a word in more of the background's stories than this is famous
MIN_SPECIFIC = 1  # specific shared terms a pair needs (the famous-name guard)
PRIOR_STORIES = 150  # the background counts this many stories more, without terms: until it
#                      holds enough of its own, a word is taken to be rare, not famous
SMALL_BACKGROUND = round(1 / FAMOUS_SHARE)  # fewer stories: no word can be told famous by them
COMMON_ZIPF = 4.5  # as frequent in general English (Zipf scale): famous in a small background
BACKGROUND_STORIES = 50_000  # past this many, the background's counts are halved
MAX_POSTINGS = 128  # a term carried by more of the window's stories finds no candidates
MAX_SCORED = 16  # candidate clusters scored: those sharing the most candidate-finding terms
MAX_MEMBERS = 16  # a cluster is scored against its most recent members
HEADLINE = "^"  # marks a headline's term in a story's stored terms

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE = re.compile(
    rf"\b(?:(?P<m1>{_MONTH})\.?\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?"
    rf"|(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<m2>{_MONTH})\b\.?)(?!\d)",
    re.IGNORECASE,
)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY = re.compile(rf"\b({'|'.join(_WEEKDAYS)})(?:['’]s)?\b", re.IGNORECASE)
_NUMBER = re.compile(
    r"(?<![\w.])(?P<num>\d{1,3}(?:,\d{3})+|\d+)(?P<dec>\.\d+)?"
    r"(?:\s?(?P<scale>%|(?:trillion|billion|million|thousand|tn|bn|b|m|per\s?cent)\b)"
    r"|(?P<unit>[a-z]+))?",
    re.IGNORECASE,
)
_SCALES = {"trillion": 1e12, "tn": 1e12, "billion": 1e9, "bn": 1e9, "b": 1e9, "million": 1e6}
_SCALES |= {"m": 1e6, "thousand": 1e3}
_UNITS = frozenset(  # after a number, not part of an identifier: 1.2GW, 16nm
    "gw gigawatt gigawatts mw megawatt megawatts nm gb tb mb tokens gpus chips".split()  # noqa: SIM905
)
_QUOTE = re.compile(
    r"[\"“”](?P<a>[^\"“”]{6,}?)[\"“”]|(?:(?<=\s)|^)['‘](?P<b>[^'‘’\n]{6,}?)['’](?=[\s.,;:!?)]|$)"
)
_TOKEN = re.compile(r"[^\W_]+(?:(?:['’]|\.(?=\d))[^\W_]+)*", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?:;\"“”'‘’]$")
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)
_STOPWORDS = frozenset(
    """
    a about above after again against all also although am an and any are as at be because
    been before being below between both but by can could did do does doing down during
    each few for from further had has have having he her here hers him his how i if in into
    is it its itself just me more most my no nor not now of off on once only or other our
    out over own same says said she should so some such than that the their them then there
    these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your according percent per cent year years
    week monday tuesday wednesday thursday friday saturday sunday today yesterday new news
    report reported reports told people first last since many much like about after before
    says saying said week weeks day days month months company companies firm time times
    """.split()  # noqa: SIM905 (a word list reads better as text)
)


def cluster_terms(title: str, text: str, published: datetime | None = None) -> frozenset[str]:
    """The kind-tagged terms of a headline and the first LEAD_WORDS words of its text;
    those of the headline marked with HEADLINE (see `split_terms`). With the time it was
    published, a weekday ("on Monday") is the date of that day in the week before."""
    lead = " ".join(text.split()[:LEAD_WORDS])
    in_title = _terms(title, published)
    return frozenset({HEADLINE + t for t in in_title} | (_terms(lead, published) - in_title))


def split_terms(terms: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(every term, the headline's terms) of a story's stored terms."""
    plain = frozenset(t.removeprefix(HEADLINE) for t in terms)
    return plain, frozenset(t[1:] for t in terms if t.startswith(HEADLINE))


def _terms(part: str, published: datetime | None) -> set[str]:
    terms: set[str] = set(_quotation_terms(part))
    part = _DATE.sub(lambda m: _date_term(m, terms), part)
    if published is not None:
        part = _WEEKDAY.sub(lambda m: _weekday_term(m, published, terms), part)
    part = _NUMBER.sub(lambda m: _number_term(m, terms), part)
    terms.update(_word_terms(part))
    return terms


def _date_term(match: re.Match[str], terms: set[str]) -> str:
    month = _MONTHS[(match["m1"] or match["m2"]).casefold()]
    day = int(match["d1"] or match["d2"])
    if 1 <= day <= 31:
        terms.add(f"d:{month:02d}-{day:02d}")
    return " , "


def _weekday_term(match: re.Match[str], published: datetime, terms: set[str]) -> str:
    back = (published.weekday() - _WEEKDAYS.index(match[1].casefold())) % 7
    if published.toordinal() > back:  # not before 1 January of year 1
        day = published - timedelta(days=back)
        terms.add(f"d:{day.month:02d}-{day.day:02d}")
    return " , "


def _number_term(match: re.Match[str], terms: set[str]) -> str:
    value = float(match["num"].replace(",", "") + (match["dec"] or ""))
    scale = (match["scale"] or "").casefold().replace(" ", "")
    if scale in ("%", "percent"):
        terms.add(f"p:{value:g}")
    elif scale:
        terms.add(f"n:{value * _SCALES[scale]:.6g}")
    elif match["unit"] and match["unit"].casefold() not in _UNITS:  # 4o, 3B: an identifier
        terms.add("e:" + match[0].casefold())
    elif value >= 10 or match["dec"]:
        terms.add(f"n:{value:.6g}")
    return " , "


def _quotation_terms(text: str) -> Iterator[str]:
    for match in _QUOTE.finditer(text):
        words = [w.casefold() for w in _TOKEN.findall(match["a"] or match["b"] or "")]
        for start in range(len(words) - 2):
            yield "q:" + " ".join(words[start : start + 3])


def _word_terms(text: str) -> Iterator[str]:
    """Identifiers (H20, V3.1) as e:, and as w: the words of four letters or more, the
    acronyms (US, BIS) and the short names inside a sentence (Li, Son)."""
    starts_sentence = True
    for raw in re.split(r"[\s\-–—/]+", text):
        found = _TOKEN.search(raw)
        if found is not None:
            word = _POSSESSIVE.sub("", found[0])
            lowered = word.casefold()
            if lowered in _STOPWORDS:
                pass
            elif any(ch.isdigit() for ch in word):
                yield "e:" + lowered
            elif len(word) >= 4 or word.isupper() or (word[0].isupper() and not starts_sentence):
                yield "w:" + _stem(lowered)
        starts_sentence = bool(_SENTENCE_END.search(raw))


def _stem(word: str) -> str:
    """A crude stem: without a plural s, the first STEM letters ("chips" → "chip",
    "distilled", "distillation" → "distil")."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return word[:STEM]


def keyword_terms(keywords: Iterable[str]) -> frozenset[str]:
    """The words (w: terms) of the topic keywords a story matched: famous by definition
    (every story of the topic carries one), whatever the background has seen. Identifiers
    (H20) stay facts."""
    return frozenset(
        term for keyword in keywords for term in _word_terms(keyword) if term.startswith("w:")
    )


def kind(term: str) -> str:
    """A term's kind: e, n, p, d, q or w (see the module's docstring)."""
    return term[0] if term[1:2] == ":" else "w"


@dataclass(frozen=True, slots=True)
class Indexed:
    """A clustered story as the index keeps it."""

    cluster_id: int
    seen: datetime  # when it was first seen: the window is counted from this
    topics: frozenset[str]
    terms: frozenset[str]  # every term (split_terms)
    headline: frozenset[str] = frozenset()  # those of the headline

    @classmethod
    def of(
        cls, cluster_id: int, seen: datetime, topics: Iterable[str], stored: Iterable[str]
    ) -> Indexed:
        """From a story's stored terms (cluster_terms' output)."""
        terms, headline = split_terms(stored)
        return cls(cluster_id, seen, frozenset(topics), terms, headline)


class EventIndex:
    """The window's clustered stories, an inverted index over their terms (whose lengths are
    the terms' document frequencies) and the clusters' members, kept up to date as stories
    are added and leave the window."""

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self._stories: dict[int, Indexed] = {}
        self._postings: dict[str, set[int]] = {}
        self._members: dict[int, dict[int, None]] = {}  # cluster → its stories, oldest first
        self._expiry: list[tuple[datetime, int]] = []
        self._df: Counter[str] = Counter()  # the background: stories learnt and added
        self._total = 0

    def __len__(self) -> int:
        return len(self._stories)

    def __contains__(self, story_id: object) -> bool:
        return story_id in self._stories

    def learn(self, terms: Iterable[str]) -> None:
        """Count a story's terms (stored terms) in the background only: a story seen before
        the window."""
        self._count(split_terms(terms)[0])

    def _count(self, terms: frozenset[str]) -> None:
        self._df.update(terms)
        self._total += 1
        if self._total > BACKGROUND_STORIES:
            self._df = Counter({t: n // 2 for t, n in self._df.items() if n > 1})
            self._total //= 2

    def add(self, story_id: int, story: Indexed) -> None:
        """Index a story and count it in the background (indexed again: replaced, counted
        once)."""
        if story_id in self._stories:
            self._remove(story_id)
        else:
            self._count(story.terms)
        self._stories[story_id] = story
        for term in story.terms:
            self._postings.setdefault(term, set()).add(story_id)
        self._members.setdefault(story.cluster_id, {})[story_id] = None
        heapq.heappush(self._expiry, (story.seen, story_id))

    def expire(self, now: datetime) -> None:
        """Forget the stories first seen before the window that ends at `now`."""
        horizon = now - self.window
        while self._expiry and self._expiry[0][0] < horizon:
            seen, story_id = heapq.heappop(self._expiry)
            story = self._stories.get(story_id)
            if story is not None and story.seen == seen:
                self._remove(story_id)

    def _remove(self, story_id: int) -> None:
        story = self._stories.pop(story_id)
        for term in story.terms:
            holders = self._postings[term]
            holders.discard(story_id)
            if not holders:
                del self._postings[term]
        members = self._members[story.cluster_id]
        del members[story_id]
        if not members:
            del self._members[story.cluster_id]

    def document_frequency(self, term: str) -> int:
        """In how many of the background's stories the term is."""
        return self._df[term]

    @property
    def background(self) -> int:
        """How many stories the background counts."""
        return self._total

    def best_cluster(
        self,
        terms: frozenset[str],
        *,
        topics: Iterable[str],
        seen: datetime,
        threshold: float = THRESHOLD,
        keywords: frozenset[str] = frozenset(),
    ) -> tuple[int, float] | None:
        """The best-matching cluster of the window for a story (its stored terms), if it
        matches well enough: (cluster id, score). `keywords`: the words of the topic keywords
        it matched (`keyword_terms`). See the module's docstring."""
        story = Indexed.of(0, seen, topics, terms)
        if not story.terms or not story.topics:
            return None
        weigh = _Weights(self, self._total + 1 + PRIOR_STORIES, keywords)
        finding: Counter[int] = Counter()  # under the guard, only specific terms can
        for term in story.terms:
            holders = self._postings.get(term, ())
            if 0 < len(holders) <= MAX_POSTINGS and (MIN_SPECIFIC < 1 or weigh.specific(term)):
                finding.update(self._stories[other].cluster_id for other in holders)
        best: tuple[int, float] | None = None
        best_raw = 0.0
        for cluster_id, _ in finding.most_common(MAX_SCORED):
            score, raw = self._cluster_score(story, cluster_id, weigh)
            if score >= threshold and (best is None or raw > best_raw):
                best, best_raw = (cluster_id, score), raw
        return best

    def _cluster_score(
        self, story: Indexed, cluster_id: int, weigh: _Weights
    ) -> tuple[float, float]:
        """The mean of the story's pair scores (capped, uncapped) with the cluster's recent
        members that share one of its topics and are within the window."""
        members = islice(reversed(self._members[cluster_id]), MAX_MEMBERS)
        capped = raw = 0.0
        count = 0
        for member_id in members:
            other = self._stories[member_id]
            apart = abs(other.seen - story.seen)
            if apart > self.window or other.topics.isdisjoint(story.topics):
                continue
            nearness = 1 - apart / self.window
            score, uncapped = pair_score(story, other, weigh)
            capped += score * nearness
            raw += uncapped * nearness
            count += 1
        return (capped / count, raw / count) if count else (0.0, 0.0)


class _Weights:
    """Term weights for one look-up: kind weight × (idf / the highest idf)^RARITY_POWER, the
    idf over the background, the new story and PRIOR_STORIES."""

    def __init__(
        self, index: EventIndex, total: int, keywords: frozenset[str] = frozenset()
    ) -> None:
        self.index = index
        self.keywords = keywords
        self.total = total
        self.top = _idf(1, total)
        self.famous = FAMOUS_SHARE * total
        self._known: dict[str, float] = {}
        self._specific: dict[str, bool] = {}

    def __call__(self, term: str) -> float:
        known = self._known.get(term)
        if known is None:
            df = self.index.document_frequency(term) + 1
            rarity = _idf(df, self.total) / self.top if self.top > 0 else 0.0
            known = self._known[term] = KIND_WEIGHTS[kind(term)] * rarity**RARITY_POWER
        return known

    def specific(self, term: str) -> bool:
        """Not a famous name: a fact (an identifier, a number, a date, a quotation), or a
        word that few of the background's stories carry and, while the background is too
        small to tell, neither a word of the story's topic keywords nor common in general
        English."""
        known = self._specific.get(term)
        if known is None:
            known = self._specific[term] = kind(term) in SPECIFIC_KINDS or (
                self.index.document_frequency(term) + 1 <= max(2.0, self.famous)
                and not (self.index.background < SMALL_BACKGROUND and self._famous_a_priori(term))
            )
        return known

    def _famous_a_priori(self, term: str) -> bool:
        return term in self.keywords or general_zipf(term) >= COMMON_ZIPF


def _is_word(term: str) -> bool:
    """A w: term (or one stored before terms had kinds)."""
    return term[1:2] != ":" or term[0] == "w"


@cache
def _general_words() -> dict[str, float]:
    """Word stems (as `_stem` cuts them) of general English and their Zipf frequencies
    (log10 of the uses per billion words), from the package's data/general_words.txt."""
    text = resources.files("monitor.core").joinpath("data/general_words.txt")
    stems = {}
    for line in text.read_text("utf-8").splitlines():
        if line and not line.startswith("#"):
            stem, zipf = line.split()
            stems[stem] = float(zipf)
    return stems


def general_zipf(term: str) -> float:
    """A word term's Zipf frequency in general English (0: rarer than the table holds; a
    fact: 0)."""
    return _general_words().get(term[2:], 0.0) if term.startswith("w:") else 0.0


def _idf(df: int, total: int) -> float:
    return max(0.0, math.log((total - df + 0.5) / (df + 0.5)))


def pair_score(a: Indexed, b: Indexed, weigh: _Weights) -> tuple[float, float]:
    """The weight of the terms two stories share (more in the headlines), the shared words
    capped at WORD_CAP, and uncapped; 0 unless MIN_SPECIFIC of them are specific (the
    famous-name guard) and, when they share only words, the headlines share one."""
    shared = a.terms & b.terms
    specific = 0
    for term in shared:
        specific += weigh.specific(term)
        if specific >= MIN_SPECIFIC:
            break
    if specific < MIN_SPECIFIC:
        return 0.0, 0.0
    if not (a.headline & b.headline) and all(_is_word(term) for term in shared):
        return 0.0, 0.0  # words alone, and not one of the headlines' subject
    words = facts = 0.0
    for term in shared:
        weight = weigh(term)
        if term in a.headline and term in b.headline:
            weight *= BOTH_HEADLINES_BONUS
        elif term in a.headline or term in b.headline:
            weight *= HEADLINE_BONUS
        if _is_word(term):
            words += weight
        else:
            facts += weight
    return facts + min(words, WORD_CAP), facts + words
