"""clusters: how well stories are grouped into events, and what grouping costs per article.

Quality is measured on the labelled set in tests/data/events/ (see its README): articles in
the order they were published, each clustered against the earlier ones within the window
(`[clusters] window`, 3 days) the way the writer does it, then compared with the labelled
events pairwise — precision: of the pairs put in one cluster, the share that are one event;
recall: of the pairs that are one event, the share put in one cluster — and by the adjusted
Rand index. Off-topic noise articles belong to no event: any pair with one is a wrong merge.
Topics are ignored (every article may join any other): stricter than the pipeline, where
a candidate must share a topic.

The baseline row is monitor's clustering before issue 16 (bench/clusters_baseline.py: IDF-
weighted Jaccard of names, numbers and long words of headline + 40 words, threshold 0.15,
the IDF computed over the window's stories for every story), run in the same process.

Cost, in CPU time per article (the machine is shared: wall time would measure the others):
- an index (monitor.core.clusters.EventIndex) holding 100,000 stories (10,000 with --quick),
  every one of them inside the window (the worst case), then the time to cluster and add one
  more article, averaged over labelled articles; the baseline scores the same articles
  against the same stories its way (every story of the window weighed per article);
- the writer's look-up (monitor.store.clusters.StoredEvents) on a SQLite file of 100,000
  stored stories spread over 100 days, each article then stored as the writer stores it;
  the baseline is the previous store path (cluster_candidates with its cache of terms, then
  best_cluster).
The stored stories are the labelled articles with their identifiers, numbers, dates,
quotations and one word in five renamed per copy, so that their vocabulary and frequencies
look like a long stream of coverage.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from itertools import combinations
from math import comb
from pathlib import Path

from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from bench import Options, Report, Row
from bench import clusters_baseline as baseline
from monitor import defaults
from monitor.config import TopicConfig
from monitor.core import clusters
from monitor.core.topics import TopicRule, match_topics
from monitor.store import db
from monitor.store.clusters import StoredEvents
from monitor.store.models import Story, StoryTopic
from monitor.store.topic_rules import rule_of

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "events" / "articles.jsonl"
WINDOW = timedelta(days=3)
ALL = frozenset({"all"})


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    event: str | None
    topic: str | None
    outlet: str
    published: datetime
    headline: str
    text: str


def load_articles(path: Path = DATA) -> list[Article]:
    """The labelled articles, in the order they were published."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            found.append(
                Article(
                    row["id"],
                    row["event"],
                    row["topic"],
                    row["outlet"],
                    datetime.fromisoformat(row["published"]),
                    row["headline"],
                    row["text"],
                )
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: not a labelled article ({error})") from error
    return sorted(found, key=lambda a: (a.published, a.id))


Clusterer = Callable[[Sequence[Article]], list[int]]


def cluster_monitor(
    articles: Sequence[Article],
    threshold: float = clusters.THRESHOLD,
    background: Sequence[Article] = (),
) -> list[int]:
    """Each article's cluster (an index into `articles`), as monitor clusters them now,
    after counting the `background` articles' terms (stored before, outside the window)."""
    index = clusters.EventIndex(WINDOW)
    for article in background:
        index.learn(clusters.cluster_terms(article.headline, article.text))
    assigned: list[int] = []
    for number, article in enumerate(articles):
        terms = clusters.cluster_terms(article.headline, article.text, article.published)
        index.expire(article.published)
        best = index.best_cluster(
            terms,
            topics=ALL,
            seen=article.published,
            threshold=threshold,
            keywords=keyword_terms(article),
        )
        cluster = best[0] if best else number
        index.add(number, clusters.Indexed.of(cluster, article.published, ALL, terms))
        assigned.append(cluster)
    return assigned


@cache
def _shipped_topics() -> tuple[TopicRule, ...]:
    """The topics of the shipped configuration (what `monitor init` writes), without their
    examples: the words a story matched by keywords or by query terms are what counts here."""
    topics = tomllib.loads(defaults.config_text())["topics"]
    return tuple(rule_of(TopicConfig.model_validate({**t, "like": []})) for t in topics)


def keyword_terms(article: Article) -> frozenset[str]:
    """The words of the shipped topics' keywords the article carries, as the writer passes
    them for the keywords a story matched."""
    matches = match_topics(_shipped_topics(), article.headline, article.text)
    return clusters.keyword_terms(term for match in matches for term in match.terms)


def cluster_baseline(articles: Sequence[Article]) -> list[int]:
    """Each article's cluster as monitor clustered them before issue 16."""
    assigned: list[int] = []
    terms = [baseline.cluster_terms(a.headline, a.text) for a in articles]
    for number, article in enumerate(articles):
        since = article.published - WINDOW
        candidates = {
            other: (assigned[other], terms[other])
            for other in range(number)
            if articles[other].published >= since
        }
        best = baseline.best_cluster(terms[number], candidates)
        assigned.append(best[0] if best else number)
    return assigned


@dataclass(frozen=True, slots=True)
class Quality:
    precision: float
    recall: float
    ari: float
    clusters: int


def quality(articles: Sequence[Article], assigned: Sequence[int]) -> Quality:
    """Pairwise precision and recall and the adjusted Rand index against the labels (each
    noise article an event of its own)."""
    truth = [a.event if a.event is not None else f"noise:{a.id}" for a in articles]
    together = same = both = 0
    for i, j in combinations(range(len(articles)), 2):
        predicted = assigned[i] == assigned[j]
        labelled = truth[i] == truth[j]
        together += predicted
        same += labelled
        both += predicted and labelled
    precision = both / together if together else 1.0
    recall = both / same if same else 1.0
    return Quality(precision, recall, adjusted_rand_index(truth, assigned), len(set(assigned)))


def adjusted_rand_index(truth: Sequence[object], assigned: Sequence[object]) -> float:
    """Hubert and Arabie's adjusted Rand index of two partitions of the same items."""
    pairs = Counter(zip(truth, assigned, strict=True))
    index = sum(comb(n, 2) for n in pairs.values())
    rows = sum(comb(n, 2) for n in Counter(truth).values())
    columns = sum(comb(n, 2) for n in Counter(assigned).values())
    expected = rows * columns / comb(len(truth), 2)
    maximum = (rows + columns) / 2
    return 1.0 if maximum == expected else (index - expected) / (maximum - expected)


# ---------------------------------------------------------------- cost at scale


def stored_terms(articles: Sequence[Article], count: int, seed: int = 16) -> list[frozenset[str]]:
    """`count` term sets shaped like the labelled articles' but each story its own: every
    name, number, date and quotation renamed per copy, the common words kept."""
    rng = random.Random(seed)
    base = [clusters.cluster_terms(a.headline, a.text, a.published) for a in articles]
    made = []
    for number in range(count):
        copy = number // len(base)
        source = base[rng.randrange(len(base))]
        made.append(
            frozenset(
                term if term.startswith("w:") and rng.random() < 0.8 else f"{term}~{copy}"
                for term in source
            )
        )
    return made


def cost_monitor(articles: Sequence[Article], stored: Sequence[frozenset[str]]) -> float:
    """Seconds to cluster and index one article with `stored` stories in the window."""
    start = articles[0].published
    index = clusters.EventIndex(timedelta(days=3650))
    for number, terms in enumerate(stored):
        index.add(number, clusters.Indexed.of(number, start, ALL, terms))
    probes = [clusters.cluster_terms(a.headline, a.text, a.published) for a in articles]
    began = time.process_time()
    for offset, terms in enumerate(probes):
        index.expire(start)
        best = index.best_cluster(terms, topics=ALL, seen=start)
        story_id = len(stored) + offset
        cluster = best[0] if best else story_id
        index.add(story_id, clusters.Indexed.of(cluster, start, ALL, terms))
    return (time.process_time() - began) / len(probes)


def cost_baseline(articles: Sequence[Article], stored: Sequence[frozenset[str]]) -> float:
    """Seconds per article for the baseline: every stored story is a candidate."""
    candidates = {number: (number, terms) for number, terms in enumerate(stored)}
    probes = [baseline.cluster_terms(a.headline, a.text) for a in articles]
    began = time.process_time()
    for terms in probes:
        baseline.best_cluster(terms, candidates)
    return (time.process_time() - began) / len(probes)


# ---------------------------------------------------------------- the writer's look-up


STORE_DAYS = 100  # the stored stories are spread over this many days, the newest last


def fill_store(engine: Engine, stored: Sequence[frozenset[str]], now: datetime) -> None:
    """`stored` as clustered stories of topic "deepseek", first seen evenly over STORE_DAYS
    days up to `now`, each its own cluster (ids 1…)."""
    step = timedelta(days=STORE_DAYS) / len(stored)
    with engine.begin() as connection:
        for start in range(0, len(stored), 5_000):
            chunk = range(start, min(start + 5_000, len(stored)))
            connection.execute(
                insert(Story),
                [
                    {
                        "id": number + 1,
                        "url": f"https://news.example.org/{number}",
                        "first_seen_at": now - step * (len(stored) - number),
                        "status": "active",
                        "title": "",
                        "version_count": 1,
                        "recheck_step": 0,
                        "cluster_id": number + 1,
                        "cluster_terms": sorted(stored[number]),
                    }
                    for number in chunk
                ],
            )
            connection.execute(
                insert(StoryTopic),
                [{"story_id": n + 1, "topic": "deepseek", "terms": []} for n in chunk],
            )


def store_costs(engine: Engine, articles: Sequence[Article], now: datetime) -> tuple[float, float]:
    """Seconds per article of the writer's cluster look-up on the database's stories, each
    article then stored as the writer stores it: (monitor, baseline). Both sides are warm
    (monitor's index loaded, the baseline's cache of terms filled) by a first look-up that
    is not timed."""
    sessions = db.session_factory(engine)
    probes = [clusters.cluster_terms(a.headline, a.text, a.published) for a in articles]
    events = StoredEvents(WINDOW)
    cache = baseline.ClusterTermsCache()

    def monitor_lookup(session: Session, terms: frozenset[str], at: datetime) -> int | None:
        found = events.best_cluster(session, terms, ["deepseek"], at, clusters.THRESHOLD)
        return found[0] if found else None

    def baseline_lookup(session: Session, terms: frozenset[str], at: datetime) -> int | None:
        candidates = baseline.cluster_candidates(
            session, since=at - WINDOW, topics=["deepseek"], exclude=None, cache=cache
        )
        found = baseline.best_cluster(terms, candidates)
        return found[0] if found else None

    def timed(lookup: Callable[[Session, frozenset[str], datetime], int | None]) -> float:
        spent = 0.0
        for offset, terms in enumerate([probes[0], *probes]):
            at = now + timedelta(seconds=offset)
            with sessions.begin() as session:
                began = time.process_time()
                cluster = lookup(session, terms, at)
                if offset:
                    spent += time.process_time() - began
                story = Story(
                    url=f"https://news.example.org/new/{id(lookup)}/{offset}",
                    first_seen_at=at,
                    status="active",
                    title="",
                    version_count=1,
                    recheck_step=0,
                    cluster_terms=sorted(terms),
                )
                session.add(story)
                session.flush()
                story.cluster_id = cluster or story.id
                session.add(StoryTopic(story_id=story.id, topic="deepseek", terms=[]))
        return spent / len(probes)

    return timed(monitor_lookup), timed(baseline_lookup)


def run(options: Options) -> Report:
    articles = load_articles()
    mine = quality(articles, cluster_monitor(articles))
    theirs = quality(articles, cluster_baseline(articles))
    report = Report()
    events = len({a.event for a in articles if a.event})
    for metric in ("precision", "recall", "ari"):
        report.rows.append(
            Row(
                f"event clusters, {len(articles)} labelled articles",
                f"pairwise {metric}" if metric != "ari" else "adjusted Rand index",
                getattr(mine, metric),
                getattr(theirs, metric),
            )
        )
    stored_count = 10_000 if options.quick else 100_000
    stored = stored_terms(articles, stored_count)
    probes = articles[:: max(1, len(articles) // (20 if options.quick else 60))]
    report.rows.append(
        Row(
            f"event clusters, {stored_count:,} stories in the window",
            "ms per article",
            1000 * cost_monitor(articles, stored),
            1000 * cost_baseline(probes[:10] if options.quick else probes, stored),
        )
    )
    store_count = 10_000 if options.quick else 100_000
    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as folder:
        engine = db.make_engine(f"sqlite:///{folder}/clusters.db")
        try:
            db.upgrade(engine)
            now = articles[-1].published + timedelta(days=1)
            fill_store(engine, stored_terms(articles, store_count, seed=17), now)
            sample = probes[:10] if options.quick else probes
            mine_cost, theirs_cost = store_costs(engine, sample, now)
        finally:
            engine.dispose()
    in_window = round(store_count * WINDOW / timedelta(days=STORE_DAYS))
    report.rows.append(
        Row(
            f"writer look-up, SQLite, {store_count:,} stories stored",
            "ms per article",
            1000 * mine_cost,
            1000 * theirs_cost,
        )
    )
    report.notes.append(
        f"event clusters: cost rows: 'stories in the window' = monitor.core.clusters.EventIndex "
        f"holding that many stories, all inside the window (the worst case), against the "
        f"previous best_cluster given all of them as candidates; 'writer look-up' = "
        f"monitor.store.clusters.StoredEvents.best_cluster on a SQLite file of that many "
        f"stories spread over {STORE_DAYS} days ({in_window:,} in the 3-day window), each "
        f"article then stored (not timed), against the previous cluster_candidates + "
        f"best_cluster with its cache of terms; both warmed by one untimed look-up "
        f"(monitor's first look-up loads the window and up to 20,000 older stories' "
        f"terms); times are CPU time of the benchmark process (SQLite runs in it), not "
        f"wall time: the machine is shared"
    )
    sweep = []
    for threshold in (2.5, 2.8, 3.0, 3.1, 3.2, 3.3, 3.4, 3.5, 3.7, 4.0):
        found = quality(articles, cluster_monitor(articles, threshold=threshold))
        sweep.append(f"{threshold:g}: P {found.precision:.3f} R {found.recall:.3f}")
    report.notes.append(
        f"event clusters: [clusters] threshold (default {clusters.THRESHOLD:g}) swept: "
        + ", ".join(sweep)
    )
    report.notes.append(
        f"event clusters: {events} events and "
        f"{sum(a.event is None for a in articles)} noise articles; monitor "
        f"P={mine.precision:.3f} R={mine.recall:.3f} ARI={mine.ari:.3f} "
        f"({mine.clusters} clusters), baseline P={theirs.precision:.3f} "
        f"R={theirs.recall:.3f} ARI={theirs.ari:.3f} ({theirs.clusters} clusters)"
    )
    return report
