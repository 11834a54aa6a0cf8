"""Topic rules as the pipeline uses them, and stored stories matched again.

A topic's `like` examples are weighted by document frequencies over a corpus: the seeds,
the examples and the most recent stored stories, read at start and again by housekeeping.
When a topic's rules change (config.TopicConfig.rules_hash), the stories stored within
[matching] reevaluate are matched again at the next start, so the listing follows the
configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Config, TopicConfig
from monitor.core import similarity
from monitor.core.topics import TopicMatch, TopicRule, match_topics
from monitor.store.models import Source, Story, StoryTopic, TopicState, Version

log = logging.getLogger(__name__)

CORPUS_STORIES = 2000  # the most recent stored stories whose words weigh the examples


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def build_rules(config: Config, stored: Sequence[str] = ()) -> tuple[TopicRule, ...]:
    """The config's topics as rules; `stored`: texts of stored stories for the statistics."""
    examples = {
        t.name: [(label, _read(path)) for label, path in config.examples(t)] for t in config.topics
    }
    corpus: similarity.Corpus | None = None
    rules = []
    for topic in config.topics:
        like = None
        if examples[topic.name]:
            if corpus is None:
                seeds = [_read(p) for p in sorted(config.seeds_dir.glob("*.txt"))]
                texts = [text for pairs in examples.values() for _, text in pairs]
                own = dict.fromkeys([*seeds, *texts])  # a seed that is an example: once
                corpus = similarity.Corpus.of([*own, *stored])
            like = similarity.build(examples[topic.name], corpus, topic.like_threshold)
        rules.append(rule_of(topic, like))
    return tuple(rules)


def rule_of(topic: TopicConfig, like: similarity.Similar | None = None) -> TopicRule:
    return TopicRule(topic.name, tuple(topic.keywords), tuple(topic.exclude), topic.query, like)


def corpus_texts(session: Session, limit: int = CORPUS_STORIES) -> list[str]:
    """Headline and text of the latest version of the most recent stored stories."""
    rows = session.execute(
        select(Version.title, Version.text)
        .join(Story, and_(Story.id == Version.story_id, Story.version_count == Version.number))
        .order_by(Story.first_seen_at.desc())
        .limit(limit)
    )
    return [f"{title}\n\n{text}" for title, text in rows]


@dataclass(frozen=True, slots=True)
class StoredStory:
    """A stored story as matching sees it. Off-topic stories are kept without their text:
    they are matched on headline, outlet and URL."""

    id: int
    title: str
    text: str
    outlet: str
    url: str
    status: str
    watched: bool  # from an `article` source: always listed, whatever its topics


BATCH = 500  # stories read, matched and written at a time: memory and transactions stay small


def stored_story_ids(session: Session, since: datetime) -> list[int]:
    """Every story first seen since `since`, on-topic or not, newest first."""
    query = (
        select(Story.id)
        .where(Story.first_seen_at >= since)
        .order_by(Story.first_seen_at.desc(), Story.id.desc())
    )
    return list(session.scalars(query))


def stored_stories(session: Session, ids: Sequence[int]) -> list[StoredStory]:
    """The stories `ids` with the text of their latest version, in the order of `ids`."""
    rows = session.execute(
        select(
            Story.id,
            Story.title,
            Version.text,
            Story.outlet,
            Story.url,
            Story.status,
            Source.kind,
        )
        .outerjoin(
            Version, and_(Version.story_id == Story.id, Version.number == Story.version_count)
        )
        .outerjoin(Source, Source.id == Story.source_id)
        .where(Story.id.in_(ids))
    )
    found = {
        id: StoredStory(id, title or "", text or "", outlet or "", url, status, kind == "article")
        for id, title, text, outlet, url, status, kind in rows
    }
    return [found[id] for id in ids if id in found]


def batches(ids: Sequence[int], size: int = BATCH) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def match_stored(rules: Sequence[TopicRule], story: StoredStory) -> list[TopicMatch]:
    return match_topics(rules, story.title, story.text, outlet=story.outlet, url=story.url)


def changed_topics(session: Session, config: Config) -> list[TopicConfig]:
    """The topics whose rules differ from those their stored stories were matched with."""
    rows = session.execute(select(TopicState.topic, TopicState.rules_hash))
    known = {topic: rules_hash for topic, rules_hash in rows}
    return [t for t in config.topics if known.get(t.name) != t.rules_hash()]


def reevaluate(
    sessions: sessionmaker[Session], config: Config, rules: Sequence[TopicRule], now: datetime
) -> tuple[int, int]:
    """Match stories stored within [matching] reevaluate again against the topics whose rules
    changed; returns (stories added to a topic, stories taken out of one).

    A listed story left with no topic becomes off-topic (its versions are kept); an off-topic
    story that now matches is listed, and fetched at once if it was stored without its text.
    A topic never recorded (a new one, or the first start after an upgrade) counts as changed.
    Stories are read and matched a batch at a time outside any transaction; each batch's
    changes are written in a short one. The rules are recorded last, so a start that stops
    half-way does it again.
    """
    with sessions() as session:
        changed = changed_topics(session, config)
        ids = stored_story_ids(session, now - config.matching.reevaluate) if changed else []
    if not changed:
        return 0, 0
    names = {t.name for t in changed}
    changed_rules = [r for r in rules if r.name in names]
    added = dropped = 0
    for batch in batches(ids):
        with sessions() as session:
            stored = [s for s in stored_stories(session, batch) if not s.watched]
        matched = {s.id: {m.topic: m for m in match_stored(changed_rules, s)} for s in stored}
        try:
            with sessions.begin() as session:
                for story_id, matches in matched.items():
                    story = session.get(Story, story_id)
                    if story is None:
                        continue
                    gained, lost = _retopic(story, names, matches, now)
                    added += gained
                    dropped += lost
        except IntegrityError:  # a worker starting beside this one wrote the same rows
            log.info("topics: another worker matched these stories again meanwhile")
    for attempt in (1, 2):
        try:
            _record_rules(sessions, changed, now)
            break
        except IntegrityError:  # a worker starting beside this one inserted a state first
            if attempt == 2:
                raise
    return added, dropped


def _record_rules(
    sessions: sessionmaker[Session], topics: Sequence[TopicConfig], now: datetime
) -> None:
    with sessions.begin() as session:
        for topic in topics:
            state = session.get(TopicState, topic.name)
            if state is None:
                state = TopicState(topic=topic.name, rules_hash="", evaluated_at=now)
                session.add(state)
            state.rules_hash, state.evaluated_at = topic.rules_hash(), now


def _retopic(
    story: Story, names: set[str], matches: dict[str, TopicMatch], now: datetime
) -> tuple[bool, bool]:
    """Give `story` the changed topics (`names`) that now match it; (gained one, lost one)."""
    before = {row.topic: row.matched_by for row in story.topics if row.topic in names}
    if before == {topic: m.by for topic, m in matches.items()}:
        return False, False
    kept = [row for row in story.topics if row.topic not in names]
    story.topics = sorted([*kept, *topic_rows(list(matches.values()))], key=lambda r: r.topic)
    if story.status == "active" and not story.topics:
        story.status = "offtopic"
    elif story.status == "offtopic" and story.topics:
        story.status = "active"
        if story.version_count == 0:  # stored without its text: fetch it now
            story.next_check_at, story.recheck_step = now, 0
    return bool(matches.keys() - before.keys()), bool(before.keys() - matches.keys())


def topic_rows(matches: Sequence[TopicMatch]) -> list[StoryTopic]:
    """A story's topics as stored, each with why it matched."""
    wanted = {m.topic: m for m in matches}
    return [
        StoryTopic(
            topic=m.topic, terms=list(m.terms), matched_by=m.by, example=m.example, score=m.score
        )
        for _, m in sorted(wanted.items())
    ]


def stories_in_topic(session: Session, topic: str, ids: Sequence[int]) -> set[int]:
    """Of `ids`, the stories stored under `topic`."""
    if not ids:
        return set()
    rows = session.scalars(
        select(StoryTopic.story_id).where(StoryTopic.topic == topic, StoryTopic.story_id.in_(ids))
    )
    return set(rows)


@dataclass(frozen=True, slots=True)
class Trial:
    """What a topic's rules (or a query) find among the stored stories: `monitor topics test`."""

    stories: int  # stored in the window
    without_text: int  # of them off-topic, stored without their text
    matches: list[tuple[StoredStory, TopicMatch]]
    added: list[tuple[StoredStory, TopicMatch]]  # matches not listed under the compared topic
    dropped: list[StoredStory] | None  # listed under it, no match; None: compared with none


def try_rule(session: Session, rule: TopicRule, compare_with: str | None, since: datetime) -> Trial:
    """Match `rule` against every story stored since `since`, on-topic or not, and compare
    with the stories listed under topic `compare_with` (None: listed under any topic)."""
    ids = stored_story_ids(session, since)
    matches: list[tuple[StoredStory, TopicMatch]] = []
    added: list[tuple[StoredStory, TopicMatch]] = []
    dropped: list[StoredStory] = []
    without_text = 0
    for batch in batches(ids):
        stored = stored_stories(session, batch)
        if compare_with is not None:
            listed = stories_in_topic(session, compare_with, batch)
        else:
            listed = {s.id for s in stored if s.status == "active"}
        for story in stored:
            without_text += not story.text and story.status == "offtopic"
            found = match_stored([rule], story)
            if found:
                matches.append((story, found[0]))
                if story.id not in listed:
                    added.append((story, found[0]))
            elif story.id in listed:
                dropped.append(story)
        session.expunge_all()
    return Trial(
        stories=len(ids),
        without_text=without_text,
        matches=matches,
        added=added,
        dropped=dropped if compare_with is not None else None,
    )
