"""Similarity to example articles (monitor.core.similarity) and the rules built from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.core.query import words
from monitor.core.similarity import Corpus, best_example, build, content_words
from monitor.core.topics import TopicRule, match_topics
from monitor.store.topic_rules import build_rules

SEEDS = Path(__file__).resolve().parents[1] / "config" / "seeds"
APP = (
    "The assistant from the Hangzhou startup overtook ChatGPT at the top of the App Store "
    "chart, and its maker says the model cost under $6 million to train on H800 chips."
)
FOOTBALL = "A late header settled the cup final in front of a record crowd on Saturday."


def test_common_words_do_not_count() -> None:
    assert content_words("The model, and the chips: it was said") == ["model", "chips"]


def test_the_closest_example_and_a_cosine() -> None:
    corpus = Corpus.of([APP, FOOTBALL, "Stock markets fell on Monday."])
    similar = build([("app", APP), ("cup", FOOTBALL)], corpus, threshold=0.3)
    assert best_example(similar, words(APP)) == ("app", 1.0)
    label, score = best_example(similar, words("The cup final crowd")) or ("", 0.0)
    assert label == "cup" and 0.3 < score < 1.0
    label, score = best_example(similar, words("Rain is expected in the north")) or ("", 1.0)
    assert score == 0.0
    assert best_example(similar, words("the and of")) is None


def test_rare_words_weigh_more_as_the_corpus_grows() -> None:
    """A word in every stored story says little: the statistics follow the corpus."""
    text = "App Store chart startup"
    small = build([("app", APP)], Corpus.of([APP]), threshold=0.3)
    many = [f"The App Store chart this week, story {n}" for n in range(50)]
    large = build([("app", APP)], Corpus.of([APP, *many]), threshold=0.3)
    score_small = (best_example(small, words(text)) or ("", 0.0))[1]
    score_large = (best_example(large, words(text)) or ("", 0.0))[1]
    assert score_large < score_small


def test_a_topic_like_the_seeds(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(
        f'[seeds]\npath = "{SEEDS}"\n[[topics]]\nname = "deepseek"\nlike = ["seeds"]\n'
        'like_threshold = 0.5\n[[topics]]\nname = "one"\nlike = ["000_9edbe6fc9148524f"]\n',
        encoding="utf-8",
    )
    rules = build_rules(load_config(config), [APP, FOOTBALL])
    assert [r.name for r in rules] == ["deepseek", "one"]
    assert [e.label for e in rules[0].like.examples] == [  # type: ignore[union-attr]
        "seed 000_9edbe6fc9148524f",
        "seed 002_55b491fe1faf6718",
    ]
    seed = (SEEDS / "002_55b491fe1faf6718.txt").read_text(encoding="utf-8")
    (match, *_) = match_topics(rules[:1], "", seed)
    assert (match.by, match.example, match.score) == ("like", "seed 002_55b491fe1faf6718", 1.0)
    assert match_topics(rules, "Cup final", FOOTBALL) == []


@pytest.mark.parametrize("threshold", [0.2, 0.9])
def test_the_threshold_decides(threshold: float) -> None:
    similar = build([("app", APP)], Corpus.of([APP, FOOTBALL]), threshold)
    rule = TopicRule("t", like=similar)
    half = "The Hangzhou startup assistant overtook ChatGPT on the App Store chart."
    found = match_topics([rule], "", half)
    score = (best_example(similar, words(half)) or ("", 0.0))[1]
    assert 0.2 < score < 0.9
    assert bool(found) is (score >= threshold)


def test_an_example_file_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "cup.txt").write_text(FOOTBALL, encoding="utf-8")
    config = tmp_path / "monitor.toml"
    config.write_text(
        f'[seeds]\npath = "{SEEDS}"\n[[topics]]\nname = "football"\n'
        'like = ["examples/cup.txt"]\nlike_threshold = 0.5\n',
        encoding="utf-8",
    )
    rules = build_rules(load_config(config))
    (match,) = match_topics(rules, "Cup final", "A late header settled the cup final.")
    assert (match.topic, match.by, match.example) == ("football", "like", "cup.txt")
    assert match_topics(rules, "", APP) == []
