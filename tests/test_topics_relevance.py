"""The default topics on the labelled relevance set (tests/data/relevance/, see bench/topics.py):
the precision and recall measured there are held as floors, so a change to the matching or
to the default queries that loses relevant stories or lets in others fails here."""

from __future__ import annotations

import functools

import pytest

from bench.topics import (
    HELD_OUT,
    KEYWORD_RULES,
    TOPICS,
    Article,
    decider,
    default_config,
    found,
    full_rules,
    like_alone,
    load_articles,
    precision_recall,
    query_rules,
)
from monitor.core.topics import TopicRule

# (precision, recall) floors per topic, as measured (bench/topics.py) when the set was written.
QUERY_FLOORS = {"deepseek": (1.0, 1.0), "chip-exports": (1.0, 1.0), "stargate": (1.0, 1.0)}
LIKE_ALONE_FLOORS = {"deepseek": (1.0, 0.04)}
# On the articles written after the queries were tuned (never tuned on), as measured.
HELD_OUT_FLOORS = {"deepseek": (0.85, 1.0), "chip-exports": (1.0, 0.83), "stargate": (0.8, 1.0)}
KEYWORD_BASELINE = {
    "deepseek": (0.78, 0.80),
    "chip-exports": (0.63, 0.63),
    "stargate": (0.75, 0.83),
}


@functools.cache
def articles() -> list[Article]:
    return load_articles()


@functools.cache
def rules() -> tuple[tuple[TopicRule, ...], tuple[TopicRule, ...]]:
    config = default_config()
    return query_rules(config), full_rules(config, articles())


def test_the_set_is_as_the_issue_asks() -> None:
    rows = articles()
    assert len(rows) >= 200
    assert len({a.id for a in rows}) == len(rows)
    for topic in TOPICS:
        assert sum(topic in a.topics for a in rows) >= 25
    # on-topic articles that avoid the keywords, off-topic ones that use them
    keywords = {m for a in rows for m in found(KEYWORD_RULES, a)}
    assert keywords == set(TOPICS)
    missed = [a for a in rows if a.topics - found(KEYWORD_RULES, a)]
    wrongly = [a for a in rows if found(KEYWORD_RULES, a) - a.topics]
    assert len(missed) >= 20 and len(wrongly) >= 20


@pytest.mark.parametrize("topic", TOPICS)
def test_query_precision_and_recall_hold(topic: str) -> None:
    queries, full = rules()
    floor_p, floor_r = QUERY_FLOORS[topic]
    for chosen in (queries, full):
        precision, recall = precision_recall(chosen, articles(), topic)
        assert precision >= floor_p and recall >= floor_r, (topic, precision, recall)


@pytest.mark.parametrize("topic", TOPICS)
def test_keywords_alone_stay_the_baseline(topic: str) -> None:
    precision, recall = precision_recall(KEYWORD_RULES, articles(), topic)
    assert (round(precision, 2), round(recall, 2)) == KEYWORD_BASELINE[topic]


def test_similarity_alone_holds_its_floor() -> None:
    _, full = rules()
    measured = {topic: (p, r) for topic, p, r in like_alone(full, articles())}
    assert measured.keys() == LIKE_ALONE_FLOORS.keys()
    for topic, (floor_p, floor_r) in LIKE_ALONE_FLOORS.items():
        precision, recall = measured[topic]
        assert precision >= floor_p and recall >= floor_r, (topic, precision, recall)


@pytest.mark.parametrize("topic", TOPICS)
def test_held_out_precision_and_recall_hold(topic: str) -> None:
    held_out = load_articles(HELD_OUT)
    rules = full_rules(default_config(), [*articles(), *held_out])
    precision, recall = precision_recall(rules, held_out, topic)
    floor_p, floor_r = HELD_OUT_FLOORS[topic]
    assert precision >= floor_p and recall >= floor_r, (topic, precision, recall)


def test_the_cost_rows_decision_alone_decides_as_the_service_does() -> None:
    """bench topics' row "the decision alone" times the compiled queries without their
    explanations: it must put every article in the topics the full matching does."""
    queries, _ = rules()
    decide = decider(queries)
    names = [rule.name for rule in queries]
    for article in [*articles(), *load_articles(HELD_OUT)]:
        decided = decide(article)
        assert isinstance(decided, list)
        held = {name for name, holds in zip(names, decided, strict=True) if holds}
        assert held == found(queries, article), article.id
