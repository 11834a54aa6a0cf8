"""The decider, with plain data in and decisions out: no database, no clock."""

from __future__ import annotations

import pytest

from monitor.core import decide
from monitor.core.topics import TopicMatch

DEEPSEEK = (TopicMatch("deepseek", ("deepseek",)),)
SEED_COPY = decide.Duplicate("seed", "000_seed", 0.97)
URL = "https://news.example/2026/11/deepseek-prices"


def test_an_on_topic_original_is_listed_clustered_and_rechecked() -> None:
    plan = decide.new_story(DEEPSEEK, watched=False, duplicate=None, cluster_id=7)
    assert plan == decide.NewStory(True, DEEPSEEK, None, 7, rechecked=True)


def test_an_off_topic_page_is_kept_unlisted() -> None:
    plan = decide.new_story((), watched=False, duplicate=None, cluster_id=None)
    assert (plan.listed, plan.rechecked) == (False, False)


def test_a_copy_is_listed_folded_and_never_clustered() -> None:
    plan = decide.new_story(DEEPSEEK, watched=False, duplicate=SEED_COPY, cluster_id=7)
    assert (plan.listed, plan.duplicate, plan.cluster_id) == (True, SEED_COPY, None)


@pytest.mark.parametrize("matches", [(), DEEPSEEK])
def test_a_watched_page_is_always_listed_and_never_folded(
    matches: tuple[TopicMatch, ...],
) -> None:
    plan = decide.new_story(matches, watched=True, duplicate=SEED_COPY, cluster_id=7)
    assert (plan.listed, plan.duplicate, plan.cluster_id, plan.rechecked) == (
        True,
        None,
        None,
        False,
    )
    assert decide.needs_lookups(matches, watched=True) is False


def test_lookups_only_when_they_can_change_the_decision() -> None:
    assert decide.needs_lookups(DEEPSEEK, watched=False) is True
    assert decide.needs_lookups((), watched=False) is False


@pytest.mark.parametrize(
    ("listed", "folded", "has_version", "adopt"),
    [
        (True, False, True, False),  # already what a watched page is
        (False, False, False, True),  # a feed stored it off-topic
        (True, True, True, True),  # a feed folded it as a copy
    ],
)
def test_a_watched_page_adopts_what_a_feed_stored(
    listed: bool, folded: bool, has_version: bool, adopt: bool
) -> None:
    assert decide.adopt_watched(listed=listed, folded=folded, has_version=has_version) is adopt


LATEST = decide.Latest("hash-1", removed=False)
REMOVED = decide.Latest("hash-gone", removed=True)


@pytest.mark.parametrize(
    ("latest", "observed", "expected"),
    [
        (LATEST, "not modified", "unchanged"),
        (LATEST, decide.Fetched(200, URL, "hash-1"), "unchanged"),
        (LATEST, decide.Fetched(200, URL, "hash-2"), "version"),
        (LATEST, decide.Unreachable(404, "not found (404)"), "removed"),
        (LATEST, decide.Unreachable(410, "gone (410)"), "removed"),
        (LATEST, decide.Fetched(200, "https://news.example/", "front"), "removed"),
        (LATEST, decide.Unreachable(503, "unavailable (503)"), "failed"),
        (LATEST, decide.Unreachable(None, "the extraction process died"), "failed"),
        (REMOVED, decide.Unreachable(404, "not found (404)"), "unchanged"),
        (REMOVED, decide.Fetched(200, URL, "hash-1"), "restored"),
        (None, decide.Fetched(200, URL, "hash-1"), "version"),
        (None, decide.Unreachable(404, "not found (404)"), "unchanged"),
    ],
)
def test_what_a_recheck_found(
    latest: decide.Latest | None, observed: decide.Observation, expected: decide.Check
) -> None:
    assert decide.check(URL, latest, observed) == expected
