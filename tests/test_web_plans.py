"""The web view's queries use indexes, on SQLite and on PostgreSQL: each read is run for real,
its statements are captured as the driver got them, and EXPLAIN shows how the database
answers them. A page of the listing or of a feed must walk an index in order (no sort of
every story), and nothing reads the stories or versions tables whole."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, text
from sqlalchemy.orm import Session

from monitor.store import browse, db, queries
from monitor.store.models import Source, Story, StoryTopic, Version

NOW = datetime.now(UTC).replace(microsecond=0)
STORIES = 4000  # enough that SQLite plans as at scale (a few hundred, it reads them all)


def fill(engine: Engine) -> None:
    db.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(Source),
            [
                {
                    "id": 1,
                    "name": "s",
                    "kind": "feed",
                    "url": "https://e.org/rss",
                    "enabled": True,
                    "consecutive_failures": 0,
                    "created_at": NOW,
                }
            ],
        )
        stories: list[dict[str, Any]] = []
        topics: list[dict[str, Any]] = []
        versions: list[dict[str, Any]] = []
        for index in range(STORIES):
            seen = NOW - timedelta(hours=index)
            count = 3 if index % 2 else 1
            stories.append(
                {
                    "id": index + 1,
                    "url": f"https://e.org/{index}",
                    "source_id": 1,
                    "first_seen_at": seen,
                    "status": "active",
                    "title": f"story {index}",
                    "version_count": count,
                    "last_changed_at": seen + timedelta(minutes=30) if count > 1 else None,
                    "change_class": "edit" if count > 1 else None,
                    "recheck_step": 0,
                    "cluster_id": index // 4 * 4 + 1,
                }
            )
            topics.append({"story_id": index + 1, "topic": ("a", "b", "c")[index % 3], "terms": []})
            versions += [
                {
                    "story_id": index + 1,
                    "number": n,
                    "fetched_at": seen + timedelta(minutes=n),
                    "title": f"story {index}",
                    "text": "words " * 20,
                    "content_hash": f"{index}-{n}",
                }
                for n in range(1, count + 1)
            ]
        connection.execute(insert(Story), stories)
        connection.execute(insert(StoryTopic), topics)
        connection.execute(insert(Version), versions)
        connection.execute(text("ANALYZE"))


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements (with their parameters) sent to the driver meanwhile."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def plans(engine: Engine, statements: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    """(statement, its plan as text) for each."""
    found = []
    with engine.connect() as connection:
        postgres = engine.dialect.name == "postgresql"
        if postgres:  # a few hundred rows: PostgreSQL would rather read them all, so ask
            connection.exec_driver_sql("SET enable_seqscan = off")  # whether an index serves
        for statement, parameters in statements:
            prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            rows = connection.exec_driver_sql(prefix + statement, parameters).all()
            found.append((statement, "\n".join(str(row[-1]) for row in rows)))
    return found


def whole_table_reads(plan: str, dialect: str) -> list[str]:
    lines = plan.splitlines()
    if dialect == "postgresql":
        return [
            line
            for line in lines
            if "Seq Scan on stories" in line or "Seq Scan on versions" in line
        ]
    return [
        line
        for line in lines
        if line.startswith(("SCAN stories", "SCAN versions")) and "INDEX" not in line
    ]


ORDER_INDEXES = ("ix_stories_first_seen_at", "ix_stories_last_changed_at", "ix_versions_fetched_at")


def sorts_everything(plan: str, dialect: str) -> bool:
    """Whether the rows are sorted rather than read in order off the sort key's index.
    PostgreSQL may still sort the few rows an ordered, bounded index range gave (after a
    join): what matters is that such a range drives the plan."""
    if dialect == "postgresql":
        return not any(f"Index Scan Backward using {index}" in plan for index in ORDER_INDEXES)
    return "USE TEMP B-TREE FOR ORDER BY" in plan


READS: dict[str, Callable[[Session], object]] = {
    "listing, all time": lambda s: browse.browse_stories(
        s, browse.Browse(queries.ListFilter(since=None)), 20
    ),
    "listing, last day": lambda s: browse.browse_stories(
        s, browse.Browse(queries.ListFilter(since=NOW - timedelta(days=1))), 20
    ),
    "listing, a topic": lambda s: browse.browse_stories(
        s, browse.Browse(queries.ListFilter(since=None, topics=("a",))), 20
    ),
    "listing, page 2": lambda s: browse.browse_stories(
        s,
        browse.Browse(queries.ListFilter(since=None)),
        20,
        browse.Cursor(NOW - timedelta(hours=50), 60),
    ),
    "feed, everything": lambda s: browse.feed_versions(s, None, changes_only=False, limit=20),
    "feed, a topic's changes": lambda s: browse.feed_versions(s, "b", changes_only=True, limit=20),
}
UNSORTED = set(READS)  # each of these reads a page off an index in order
AGGREGATES: dict[str, Callable[[Session], object]] = {
    "events, last day": lambda s: browse.event_groups(
        s, queries.ListFilter(since=NOW - timedelta(days=1)), 20
    ),
    "a story's versions": lambda s: queries.versions(s, 7),
    "an event's size": lambda s: browse.cluster_sizes(s, [1, 5]),
    "a topic per day": lambda s: browse.topic_counts(s, "a", 3, date.today()),
}


@pytest.mark.integration
def test_the_web_views_queries_use_indexes(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        fill(engine)
        sessions = db.session_factory(engine)
        dialect = engine.dialect.name
        for name, read in {**READS, **AGGREGATES}.items():
            with captured(engine) as statements, sessions() as session:
                read(session)
            assert statements, name
            for statement, plan in plans(engine, statements):
                assert whole_table_reads(plan, dialect) == [], f"{name}:\n{statement}\n{plan}"
                main = "FROM stories" in statement or "FROM versions" in statement
                if name in UNSORTED and main and "ORDER BY" in statement:
                    assert not sorts_everything(plan, dialect), f"{name}:\n{statement}\n{plan}"
    finally:
        engine.dispose()
