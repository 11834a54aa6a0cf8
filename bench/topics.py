"""topics: precision and recall of the default topics on a labelled relevance set, and the
cost of matching one article.

The set is tests/data/relevance/articles.jsonl: 200-odd short articles written the way
outlets write (headline and two to four paragraphs), each labelled with the default topics
it is about. It holds on-topic articles that avoid the obvious keywords (the DeepSeek app
named by its Hangzhou maker and what it does; the $500bn OpenAI-SoftBank venture not named
Stargate) and off-topic ones that use them ("DeepSeek" in a list of apps, "Stargate" the film
and TV series, the Norwegian producers, the CIA programme; export controls on rare earths,
drones and rice).

tests/data/relevance/heldout.jsonl holds 29 more, written after the default queries were
tuned on the first set and never tuned on: the "held out" rows say how the queries do on
text they were not written against.

Rows, per default topic: precision and recall of the query language alone, and of the query
plus similarity to the seeds (`like = ["seeds"]`), each against the keyword lists the topics
had before queries (the baseline, in the same row). Cost rows: microseconds to match one
article against the three topics, keywords alone as the baseline. The similarity statistics
come from the seeds and the set itself, as a running service takes them from its stored
stories.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench import Options, Report, Row, topics_baseline
from monitor.config import Config, load_config
from monitor.core.encoding import decode_html
from monitor.core.extract import extract_article
from monitor.core.query import Document, compile_query, quote
from monitor.core.topics import TopicRule, match_topics
from monitor.defaults import seeds
from monitor.store.topic_rules import build_rules, rule_of

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "relevance" / "articles.jsonl"
HELD_OUT = ROOT / "tests" / "data" / "relevance" / "heldout.jsonl"
CORPUS = ROOT.parent / "shared" / "corpora" / "trafilatura-eval"
FULL_LENGTH = 200  # real pages extracted for the full-length cost row (40 with --quick)
SHORTEST = 1000  # characters of text: shorter extractions are not articles
DEFAULT_CONFIG = ROOT / "config" / "monitor.toml"
TOPICS = ("deepseek", "chip-exports", "stargate")

# The default topics' keyword lists before topic queries: the baseline.
KEYWORD_RULES = (
    TopicRule(
        "deepseek", ("DeepSeek", "Liang Wenfeng", "DeepSeek-R1", "DeepSeek-V3", "High-Flyer")
    ),
    TopicRule(
        "chip-exports",
        (
            "export controls",
            "export control",
            "chip export",
            "chip exports",
            "chip ban",
            "AI diffusion rule",
            "Entity List",
            "Bureau of Industry and Security",
            "H20",
            "H800",
        ),
    ),
    TopicRule(
        "stargate",
        ("Stargate", "Stargate project", "Stargate AI"),
        ("Stargate SG-1", "Stargate Atlantis", "Stargate Universe"),
    ),
)


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    outlet: str
    url: str
    title: str
    text: str
    topics: frozenset[str]


def load_articles(path: Path = DATA) -> list[Article]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            topics = frozenset(row["topics"])
            out.append(
                Article(row["id"], row["outlet"], row["url"], row["title"], row["text"], topics)
            )
    return out


def found(rules: Sequence[TopicRule], article: Article) -> set[str]:
    """The topics `rules` put the article in."""
    matches = match_topics(
        rules, article.title, article.text, outlet=article.outlet, url=article.url
    )
    return {m.topic for m in matches}


def precision_recall(
    rules: Sequence[TopicRule], articles: Sequence[Article], topic: str
) -> tuple[float, float]:
    true_positive = false_positive = false_negative = 0
    for article in articles:
        predicted = topic in found(rules, article)
        actual = topic in article.topics
        true_positive += predicted and actual
        false_positive += predicted and not actual
        false_negative += actual and not predicted
    precision = true_positive / (true_positive + false_positive) if true_positive else 0.0
    recall = true_positive / (true_positive + false_negative) if true_positive else 0.0
    return precision, recall


def default_config() -> Config:
    return load_config(DEFAULT_CONFIG)


def query_rules(config: Config) -> tuple[TopicRule, ...]:
    """The default topics' queries alone (no examples)."""
    return tuple(rule_of(topic) for topic in config.topics)


def full_rules(config: Config, articles: Sequence[Article]) -> tuple[TopicRule, ...]:
    """The default topics as the service runs them, the set standing in for stored stories."""
    return build_rules(config, [f"{a.title}\n\n{a.text}" for a in articles])


def like_alone(
    rules: Sequence[TopicRule], articles: Sequence[Article]
) -> list[tuple[str, float, float]]:
    """(topic, precision, recall) of the similarity rule alone, for the topics that have one."""
    out = []
    for rule in rules:
        if rule.like is not None:
            alone = TopicRule(rule.name, like=rule.like)
            out.append((rule.name, *precision_recall([alone], articles, rule.name)))
    return out


Matcher = Callable[[Article], object]


def baseline_matcher(article: Article) -> object:
    """The keyword lists through the keyword matching of before queries
    (bench/topics_baseline.py): the cost rows' baseline."""
    return topics_baseline.match_topics(KEYWORD_RULES, article.title, article.text)


def matcher(rules: Sequence[TopicRule]) -> Matcher:
    """Today's matching as the worker runs it: the topics, each match with its explanation."""
    return lambda article: found(rules, article)


def decider(rules: Sequence[TopicRule]) -> Matcher:
    """The compiled queries' decision alone (does each topic hold?), without the explanation
    the worker stores with a match: what the query language's matcher itself costs. For the
    default topics (a query each, no keywords, excludes or examples) it decides as
    `match_topics` does."""
    queries = [compile_query(rule.query) for rule in rules if rule.query is not None]

    def decide(article: Article) -> object:
        doc = Document(article.title, article.text, article.outlet, article.url)
        return [query.matches(doc) for query in queries]

    return decide


def costs_us(matchers: Sequence[Matcher], articles: Sequence[Article], repeat: int) -> list[float]:
    """Microseconds of CPU to match one article with each matcher: the best of `repeat`
    passes over the set, the matchers taking turns so that a busy moment of the machine
    falls on all of them alike. CPU time (time.process_time, as bench.clusters) rather than
    wall time: on a shared machine a pass that waits for a core counts no time waited."""
    best = [float("inf")] * len(matchers)
    for _ in range(repeat):
        for index, match in enumerate(matchers):
            started = time.process_time()
            for article in articles:
                match(article)
            best[index] = min(best[index], time.process_time() - started)
    return [seconds / len(articles) * 1e6 for seconds in best]


def _extracted(path: Path) -> Article | None:
    """The story the service would store from a saved page, or None when it is no article."""
    page = decode_html(gzip.decompress(path.read_bytes()))
    extracted = extract_article(page, None)
    if len(extracted.text) < SHORTEST:
        return None
    return Article(path.name, "", "", extracted.title, extracted.text, frozenset())


def full_length_articles(limit: int) -> list[Article]:
    """Stories as long as real ones: the seed articles, and the text monitor's extractor
    takes from the first `limit` pages of trafilatura's evaluation corpus (real news and blog
    pages, many not in English), extracted on every core. The labelled set's articles are a
    few paragraphs long; a fetched story is several times longer, and its typographic
    quotes and dashes make it non-ASCII, which is what folding costs most on."""
    articles = [Article(name, "", "", "", text, frozenset()) for name, text in seeds()]
    if not (CORPUS / "html").is_dir():
        return articles
    pages = sorted((CORPUS / "html").glob("*.gz"))[:limit]
    with ProcessPoolExecutor(max_workers=2) as pool:
        articles += [a for a in pool.map(_extracted, pages, chunksize=8) if a is not None]
    return articles


def run(options: Options) -> Report:
    articles = load_articles()
    config = default_config()
    queries = query_rules(config)
    full = full_rules(config, articles)
    rows: list[Row] = []
    for topic, p, r in like_alone(full, articles):
        base_p, base_r = precision_recall(KEYWORD_RULES, articles, topic)
        rows.append(Row(f"topics {topic}, like alone", "precision", p, base_p))
        rows.append(Row(f"topics {topic}, like alone", "recall", r, base_r))
    held_out = load_articles(HELD_OUT)
    full_held = full_rules(config, [*articles, *held_out])
    for topic in TOPICS:
        base_p, base_r = precision_recall(KEYWORD_RULES, articles, topic)
        for label, rules in (("query", queries), ("query + like", full)):
            precision, recall = precision_recall(rules, articles, topic)
            rows.append(Row(f"topics {topic}, {label}", "precision", precision, base_p))
            rows.append(Row(f"topics {topic}, {label}", "recall", recall, base_r))
        base_p, base_r = precision_recall(KEYWORD_RULES, held_out, topic)
        precision, recall = precision_recall(full_held, held_out, topic)
        rows.append(Row(f"topics {topic}, query + like, held out", "precision", precision, base_p))
        rows.append(Row(f"topics {topic}, query + like, held out", "recall", recall, base_r))
    repeat = options.repeat or (3 if options.quick else 30)
    as_queries = tuple(
        TopicRule(r.name, exclude=r.exclude, query=" OR ".join(quote(k) for k in r.keywords))
        for r in KEYWORD_RULES
    )
    labels = (
        "keyword lists",
        "keywords as a query",
        "query",
        "query, the decision alone",
        "query + like",
    )
    base, *costs = costs_us(
        [
            baseline_matcher,
            matcher(KEYWORD_RULES),
            matcher(as_queries),
            matcher(queries),
            decider(queries),
            matcher(full),
        ],
        articles,
        repeat,
    )
    for label, cost in zip(labels, costs, strict=True):
        rows.append(Row(f"topics, match one article: {label}", "us", cost, base))
    long_ones = full_length_articles(40 if options.quick else FULL_LENGTH)
    long_full = full_rules(config, long_ones)
    long_labels = ("keyword lists", "query", "query, the decision alone", "query + like")
    base, *costs = costs_us(
        [
            baseline_matcher,
            matcher(KEYWORD_RULES),
            matcher(queries),
            decider(queries),
            matcher(long_full),
        ],
        long_ones,
        max(1, repeat // 3),
    )
    for label, cost in zip(long_labels, costs, strict=True):
        rows.append(Row(f"topics, match one full-length article: {label}", "us", cost, base))
    on_topic = {t: sum(t in a.topics for a in articles) for t in TOPICS}
    notes = [
        f"{len(articles)} labelled articles in tests/data/relevance/ "
        + ", ".join(f"{t} {n}" for t, n in on_topic.items())
        + f", none {sum(not a.topics for a in articles)}; held out: {len(held_out)} articles "
        + ", ".join(f"{t} {sum(t in a.topics for a in held_out)}" for t in TOPICS)
        + "; baseline = the keyword lists the default topics had before queries",
        "cost: CPU time, best of several passes over the set, the three default topics (their "
        "query finds more, and explains every match); baseline: the keyword lists through the "
        "keyword matching of before queries (bench/topics_baseline.py); 'keyword lists': the "
        "same lists through today's code; 'keywords as a query': the old keyword lists "
        'written as a query ("a" OR "b" ...), the same rule on the query engine; \'the decision '
        "alone': whether each default query holds, without the explanation stored with a match "
        "(the compiled matcher itself); baseline = the keyword lists",
        f"full-length articles: {len(long_ones)} texts of at least {SHORTEST} characters (median "
        f"{sorted(len(a.text) for a in long_ones)[len(long_ones) // 2]}, "
        f"{sum(not a.text.isascii() for a in long_ones)} not ASCII): the seeds and monitor's "
        f"extraction of the first pages of {CORPUS.name}"
        + ("" if (CORPUS / "html").is_dir() else " (absent here: the seeds alone)"),
    ]
    return Report(rows=rows, notes=notes)
