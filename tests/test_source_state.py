"""Finished sources are written in batches, and links already stored are remembered."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.store import db
from monitor.store.known_keys import KnownKeys
from monitor.store.models import Poll, Source
from monitor.store.source_state import FinishedSource, PollRecord, SourceStateWriter

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """Three sources leased to "me", but the third, which "other" holds."""
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine)
        factory = db.session_factory(engine)
        _add_sources(factory)
        yield factory
    finally:
        engine.dispose()


def _add_sources(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.execute(
            insert(Source),
            [
                {
                    "name": f"s{n}",
                    "kind": "feed",
                    "url": f"http://127.0.0.1/{n}.xml",
                    "created_at": NOW,
                    "lease_owner": "other" if n == 3 else "me",
                    "lease_expires_at": NOW + timedelta(minutes=5),
                }
                for n in range(1, 4)
            ],
        )


def _finished(source_id: int, status: int, **state: object) -> FinishedSource:
    poll = PollRecord(started_at=NOW, status=status, entries=30, bytes=1000)
    return FinishedSource(source_id, poll, {"last_status": status, **state})


def test_writes_wait_for_a_batch_then_land_together(sessions: sessionmaker[Session]) -> None:
    writer = SourceStateWriter(sessions, "me", batch=2, max_delay=60, monotonic=_Clock())
    assert writer.add(_finished(1, 200, etag='"a"')) is False
    with sessions() as session:
        assert session.scalars(select(Poll)).all() == []
    assert writer.add(_finished(2, 304)) is True  # a second shape of state: its own UPDATE
    writer.flush()
    assert len(writer) == 0
    with sessions() as session:
        polls = session.scalars(select(Poll).order_by(Poll.source_id)).all()
        assert [(p.source_id, p.status, p.entries) for p in polls] == [(1, 200, 30), (2, 304, 30)]
        sources = {s.id: s for s in session.scalars(select(Source))}
    assert (sources[1].last_status, sources[1].etag, sources[1].lease_owner) == (200, '"a"', None)
    assert (sources[2].last_status, sources[2].etag, sources[2].lease_owner) == (304, None, None)
    assert sources[3].last_status is None


def test_a_lease_taken_over_by_another_worker_is_left_to_it(
    sessions: sessionmaker[Session],
) -> None:
    writer = SourceStateWriter(sessions, "me", monotonic=_Clock())
    writer.add(_finished(3, 200))
    writer.flush()
    with sessions() as session:
        source = session.get(Source, 3)
        assert source is not None
        assert (source.last_status, source.lease_owner) == (200, "other")


def test_a_finished_source_waits_no_longer_than_max_delay(
    sessions: sessionmaker[Session],
) -> None:
    clock = _Clock()
    writer = SourceStateWriter(sessions, "me", batch=100, max_delay=1.0, monotonic=clock)
    assert writer.add(_finished(1, 200)) is False
    clock.now = 0.5
    assert writer.add(_finished(2, 200)) is False
    assert len(writer) == 2
    clock.now = 1.0
    assert writer.add(_finished(3, 200)) is True
    writer.flush()
    assert len(writer) == 0
    with sessions() as session:
        assert len(session.scalars(select(Poll)).all()) == 3


def test_known_keys_asks_only_about_keys_it_has_not_seen() -> None:
    stored = {"a", "b"}
    asked: list[list[str]] = []

    async def look_up(keys: list[str]) -> set[str]:
        asked.append(sorted(keys))
        return stored & set(keys)

    known = KnownKeys()

    def ask(keys: list[str]) -> set[str]:
        return asyncio.run(known.known(keys, look_up))

    assert ask(["a", "c"]) == {"a"}
    assert ask(["a", "c"]) == {"a"}  # "c" may have been stored since: asked
    stored.add("c")
    assert ask(["a", "b", "c"]) == {"a", "b", "c"}
    assert ask(["a", "b", "c"]) == {"a", "b", "c"}
    assert asked == [["a", "c"], ["c"], ["b", "c"]]


def test_known_keys_forgets_the_oldest_beyond_its_limit() -> None:
    known = KnownKeys(limit=3)
    known.remember(["a", "b", "c", "d"])
    assert len(known) == 3

    async def nothing(keys: list[str]) -> set[str]:
        return set()

    assert asyncio.run(known.known(["a", "d"], nothing)) == {"d"}
