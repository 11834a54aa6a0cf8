"""The web view's reads: a page of the listing (keyset cursor), stories per day, share of
voice, seeds' copies, feed entries. Each takes the caller's session, like monitor.store.queries,
whose listing (`list_query`) the coverage page and `/api/stories` extend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, union_all
from sqlalchemy.orm import Session

from monitor.store import queries
from monitor.store.models import Source, Story, StoryTopic, Version


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page of the listing ends: the sort key and the id of its last story."""

    moment: datetime
    story_id: int

    def encode(self) -> str:
        return f"{self.moment.astimezone(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}_{self.story_id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Raises ValueError for anything that is not a cursor this module wrote."""
        moment, _, story_id = text.partition("_")
        when = datetime.strptime(moment, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
        return cls(when, int(story_id))


@dataclass(frozen=True, slots=True)
class Browse:
    """The coverage page's filters beyond the CLI's: an outlet, a text search, an event."""

    listing: queries.ListFilter
    outlet: str | None = None
    search: str | None = None
    cluster: int | None = None


def _unchanged() -> ColumnElement[bool]:
    """The story never changed. Not `last_changed_at IS NULL` itself: the planner would read
    every such story off the last_changed_at index, where a range of first_seen_at's serves."""
    return func.coalesce(Story.last_changed_at, None).is_(None)


def _in_topic(topic: str) -> ColumnElement[bool]:
    """The story is under `topic`: a probe of the story_topics key per story."""
    return exists().where(StoryTopic.story_id == Story.id, StoryTopic.topic == topic)


def _outlet_name() -> ColumnElement[Any]:
    return func.coalesce(Story.outlet, Source.name)


def browse_stories(
    session: Session, browse: Browse, limit: int, after: Cursor | None = None
) -> tuple[list[Story], Cursor | None]:
    """One page of the listing, newest first, and the cursor of the next page (None: last).

    The order is `queries.listing_order()` (the last change, else the first sight), read as
    two streams that each walk an index in order, merged here: stories that changed, by
    `last_changed_at`, and stories that never did, by `first_seen_at`. An expression index
    would do it in one, but SQLite's reflection (and so the migrations check) cannot see one.
    Every window of the listing implies its sort key is inside the window (a story changes
    after it is first seen), which bounds both index ranges.
    """
    query = filtered(browse)
    since = browse.listing.since
    found: list[Story] = []
    floor: datetime | None = None  # once one stream fills a page, the other need not go lower
    for key, stream in (
        (Story.last_changed_at, Story.last_changed_at.is_not(None)),
        (Story.first_seen_at, _unchanged()),
    ):
        part = query.where(stream)
        if since is not None:
            part = part.where(key >= since)
        if after is not None:
            part = part.where(  # the first term bounds the index range, the second cuts it
                key <= after.moment,
                or_(key < after.moment, and_(key == after.moment, Story.id < after.story_id)),
            )
        if floor is not None:
            part = part.where(key >= floor)
        rows = list(session.scalars(part.order_by(key.desc(), Story.id.desc()).limit(limit + 1)))
        if len(rows) > limit:
            floor = rows[-1].last_changed_at or rows[-1].first_seen_at
        found += rows
    found.sort(key=lambda s: (s.last_changed_at or s.first_seen_at, s.id), reverse=True)
    if len(found) <= limit:
        return found, None
    last = found[limit - 1]
    return found[:limit], Cursor(last.last_changed_at or last.first_seen_at, last.id)


def filtered(browse: Browse) -> Select[Story]:
    """The CLI's listing (`queries.list_query`) with the web's filters, unordered.

    Topics are matched per story (EXISTS on the story_topics key), not as the CLI's IN
    list: the listing then walks its sort index and stops at a page, where the IN list
    makes the planner read every story of the topic and sort them."""
    topics = browse.listing.topics
    query = queries.list_query(replace(browse.listing, topics=()))
    if topics:
        query = query.where(
            exists().where(StoryTopic.story_id == Story.id, StoryTopic.topic.in_(topics))
        )
    if browse.outlet:
        query = query.where(
            Story.source_id.in_(select(Source.id).where(Source.name == browse.outlet))
            | (Story.outlet == browse.outlet)
        )
    if browse.cluster is not None:
        query = query.where(Story.cluster_id == browse.cluster)
    if browse.search:
        needle = browse.search.lower()
        current = exists().where(
            Version.story_id == Story.id,
            Version.number == Story.version_count,
            func.lower(Version.text).contains(needle, autoescape=True),
        )
        query = query.where(or_(func.lower(Story.title).contains(needle, autoescape=True), current))
    return query


def outlet_names(session: Session, limit: int = 200) -> list[str]:
    """The outlets and sources stories came from, for the coverage page's filter."""
    outlets = session.scalars(
        select(Story.outlet).where(Story.outlet.is_not(None)).distinct().limit(limit)
    )
    names = set(outlets) | set(session.scalars(select(Source.name)))
    return sorted(name for name in names if name)


def event_groups(
    session: Session, listing: queries.ListFilter, limit: int, offset: int = 0
) -> tuple[dict[int, list[Story]], bool]:
    """A page of the events of a listing, as `queries.clusters` groups them (a story outside
    any cluster is its own group), the biggest first: counted in SQL, so only the page's
    stories are read. Returns the groups and whether more follow.

    With a window, the stories are counted from two index ranges (those that changed since
    its start, those never changed first seen since): every story of a window is in one."""
    key = func.coalesce(Story.cluster_id, Story.id)
    window = filtered(Browse(listing))
    columns = (key.label("key"), Story.first_seen_at.label("seen"))
    if listing.since is None:
        stories = window.with_only_columns(*columns).subquery()
    else:
        changed = window.where(Story.last_changed_at >= listing.since)
        unchanged = window.where(_unchanged(), Story.first_seen_at >= listing.since)
        stories = union_all(
            changed.with_only_columns(*columns), unchanged.with_only_columns(*columns)
        ).subquery()
    counted = (
        select(stories.c.key, func.count(), func.min(stories.c.seen))
        .group_by(stories.c.key)
        .order_by(func.count().desc(), func.min(stories.c.seen), stories.c.key)
        .limit(limit + 1)
        .offset(offset)
    )
    keys = [int(row[0]) for row in session.execute(counted)]
    if not keys:
        return {}, False
    page = keys[:limit]
    in_page = or_(  # the key, spelled so that the cluster index and the primary key serve it
        Story.cluster_id.in_(page), and_(Story.cluster_id.is_(None), Story.id.in_(page))
    )
    members = session.scalars(window.where(in_page))
    return queries.clusters(session, list(members)), len(keys) > limit


def cluster_sizes(session: Session, cluster_ids: Sequence[int]) -> dict[int, int]:
    """How many listed stories each of these events has."""
    if not cluster_ids:
        return {}
    query = (
        select(Story.cluster_id, func.count())
        .where(Story.cluster_id.in_(set(cluster_ids)), Story.status == "active")
        .group_by(Story.cluster_id)
    )
    return {int(c): int(n) for c, n in session.execute(query) if c is not None}


def cluster_stories(session: Session, cluster_id: int) -> list[Story]:
    """An event's listed stories in order of first sight."""
    query = (
        select(Story)
        .where(Story.cluster_id == cluster_id, Story.status == "active")
        .order_by(Story.first_seen_at, Story.id)
    )
    return list(session.scalars(query))


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    new: int
    changed: int
    removed: int


def _day(column: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def topic_counts(session: Session, topic: str, days: int, today: date) -> list[DayCount]:
    """Stories of a topic per UTC day, for the `days` days up to `today`: first seen (new),
    given a new version (changed) and found taken down (removed); days without any are 0."""
    start = today - timedelta(days=days - 1)
    since = datetime(start.year, start.month, start.day, tzinfo=UTC)
    dialect = session.get_bind().dialect.name
    in_topic = _in_topic(topic)
    listed = and_(Story.status == "active", Story.duplicate_kind.is_(None))
    counts: dict[date, list[int]] = {start + timedelta(days=i): [0, 0, 0] for i in range(days)}
    day = _day(Story.first_seen_at, dialect)
    new = (
        select(day, func.count())
        .where(in_topic, listed, Story.first_seen_at >= since)
        .group_by(day)
    )
    for value, n in session.execute(new):
        _add(counts, value, 0, n)
    vday = _day(Version.fetched_at, dialect)
    removed = Version.change_class == "removed"
    changes = (
        select(vday, removed, func.count())
        .join(Story, Story.id == Version.story_id)
        .where(in_topic, listed, Version.number > 1, Version.fetched_at >= since)
        # implied (a story's last change is its newest version), and a range of an index
        .where(Story.last_changed_at >= since)
        .group_by(vday, removed)
    )
    for value, was_removed, n in session.execute(changes):
        _add(counts, value, 2 if was_removed else 1, n)
    return [DayCount(d, *values) for d, values in sorted(counts.items())]


def _add(counts: dict[date, list[int]], value: Any, index: int, n: int) -> None:
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    if day in counts:
        counts[day][index] += int(n)


def share_of_voice(
    session: Session, topic: str, since: datetime, limit: int = 20
) -> list[tuple[str, int]]:
    """The outlets that covered a topic since `since`, most stories first."""
    name = _outlet_name()
    query = (
        select(name, func.count())
        .select_from(Story)
        .outerjoin(Source, Source.id == Story.source_id)
        .where(
            _in_topic(topic),
            Story.status == "active",
            Story.duplicate_kind.is_(None),
            Story.first_seen_at >= since,
        )
        .group_by(name)
        .order_by(func.count().desc(), name)
        .limit(limit)
    )
    return [(str(outlet or "-"), int(n)) for outlet, n in session.execute(query)]


def seed_copy_stories(session: Session, per_seed: int = 50) -> dict[str, list[Story]]:
    """The stories found to be copies of each seed, newest first."""
    found: dict[str, list[Story]] = {}
    query = (
        select(Story)
        .where(Story.duplicate_kind == "seed")
        .order_by(Story.first_seen_at.desc(), Story.id.desc())
        .limit(per_seed * 20)
    )
    for story in session.scalars(query):
        if story.duplicate_of_seed_id is not None:
            bucket = found.setdefault(story.duplicate_of_seed_id, [])
            if len(bucket) < per_seed:
                bucket.append(story)
    return found


def feed_versions(
    session: Session, topic: str | None, *, changes_only: bool, limit: int
) -> list[tuple[Story, Version]]:
    """The newest versions of listed, non-duplicate stories (version 1 is the story's arrival),
    newest first: one Atom entry each. The versions are read walking their fetched_at index,
    each story checked by its key, so a page costs the same whatever the table's size."""
    story = select(Story.id).where(
        Story.id == Version.story_id, Story.status == "active", Story.duplicate_kind.is_(None)
    )
    if topic is not None:
        story = story.where(_in_topic(topic))
    query = (
        select(Version)
        .where(story.exists())
        .order_by(Version.fetched_at.desc(), Version.id.desc())
        .limit(limit)
    )
    if changes_only:
        query = query.where(Version.number > 1)
    versions = list(session.scalars(query))
    stories = {
        s.id: s
        for s in session.scalars(select(Story).where(Story.id.in_({v.story_id for v in versions})))
    }
    return [(stories[v.story_id], v) for v in versions]
