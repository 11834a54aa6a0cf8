"""From the database to a Digest: which stories are new, changed and removed in a period.

The only module of the digest that reads the store. New stories are grouped by coverage
cluster (Story.cluster_id, monitor.core.clusters); copies of a story (which have no cluster of
their own) join their original's. cluster_keys() is the one place that knows this.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, defer

from monitor.core.diff import compute_diff, version_text
from monitor.core.text import one_line
from monitor.core.topics import explain
from monitor.digest.content import (
    ChangedItem,
    Digest,
    Link,
    NewItem,
    RemovedItem,
    TopicSection,
)
from monitor.digest.snippets import lead_snippet, text_snippets, title_snippet
from monitor.store.models import Story, Version

_Item = TypeVar("_Item", NewItem, ChangedItem, RemovedItem)

NO_TOPIC = "other"  # the section of on-topic-less stories (watched articles), for "all topics"
ALSO_NAMED = 3  # outlets named in "also: a, b, c, +N"
MAX_ITEMS = 50  # per list and topic, so a long outage does not make an unreadable email

# Most significant first (the README's table): the class a story is listed with when it
# changed several times in the period.
CLASS_ORDER = ("removed", "restored", "major", "headline", "edit", "minor")


def cluster_keys(session: Session, stories: Sequence[Story]) -> dict[int, int]:
    """Story id → the group it is shown in: its coverage cluster, its original's cluster
    for a copy, else the story itself (stories stored before clusters existed)."""
    original_ids = {s.duplicate_of_story_id for s in stories if _copy_of(s) is not None}
    originals: dict[int, int | None] = {}
    if original_ids:
        query = select(Story.id, Story.cluster_id).where(Story.id.in_(original_ids))
        originals = {story_id: cluster for story_id, cluster in session.execute(query)}
    keys = {}
    for story in stories:
        original = _copy_of(story)
        if original is not None:
            keys[story.id] = originals.get(original) or original
        else:
            keys[story.id] = story.cluster_id or story.id
    return keys


def _copy_of(story: Story) -> int | None:
    return story.duplicate_of_story_id if story.duplicate_kind == "story" else None


def outlet(story: Story) -> str:
    """The source's name, or the host of the story's URL."""
    if story.source is not None:
        return one_line(story.source.name)
    return one_line(urlsplit(story.url).hostname or story.url)


def link(story: Story, title: str | None = None) -> Link:
    return Link(
        title=one_line(title if title is not None else story.title) or "(no headline)",
        url=story.url,
        outlet=outlet(story),
    )


def build_digest(
    session: Session,
    recipient: str,
    topics: Sequence[str],
    start: datetime,
    end: datetime,
    timezone: str,
) -> Digest:
    """Everything a recipient following ``topics`` (none: all) should read about
    [start, end): new stories grouped with their copies (copies of seeds left out) with
    their lead, changed stories with the changed sentences, removed stories (those that
    came and went within the period too: a dead link is no news)."""
    new: list[Story] = []
    removed: list[tuple[Story, RemovedItem]] = []
    for story, versions in _versions_by_story(session, _new_stories(session, start, end), end):
        if versions[-1].change_class != "removed":
            new.append(story)
        elif story.duplicate_kind is None:  # a removed copy just leaves its group
            removed.append((story, _removed(story, versions)))
    keys = cluster_keys(session, new)
    changed: list[tuple[Story, ChangedItem]] = []
    for story in _changed_stories(session, start, end):
        item = _change(session, story, start, end)
        if isinstance(item, RemovedItem):
            removed.append((story, item))
        elif item is not None:
            changed.append((story, item))
    wanted = list(dict.fromkeys(topics))
    names = wanted or _all_topics(new, [s for s, _ in changed + removed])
    sections = [
        section
        for section in (_section(topic, new, keys, changed, removed) for topic in names)
        if section.new or section.changed or section.removed
    ]
    shown = [section.topic for section in sections]

    def shown_ids(stories: Iterable[Story]) -> set[int]:
        return {s.id for s in stories if any(_in_topic(s, t) for t in shown)}

    return Digest(
        recipient=recipient,
        period_start=start,
        period_end=end,
        timezone=timezone,
        sections=_cross_listed(_with_leads(session, sections, new, end)),
        new_count=_new_count(new, keys, shown),
        changed_count=len(shown_ids(s for s, _ in changed)),
        removed_count=len(shown_ids(s for s, _ in removed)),
    )


def _new_count(new: Sequence[Story], keys: dict[int, int], topics: Sequence[str]) -> int:
    """The new stories a reader sees: one per entry's lead, however many topics list it
    (copies and coverage folded into an entry are not counted again)."""
    leads = set()
    for topic in topics:
        for lead, _ in _clusters([s for s in new if _in_topic(s, topic)], keys):
            leads.add(lead.id)
    return len(leads)


def _versions_by_story(
    session: Session, stories: Sequence[Story], end: datetime
) -> list[tuple[Story, list[Version]]]:
    """Each story with its versions fetched before the period's end, without their text
    (what became of it by then: a story removed after the period was news in it)."""
    if not stories:
        return []
    query = (
        select(Version)
        .options(defer(Version.raw_html), defer(Version.text))
        .where(Version.story_id.in_([s.id for s in stories]), Version.fetched_at < end)
        .order_by(Version.story_id, Version.number)
    )
    versions: dict[int, list[Version]] = defaultdict(list)
    for version in session.scalars(query):
        versions[version.story_id].append(version)
    return [(story, versions[story.id]) for story in stories if versions[story.id]]


def _removed(story: Story, versions: Sequence[Version]) -> RemovedItem:
    """A story whose last version is its removal, under the headline it had before it
    was taken down, with when it was first seen and when it was found gone."""
    kept = [v for v in versions if v.change_class != "removed"]
    return RemovedItem(
        story=link(story, kept[-1].title if kept else versions[-1].title),
        first_seen=story.first_seen_at,
        removed_at=versions[-1].fetched_at,
    )


def _with_leads(
    session: Session,
    sections: Sequence[TopicSection],
    new: Sequence[Story],
    end: datetime,
) -> list[TopicSection]:
    """Each new item with the first sentences of its lead story's text as of the
    period's end (the stored extracted text: no menus, ads or "most read" lists)."""
    by_url = {s.url: s for s in new}
    leads = {by_url[item.story.url].id for section in sections for item in section.new}
    if not leads:
        return list(sections)
    numbers = (
        select(Version.story_id, func.max(Version.number).label("number"))
        .where(Version.story_id.in_(leads), Version.fetched_at < end)
        .group_by(Version.story_id)
        .subquery()
    )
    query = select(Version.story_id, Version.title, Version.text).join(
        numbers,
        (Version.story_id == numbers.c.story_id) & (Version.number == numbers.c.number),
    )
    rows = session.execute(query)
    texts = {story_id: lead_snippet(text, title) for story_id, title, text in rows}

    def lead(item: NewItem) -> NewItem:
        return replace(item, snippet=texts.get(by_url[item.story.url].id, ""))

    return [replace(s, new=tuple(lead(item) for item in s.new)) for s in sections]


def _cross_listed(sections: Sequence[TopicSection]) -> tuple[TopicSection, ...]:
    """Every item marked with the other sections that list the same story, so that a
    reader who counts the entries sees why the header's count is smaller."""
    where: dict[tuple[str, str], list[str]] = defaultdict(list)
    for section in sections:
        for kind, items in _lists(section):
            for item in items:
                where[kind, item.story.url].append(section.topic)

    def mark(topic: str, kind: str, items: tuple[_Item, ...]) -> tuple[_Item, ...]:
        others = [tuple(t for t in where[kind, i.story.url] if t != topic) for i in items]
        return tuple(replace(i, also_under=o) for i, o in zip(items, others, strict=True))

    return tuple(
        replace(
            s,
            new=mark(s.topic, "new", s.new),
            changed=mark(s.topic, "changed", s.changed),
            removed=mark(s.topic, "removed", s.removed),
        )
        for s in sections
    )


def _lists(section: TopicSection) -> list[tuple[str, tuple[Any, ...]]]:
    return [("new", section.new), ("changed", section.changed), ("removed", section.removed)]


def _section(
    topic: str,
    new: Sequence[Story],
    keys: dict[int, int],
    changed: Sequence[tuple[Story, ChangedItem]],
    removed: Sequence[tuple[Story, RemovedItem]],
) -> TopicSection:
    """One topic's lists, each cut at MAX_ITEMS (how many were left out is kept)."""
    new_items = _group([s for s in new if _in_topic(s, topic)], keys, topic)
    changed_items = [i for s, i in changed if _in_topic(s, topic)]
    removed_items = [i for s, i in removed if _in_topic(s, topic)]
    lists = (new_items, changed_items, removed_items)
    return TopicSection(
        topic=topic,
        new=tuple(new_items[:MAX_ITEMS]),
        changed=tuple(changed_items[:MAX_ITEMS]),
        removed=tuple(removed_items[:MAX_ITEMS]),
        omitted=sum(max(0, len(items) - MAX_ITEMS) for items in lists),
    )


def _why(story: Story, topic: str) -> str:
    for row in story.topics:
        if row.topic == topic and row.matched_by == "like":
            return explain(row.matched_by, row.terms, row.example, row.score)
    return ""


def _in_topic(story: Story, topic: str) -> bool:
    names = [t.topic for t in story.topics]
    return topic in names or (topic == NO_TOPIC and not names)


def _all_topics(*groups: Sequence[Story]) -> list[str]:
    names = sorted({t.topic for group in groups for s in group for t in s.topics})
    if any(not s.topics for group in groups for s in group):
        names.append(NO_TOPIC)
    return names


def _new_stories(session: Session, start: datetime, end: datetime) -> Sequence[Story]:
    """Listed stories first seen in the period, copies of stories included (they join
    their original's "also:" line), copies of seeds not (the reader knows the seed)."""
    query = (
        select(Story)
        .where(
            Story.status == "active",
            Story.first_seen_at >= start,
            Story.first_seen_at < end,
            or_(Story.duplicate_kind.is_(None), Story.duplicate_kind == "story"),
        )
        .order_by(Story.first_seen_at, Story.id)
    )
    return session.scalars(query).all()


def _clusters(stories: Sequence[Story], keys: dict[int, int]) -> list[tuple[Story, list[Story]]]:
    """(lead, members) per cluster, in the order clusters were first seen. The lead is
    the cluster's first story when that is new too, else the first member seen."""
    clusters: dict[int, list[Story]] = defaultdict(list)
    for story in stories:
        clusters[keys[story.id]].append(story)
    return [
        (next((s for s in members if s.id == key), members[0]), members)
        for key, members in clusters.items()
    ]


def _group(stories: Sequence[Story], keys: dict[int, int], topic: str) -> list[NewItem]:
    """One item per cluster: its lead, the other outlets as "also", and why the lead is in
    `topic` when it matched by similarity to an example."""
    items = []
    for lead, members in _clusters(stories, keys):
        others = list(dict.fromkeys(outlet(s) for s in members if s is not lead))
        others = [name for name in others if name != outlet(lead)]
        items.append(
            NewItem(
                story=link(lead),
                also=tuple(others[:ALSO_NAMED]),
                also_more=max(0, len(others) - ALSO_NAMED),
                why=_why(lead, topic),
            )
        )
    return items


def _changed_stories(session: Session, start: datetime, end: datetime) -> Sequence[Story]:
    """Listed, non-duplicate stories seen before the period with a new version in it."""
    changed_ids = select(Version.story_id).where(
        Version.fetched_at >= start, Version.fetched_at < end, Version.number > 1
    )
    query = (
        select(Story)
        .where(
            Story.id.in_(changed_ids),
            Story.status == "active",
            Story.first_seen_at < start,
            Story.duplicate_kind.is_(None),
        )
        .order_by(Story.id)
    )
    return session.scalars(query).all()


def _versions(session: Session, story_id: int, end: datetime) -> list[Version]:
    """The story's versions fetched before the period's end (without the stored HTML)."""
    query = (
        select(Version)
        .options(defer(Version.raw_html))
        .where(Version.story_id == story_id, Version.fetched_at < end)
        .order_by(Version.number)
    )
    return list(session.scalars(query))


def _change(
    session: Session, story: Story, start: datetime, end: datetime
) -> ChangedItem | RemovedItem | None:
    """What became of the story in the period, compared with the last content it had
    before the period; None when the edits cancel out."""
    versions = _versions(session, story.id, end)
    in_period = [v for v in versions if v.fetched_at >= start]
    if not in_period:
        return None
    latest = in_period[-1]
    if latest.change_class == "removed":
        return _removed(story, versions)
    before = [v for v in versions if v.number < in_period[0].number and v.change_class != "removed"]
    if not before:
        return None
    diff = compute_diff(version_text(before[-1]), version_text(latest))
    if not (diff.title_changed or diff.changes):
        return None
    snippets, more = text_snippets(diff.segments)
    return ChangedItem(
        story=link(story, latest.title),
        change_class=_strongest({v.change_class for v in in_period} - {"removed"}),
        title_diff=title_snippet(*diff.title_changed) if diff.title_changed else None,
        snippets=snippets,
        more_snippets=more,
    )


def _strongest(classes: set[str | None]) -> str:
    for name in CLASS_ORDER:
        if name in classes:
            return name
    return "edit"
