"""Pure helpers: URL canonicalisation, topic rules, the schedule functions."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core import schedule
from monitor.core.topics import TopicRule, _term_pattern, match_topics
from monitor.core.urls import canonicalize_url, registrable_domain, same_site

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_tracking_parameters_fragment_and_case_are_dropped() -> None:
    url = "HTTPS://News.Example.ORG:443/a/Story?id=7&utm_source=x&fbclid=abc&gclid=1#comments"
    assert canonicalize_url(url) == "https://news.example.org/a/Story?id=7"


def test_meaningful_query_and_path_case_are_kept() -> None:
    assert canonicalize_url("http://x.org:8080/P?b=2&a=1") == "http://x.org:8080/P?b=2&a=1"


def test_relative_links_resolve_against_the_feed() -> None:
    assert canonicalize_url("/news/a?utm_medium=rss", base="https://x.org/feed") == (
        "https://x.org/news/a"
    )


@given(st.text(alphabet="abc/?=&#%_", max_size=30))
def test_canonicalisation_is_idempotent(path: str) -> None:
    once = canonicalize_url("https://x.org/" + path)
    assert canonicalize_url(once) == once


@given(st.text(alphabet="abc./?=&#%_:", max_size=30), st.sampled_from(["http", "https"]))
def test_an_absolute_link_ignores_the_feeds_address(path: str, scheme: str) -> None:
    link = f"{scheme}://y.org/{path}"
    assert canonicalize_url(link, base="https://x.org/feed/") == canonicalize_url(
        urljoin("https://x.org/feed/", link)
    )


RULES = [
    TopicRule("deepseek", ("DeepSeek", "Liang Wenfeng")),
    TopicRule("chips", ("export controls", "H800")),
    TopicRule("stargate", ("Stargate",), exclude=("Stargate SG-1",)),
]


def test_whole_words_and_phrases_case_insensitive() -> None:
    matches = match_topics(RULES, "DEEPSEEK tops the chart", "New export\n controls on the H800.")
    assert [(m.topic, m.terms) for m in matches] == [
        ("deepseek", ("DeepSeek",)),
        ("chips", ("export controls", "H800")),
    ]


def test_part_of_a_word_is_not_a_match() -> None:
    assert match_topics(RULES, "DeepSeeking answers", "H8000 cards and Stargates") == []


def test_exclude_wins() -> None:
    assert match_topics(RULES, "Stargate SG-1 reunion", "The Stargate cast meets again") == []


def test_lookalike_letters_match_as_re_ignorecase_has_them() -> None:
    # re.IGNORECASE takes the long s for "s" and the Kelvin sign for "k": so does the quick test.
    assert [m.topic for m in match_topics(RULES, "ſtargate", "")] == ["stargate"]
    assert [m.topic for m in match_topics(RULES, "DeepSee\u212a", "")] == ["deepseek"]


def _found_by_search(rules: list[TopicRule], haystack: str) -> list[tuple[str, tuple[str, ...]]]:
    """What match_topics means: every term searched for with its pattern, nothing skipped."""
    found = []
    for rule in rules:
        terms = tuple(t for t in rule.keywords if _term_pattern(t).search(haystack))
        if terms and not any(_term_pattern(t).search(haystack) for t in rule.exclude):
            found.append((rule.name, terms))
    return found


@given(st.text(alphabet="deepsk DEEPSK H800 \nxcontrls-SG1 İıſ\u212a", max_size=60))
def test_the_quick_test_never_changes_a_match(text: str) -> None:
    rules = [*RULES, TopicRule("odd", ("ſeek", "Kontrol"))]
    matches = match_topics(rules, "", text)
    assert [(m.topic, m.terms) for m in matches] == _found_by_search(rules, f"\n\n{text}")


def test_backoff_doubles_with_jitter_and_caps_at_a_day() -> None:
    rng = random.Random(1)
    interval = timedelta(minutes=15)
    delays = [
        schedule.next_poll_after_failure(NOW, interval, n, rng=rng) - NOW for n in range(1, 12)
    ]
    assert timedelta(minutes=12) <= delays[0] <= timedelta(minutes=18)
    assert timedelta(minutes=24) <= delays[1] <= timedelta(minutes=36)
    assert max(delays) == timedelta(hours=24)


def test_retry_after_is_honoured() -> None:
    due = schedule.next_poll_after_failure(NOW, timedelta(minutes=1), 1, retry_after=3600)
    assert due - NOW == timedelta(hours=1)


def test_recheck_schedule_steps_then_stops() -> None:
    steps = [timedelta(hours=1), timedelta(hours=3)]
    due, step = schedule.first_recheck(NOW, steps)
    assert (due, step) == (NOW + timedelta(hours=1), 0)
    due, step = schedule.next_recheck(NOW + timedelta(hours=1), step, steps)
    assert (due, step) == (NOW + timedelta(hours=4), 1)
    assert schedule.next_recheck(NOW, step, steps)[0] is None


def _registrable_cases() -> list[tuple[str, str]]:
    path = Path(__file__).parent / "data" / "registrable_domains.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return [
        (host, domain)
        for host, domain in (line.split() for line in lines if line.strip() and line[0] != "#")
    ]


@pytest.mark.parametrize(("host", "domain"), _registrable_cases())
def test_registrable_domain(host: str, domain: str) -> None:
    assert registrable_domain(host) == domain


def test_same_site_ignores_subdomains_and_ports_but_not_other_domains() -> None:
    assert same_site("https://www.bbc.co.uk/news/1", "http://m.bbc.co.uk:8080/news/1")
    assert not same_site("https://bbc.co.uk/a", "https://itv.co.uk/a")
    assert not same_site("https://alice.substack.com/p/a", "https://bob.substack.com/p/a")
