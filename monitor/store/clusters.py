"""The writer's event index (monitor.core.clusters.EventIndex), kept in step with the
database: filled once from the stored stories (the window's indexed, up to
BACKGROUND_STORIES older ones counted in the background), then, before each look-up, topped
up with the stories stored since (by this writer or by another process sharing the
database: a CLI poll beside the service). A look-up therefore reads the few rows stored
since the last one, never the whole window.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from monitor.core.clusters import EventIndex, Indexed
from monitor.store.models import Story, StoryTopic

BACKGROUND_STORIES = 20_000  # older stories whose terms are counted at start
OVERLAP = 32  # ids below the highest seen read again: a slower writer may commit them late


class StoredEvents:
    """One per writer; safe to call from several threads (one look-up at a time)."""

    def __init__(self, window: timedelta) -> None:
        self.index = EventIndex(window)
        self._highest: int | None = None  # the highest story id read
        self._recent: set[int] = set()  # the ids read within OVERLAP of it
        self._lock = threading.Lock()

    def best_cluster(
        self,
        session: Session,
        terms: frozenset[str],
        topics: Sequence[str],
        now: datetime,
        threshold: float,
        keywords: frozenset[str] = frozenset(),
    ) -> tuple[int, float] | None:
        """The cluster a new story first seen `now` joins, with its score, if any (keywords:
        the words of the topic keywords it matched)."""
        with self._lock:
            self._catch_up(session, now)
            self.index.expire(now)
            return self.index.best_cluster(
                terms, topics=topics, seen=now, threshold=threshold, keywords=keywords
            )

    def _catch_up(self, session: Session, now: datetime) -> None:
        """Read the stories stored since the last look-up (at first: the window's, after the
        background's), in one query."""
        since = now - self.index.window
        if self._highest is None:
            self._highest = 0
            self._learn_background(session, since)
            wanted = Story.first_seen_at >= since
        else:
            floor = self._highest - OVERLAP
            self._recent = {i for i in self._recent if i > floor}
            wanted = and_(Story.id > floor, Story.id.not_in(self._recent))
        rows = session.connection().execute(  # Core: no ORM work for plain columns
            select(
                Story.id,
                Story.cluster_id,
                Story.cluster_terms,
                Story.first_seen_at,
                StoryTopic.topic,
            )
            .outerjoin(StoryTopic, StoryTopic.story_id == Story.id)
            .where(Story.cluster_id.is_not(None), wanted)
            .order_by(Story.id)
        )
        stories: dict[int, tuple[int, list[str], datetime, list[str]]] = {}
        for story_id, cluster_id, terms, seen, topic in rows:
            if cluster_id is None:  # not so: the query asks for clustered stories
                continue
            known = stories.setdefault(story_id, (cluster_id, terms or [], seen, []))
            if topic is not None:
                known[3].append(topic)
        for story_id, (cluster_id, terms, seen, topics) in stories.items():
            self._highest = max(self._highest or 0, story_id)
            self._recent.add(story_id)
            if seen < since:
                self.index.learn(terms)
            else:
                self.index.add(story_id, Indexed.of(cluster_id, seen, topics, terms))

    def _learn_background(self, session: Session, since: datetime) -> None:
        rows = session.execute(
            select(Story.id, Story.cluster_terms)
            .where(Story.cluster_id.is_not(None), Story.first_seen_at < since)
            .order_by(Story.id.desc())
            .limit(BACKGROUND_STORIES)
        )
        for story_id, terms in rows:
            self.index.learn(terms or ())
            self._highest = max(self._highest or 0, story_id)
            self._recent.add(story_id)
