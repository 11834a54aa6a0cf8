"""What becomes of a held re-check given its page extracted again (monitor.pipeline.held),
with plain data in and decisions out: no database, no pool."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.core.urls import identity_key
from monitor.pipeline import held
from monitor.pipeline.worker import PageFailed, PageTask, process_page

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DIED = PageFailed("the extraction process died (SIGABRT) on this page", True)
HUNG = PageFailed("extraction took longer than 30s (the worker was stopped)", True)
BUG = PageFailed("processing failed: RuntimeError: test hook: a bug in extraction", False)


def test_a_page_read_again_is_weighed_for_writing() -> None:
    page = process_page(PageTask("https://news.example/a", b"<p>Text.</p>", "utf-8"))
    assert held.judge(False, page) == "read"


@pytest.mark.parametrize("crash", [DIED, HUNG])
def test_a_page_that_killed_or_hung_its_worker_is_a_crash_not_a_discard(crash: PageFailed) -> None:
    assert held.judge(False, crash) == "crashed"


def test_a_page_the_extractor_failed_on_is_discarded() -> None:
    assert held.judge(False, BUG) == "discard"


@pytest.mark.parametrize("result", [None, DIED, BUG])
def test_a_check_whose_story_moved_on_is_discarded_whatever_its_extraction(
    result: PageFailed | None,
) -> None:
    assert held.judge(True, result) == "discard"


def test_a_check_read_as_moot_and_moot_no_more_stays_held() -> None:
    assert held.judge(False, None) == "keep"


def test_a_check_waits_while_its_link_backs_off() -> None:
    assert held.backing_off(NOW + timedelta(minutes=1), NOW)
    assert not held.backing_off(NOW, NOW)
    assert not held.backing_off(NOW - timedelta(minutes=1), NOW)
    assert not held.backing_off(None, NOW)  # the link never failed


def test_a_crash_is_recorded_under_the_story_link_as_the_pipeline_keys_it() -> None:
    url = "https://www.news.example/2026/11/chips"
    link = held.failed_link(url, DIED)
    assert (link.key, link.url, link.crashed, link.status, link.retry_after) == (
        identity_key(url),
        url,
        True,
        None,
        None,
    )
    assert link.error == "held re-check: the extraction process died (SIGABRT) on this page"
    assert link.error.startswith(held.CRASHED)
