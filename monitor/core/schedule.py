"""When is a source polled again, when is a story re-checked (pure; the clock is passed in)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

MAX_BACKOFF = timedelta(hours=24)
LINK_RETRY = timedelta(minutes=30)
"""A story link whose fetch failed is tried again after this, then after twice as long each
time, up to MAX_BACKOFF (while its feed keeps listing it)."""


MAX_TICK = timedelta(seconds=60)


def tick_interval(intervals: Iterable[timedelta], default: timedelta) -> timedelta:
    """How often the service looks for due sources, given the enabled sources' intervals:
    often enough that no source waits long past its due time, never busier than needed.
    (`monitor status` judges health by it too.)"""
    shortest = min(intervals, default=default)
    return max(timedelta(seconds=1), min(MAX_TICK, shortest))


def next_poll_after_success(now: datetime, interval: timedelta) -> datetime:
    return now + interval


def next_poll_after_failure(
    now: datetime,
    interval: timedelta,
    consecutive_failures: int,
    retry_after: float | None = None,
    *,
    rng: random.Random | None = None,
) -> datetime:
    """Exponential back-off with jitter, capped at a day; Retry-After wins when longer.

    The first failure waits one interval, each further failure doubles it. Jitter
    (±20 %) keeps sources that failed together from retrying together.
    """
    failures = max(1, consecutive_failures)
    base = interval * (1 << min(failures - 1, 16))
    jitter: float = (rng or random).uniform(0.8, 1.2)
    delay = min(base * jitter, MAX_BACKOFF)
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_BACKOFF))
    return now + delay


def next_link_attempt(now: datetime, failures: int, retry_after: float | None = None) -> datetime:
    """When a story link that failed `failures` times in a row (its fetch, or a held re-check
    of its page that crashed the extraction process) may be tried again: LINK_RETRY,
    doubling."""
    return next_poll_after_failure(now, LINK_RETRY, failures, retry_after)


def next_recheck(
    checked_at: datetime, step: int, schedule: Sequence[timedelta]
) -> tuple[datetime | None, int]:
    """The check after the one at `checked_at` that used step `step`.

    Returns the time of the next check and the step it will use; None once the schedule
    is exhausted (the story is no longer re-checked).
    """
    following = step + 1
    if following >= len(schedule):
        return None, following
    return checked_at + schedule[following], following


def first_recheck(
    fetched_at: datetime, schedule: Sequence[timedelta]
) -> tuple[datetime | None, int]:
    """A story just fetched (or just found changed) starts the schedule again."""
    if not schedule:
        return None, 0
    return fetched_at + schedule[0], 0
