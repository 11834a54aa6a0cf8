"""What the read commands (`list`, `show`, `diff`, `status`) read, in plain SQL on the DB-API:
the standard library's sqlite3 for a SQLite file, psycopg for PostgreSQL.

A read command answers in a few queries; what the user waits for is Python importing, and
SQLAlchemy's core, its ORM and the models take longer to import than the rest of such a
command together. So these reads stand apart from monitor.store.queries: the rows are small
records with the models' attribute names, from which `monitor.views` builds the same
documents as from the models (tests/test_reads.py checks that the two paths agree on SQLite
and on PostgreSQL). A database this module does not open as it is (no such file yet, not at
the schema's head, a URL it does not know) goes through monitor.store.db, which migrates a
SQLite file or refuses and says why, as for every other command, and is then read from
SQLAlchemy's connection with the same SQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from monitor.core.dates import as_utc
from monitor.store.records import ListFilter, PollHealth, SourceHealth, Status

HEAD_REVISION = "0012"
"""The newest migration in monitor/migrations/versions/ (tests/test_store.py checks that it is):
known here so that checking a database's schema needs neither Alembic nor SQLAlchemy."""
SQLITE_BUSY_TIMEOUT_MS = 30_000
CHUNK = 500  # ids per IN (...) list

# ---------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class SourceName:
    """What a listing shows of a story's source."""

    name: str


@dataclass(frozen=True, slots=True)
class TopicRow:
    """A story's topic and why it matched (monitor.store.models.StoryTopic)."""

    topic: str
    terms: list[str]
    matched_by: str | None
    example: str | None
    score: float | None


@dataclass(slots=True)
class StoryRow:
    """A story as the read commands show it (monitor.store.models.Story)."""

    id: int
    url: str
    title: str
    outlet: str | None
    status: str
    first_seen_at: datetime
    last_changed_at: datetime | None
    published_at: datetime | None
    next_check_at: datetime | None
    version_count: int
    change_class: str | None
    duplicate_kind: str | None
    duplicate_of_seed_id: str | None
    duplicate_of_story_id: int | None
    similarity: float | None
    cluster_id: int | None
    canonical_hint: str | None
    source: SourceName | None
    topics: list[TopicRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class VersionRow:
    """One version of a story (monitor.store.models.Version, without the stored page)."""

    number: int
    fetched_at: datetime
    title: str
    byline: str | None
    published_at: datetime | None
    canonical_url: str | None
    final_url: str | None
    charset: str | None
    content_hash: str
    change_class: str | None
    words_added: int
    words_removed: int
    text: str


# The columns read, named as the records' fields (the story's source apart); their times come
# back aware (_value).
_STORY_FIELDS = (
    "id",
    "url",
    "title",
    "outlet",
    "status",
    "first_seen_at",
    "last_changed_at",
    "published_at",
    "next_check_at",
    "version_count",
    "change_class",
    "duplicate_kind",
    "duplicate_of_seed_id",
    "duplicate_of_story_id",
    "similarity",
    "cluster_id",
    "canonical_hint",
)
_STORY_COLUMNS = ", ".join(f"stories.{name}" for name in _STORY_FIELDS) + ", sources.name"
_STORY_FROM = "stories LEFT OUTER JOIN sources ON sources.id = stories.source_id"
_VERSION_FIELDS = (
    "number",
    "fetched_at",
    "title",
    "byline",
    "published_at",
    "canonical_url",
    "final_url",
    "charset",
    "content_hash",
    "change_class",
    "words_added",
    "words_removed",
    "text",
)
_VERSION_COLUMNS = ", ".join(_VERSION_FIELDS)
_TIMES = frozenset(
    {"first_seen_at", "last_changed_at", "published_at", "next_check_at", "fetched_at"}
)


def _fields(names: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    """A row as a record's keyword arguments."""
    return {
        name: _optional_time(value) if name in _TIMES else value
        for name, value in zip(names, row, strict=True)
    }


class _Clustered(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def first_seen_at(self) -> datetime: ...

    @property
    def cluster_id(self) -> int | None: ...


Clustered = TypeVar("Clustered", bound=_Clustered)


def by_cluster(stories: Iterable[Clustered]) -> dict[int, list[Clustered]]:
    """The listed stories grouped by cluster, each group in order of first sight."""
    groups: dict[int, list[Clustered]] = {}
    for story in sorted(stories, key=lambda s: (s.first_seen_at, s.id)):
        groups.setdefault(story.cluster_id or story.id, []).append(story)
    return groups


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


# ---------------------------------------------------------------- the reader


class Reader:
    """A DB-API connection and the read commands' queries on it. SQL is written with `?`
    placeholders (psycopg's are `%s`); times are compared as SQLAlchemy stores them on
    SQLite (naive UTC text) and as aware times on PostgreSQL."""

    def __init__(self, connection: Any, dialect: str, database: str | None = None) -> None:
        self.connection = connection
        self.dialect = dialect  # "sqlite" or "postgresql"
        self.database = database  # the SQLite file, for its size

    def close(self) -> None:
        self.connection.close()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.dialect != "sqlite":
            sql = sql.replace("?", "%s")
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, tuple(params))
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
        return self._all(sql, params)[0]

    def _bind(self, moment: datetime) -> Any:
        """A time as a parameter: SQLAlchemy's SQLite format, or the aware time itself."""
        if self.dialect == "sqlite":
            return as_utc(moment).replace(tzinfo=None).isoformat(" ", "microseconds")
        return moment

    def revision(self) -> str | None:
        """The Alembic revision the database is at (raises when it has no version table)."""
        rows = self._all("SELECT version_num FROM alembic_version")
        return str(rows[0][0]) if rows else None

    # ------------------------------------------------------------ stories

    def list_stories(self, flt: ListFilter) -> list[StoryRow]:
        """monitor.store.queries.list_stories: on-topic stories new or changed since the cut-off."""
        params: list[Any] = []

        def since(column: str) -> str:
            if flt.since is None:
                return "stories.id IS NOT NULL"
            params.append(self._bind(flt.since))
            return f"{column} >= ?"

        windows = []
        if flt.new:
            windows.append(since("stories.first_seen_at"))
        if flt.changed:
            windows.append(f"(stories.version_count > 1 AND {since('stories.last_changed_at')})")
        if flt.removed:
            windows.append(
                f"(stories.change_class = 'removed' AND {since('stories.last_changed_at')})"
            )
        where = ["stories.status = 'active'", "(" + (" OR ".join(windows) or "1 = 0") + ")"]
        if not flt.include_duplicates:
            where.append("stories.duplicate_kind IS NULL")
        if flt.topics:
            where.append(
                "stories.id IN (SELECT story_topics.story_id FROM story_topics "
                f"WHERE story_topics.topic IN ({_marks(flt.topics)}))"
            )
            params.extend(flt.topics)
        sql = (
            f"SELECT {_STORY_COLUMNS} FROM {_STORY_FROM} WHERE {' AND '.join(where)} "
            "ORDER BY coalesce(stories.last_changed_at, stories.first_seen_at) DESC, "
            "stories.id DESC"
        )
        if flt.limit:
            sql += " LIMIT ?"
            params.append(flt.limit)
        return self._with_topics([self._story(row) for row in self._all(sql, params)])

    def story(self, story_id: int) -> StoryRow | None:
        rows = self._all(
            f"SELECT {_STORY_COLUMNS} FROM {_STORY_FROM} WHERE stories.id = ?", [story_id]
        )
        return self._with_topics([self._story(rows[0])])[0] if rows else None

    def _story(self, row: tuple[Any, ...]) -> StoryRow:
        *columns, source = row
        return StoryRow(
            **_fields(_STORY_FIELDS, columns),
            source=SourceName(source) if source is not None else None,
        )

    def _with_topics(self, stories: list[StoryRow]) -> list[StoryRow]:
        """Each story's topics, by name (as the model's relationship orders them)."""
        by_id = {story.id: story for story in stories}
        for ids in _chunks(list(by_id)):
            for story_id, *topic in self._all(
                "SELECT story_id, topic, terms, matched_by, example, score FROM story_topics "
                f"WHERE story_id IN ({_marks(ids)}) ORDER BY topic",
                ids,
            ):
                name, terms, matched_by, example, score = topic
                by_id[story_id].topics.append(
                    TopicRow(name, list(_json(terms) or []), matched_by, example, score)
                )
        return stories

    def topic_names(self) -> set[str]:
        """Topics stories are stored under (a renamed topic's old name is still listable)."""
        return {name for (name,) in self._all("SELECT DISTINCT topic FROM story_topics")}

    def versions(self, story_id: int) -> list[VersionRow]:
        return [
            _version(row)
            for row in self._all(
                f"SELECT {_VERSION_COLUMNS} FROM versions WHERE story_id = ? ORDER BY number",
                [story_id],
            )
        ]

    def version(self, story_id: int, number: int) -> VersionRow | None:
        rows = self._all(
            f"SELECT {_VERSION_COLUMNS} FROM versions WHERE story_id = ? AND number = ?",
            [story_id, number],
        )
        return _version(rows[0]) if rows else None

    def aliases(self, story_id: int) -> list[str]:
        rows = self._all(
            "SELECT url FROM story_aliases WHERE story_id = ? ORDER BY url", [story_id]
        )
        return [url for (url,) in rows]

    # ------------------------------------------------------------ status

    def status(self, now: datetime, grace: timedelta) -> Status:
        """monitor.store.queries.status: is polling healthy, what is behind."""
        enabled = self._all(
            "SELECT name, last_success_at, consecutive_failures, next_poll_at, warning "
            "FROM sources WHERE enabled = ?",
            [True],
        )
        successes = [_time(row[1]) for row in enabled if row[1] is not None]
        (due_checks,) = self._one(
            "SELECT count(*) FROM stories WHERE status = 'active' AND next_check_at <= ?",
            [self._bind(now)],
        )
        (stories,) = self._one("SELECT count(*) FROM stories WHERE status = 'active'")
        (links,) = self._one(
            "SELECT count(*) FROM link_failures WHERE next_attempt_at > ?", [self._bind(now)]
        )
        return Status(
            last_success=max(successes, default=None),
            sources=len(enabled),
            failing=sorted(name for name, _, failures, _, _ in enabled if failures > 0),
            overdue=sorted(
                name
                for name, _, _, next_poll, _ in enabled
                if next_poll is not None and _time(next_poll) < now - grace
            ),
            stories=int(stories or 0),
            awaiting_recheck=int(due_checks or 0),
            links_failing=int(links or 0),
            warning=sum(1 for row in enabled if row[4]),
        )

    def poll_health(self, since: datetime) -> PollHealth:
        """monitor.store.queries.poll_health."""
        enabled, first, last = self._one(
            "SELECT count(*), min(created_at), max(last_success_at) FROM sources WHERE enabled = ?",
            [True],
        )
        polls, failed = self._one(
            "SELECT count(*), count(error) FROM polls WHERE started_at >= ?", [self._bind(since)]
        )
        degraded = {name: health.reason for name, health in self.degraded() if health.reason}
        return PollHealth(
            int(enabled),
            _optional_time(first),
            _optional_time(last),
            int(polls),
            int(failed),
            degraded,
        )

    def degraded(self) -> list[tuple[str, SourceHealth]]:
        """(name, health) of the enabled sources whose extraction is degraded, by name
        (monitor.store.extraction.degraded_details)."""
        from monitor.core.breakage import Stats

        rows = self._all(
            "SELECT sources.name, source_extraction.degraded_reason, "
            "source_extraction.degraded_since, source_extraction.held, source_extraction.stats "
            "FROM sources JOIN source_extraction ON source_extraction.source_id = sources.id "
            "WHERE source_extraction.degraded_reason IS NOT NULL AND sources.enabled = ? "
            "ORDER BY sources.name",
            [True],
        )
        return [
            (
                name,
                SourceHealth(
                    "degraded" if reason else "ok",
                    reason,
                    _optional_time(since),
                    held or 0,
                    Stats.from_json(_json(stats)).seen,
                ),
            )
            for name, reason, since, held, stats in rows
        ]

    def alert_counts(self) -> dict[str, int]:
        """monitor.deliver.outbox.counts: deliveries by state, and events awaiting a batch."""
        found = {"pending": 0, "delivered": 0, "failed": 0}
        for state, n in self._all("SELECT state, count(*) FROM alert_deliveries GROUP BY state"):
            found[state] = int(n)
        (batching,) = self._one("SELECT count(*) FROM alert_events WHERE delivery_id IS NULL")
        found["batching"] = int(batching or 0)
        return found

    def database_size(self) -> int | None:
        """monitor.store.db.database_size: the SQLite file and its WAL, or the PostgreSQL
        database."""
        if self.dialect == "sqlite":
            if not self.database or self.database == ":memory:":
                return None
            paths = [Path(self.database), Path(f"{self.database}-wal")]
            return sum(p.stat().st_size for p in paths if p.exists())
        if self.dialect == "postgresql":
            (size,) = self._one("SELECT pg_database_size(current_database())")
            return int(size or 0)
        return None


def _time(value: Any) -> datetime:
    """A stored time as the models give it: aware UTC (SQLite keeps naive UTC text)."""
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _optional_time(value: Any) -> datetime | None:
    return None if value is None else _time(value)


def _json(value: Any) -> Any:
    """A JSON column: text on SQLite, already parsed by psycopg."""
    return json.loads(value) if isinstance(value, str) else value


def _version(row: tuple[Any, ...]) -> VersionRow:
    return VersionRow(**_fields(_VERSION_FIELDS, row))


# ---------------------------------------------------------------- opening


def open_reader(url: str) -> Reader:
    """A reader on the database at `url` (as resolved by monitor.config), at the schema's
    head: directly when it can, else through monitor.store.db, which migrates a SQLite file
    or raises the error every command gives (StoreError, SchemaError)."""
    return _direct(url) or _through_engine(url)


def _direct(url: str) -> Reader | None:
    """A SQLite file that exists, or PostgreSQL through psycopg, at the head; None for
    anything else (and for any error: monitor.store.db says it as it always has)."""
    scheme, _, rest = url.partition("://")
    reader: Reader
    if scheme in ("sqlite", "sqlite+pysqlite"):
        import sqlite3

        path = rest[1:] if rest.startswith("/") else ""
        if not path or path == ":memory:" or "?" in path or "%" in path:
            return None
        if not Path(path).is_file():
            return None  # a new database: created and migrated by monitor.store.db
        try:
            reader = Reader(
                sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000), "sqlite", path
            )
        except sqlite3.Error:
            return None
    elif scheme in ("postgresql", "postgresql+psycopg"):
        import psycopg

        try:
            reader = Reader(psycopg.connect(f"postgresql://{rest}"), "postgresql")
        except (psycopg.Error, ValueError):
            return None
    else:
        return None
    try:
        at_head = reader.revision() == HEAD_REVISION
    except Exception:  # no version table, or a database that cannot be read: see db
        at_head = False
    if not at_head:
        reader.close()
        return None
    return reader


def _through_engine(url: str) -> Reader:
    """The database through SQLAlchemy's engine: its schema checked (a SQLite file migrated)
    as by every command, then read on the engine's DB-API connection."""
    from monitor.store import db

    engine = db.make_engine(url)
    try:
        db.ensure_schema(engine)
        connection = engine.raw_connection()
    except BaseException:
        engine.dispose()
        raise
    reader = _EngineReader(connection, engine.dialect.name, engine.url.database)
    reader.engine = engine
    return reader


class _EngineReader(Reader):
    """A reader on a connection of an engine, which it disposes of when closed."""

    engine: Any = None

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.engine is not None:
                self.engine.dispose()
