"""Stories as the store keeps them: a new story (topics, duplicate check, cluster, version
1), and what a later check of a known one found (a new version, a removal, nothing).

Synchronous, inside the caller's transaction: the pipeline decides when and in which
session; this module decides what is written.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from monitor import schedule
from monitor.changes import classify, is_removal
from monitor.clusters import best_cluster, cluster_terms
from monitor.config import Config
from monitor.dedupe import DuplicateMatch, find_duplicate, index_story
from monitor.diff import compute_diff, version_text
from monitor.extract import Article
from monitor.fetch import Failed, Fetched, NotModified
from monitor.fingerprint import fingerprint
from monitor.normalize import content_hash, normalize_text
from monitor.sources.feed import FeedEntry
from monitor.store import queries
from monitor.store.models import Story, StoryTopic, Version
from monitor.topics import TopicMatch, TopicRule, match_topics
from monitor.urls import canonicalize_url, identity_key

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Extracted:
    """An article as fetched and understood, ready to store."""

    article: Article
    raw_html: bytes
    fetched: Fetched


class StoryWriter:
    """Writes stories and their versions. One per pipeline: it keeps the clustering cache."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.rules = [TopicRule(t.name, tuple(t.keywords), tuple(t.exclude)) for t in config.topics]
        self._cluster_terms = queries.ClusterTermsCache()

    def new_story(
        self,
        session: Session,
        source_id: int,
        url: str,
        extracted: Extracted,
        entry: FeedEntry | None,
        now: datetime,
        recheck: Sequence[timedelta],
    ) -> Story:
        """Story and version 1. A watched article (no feed entry) is kept whatever its topics
        and never marked a duplicate: someone asked for that page by name."""
        article = extracted.article
        title = article.title or (entry.title if entry else "")
        matches = match_topics(self.rules, title, article.text)
        watched = entry is None
        story = Story(
            url=url,
            source_id=source_id,
            first_seen_at=now,
            title=title,
            published_at=article.published or (entry.published if entry else None),
            status="active" if matches or watched else "offtopic",
            version_count=0,
            recheck_step=0,
        )
        session.add(story)
        session.flush()
        if story.status == "offtopic":
            return story
        self._set_topics(story, matches)
        self._add_version(session, story, extracted, title, now)
        if watched:
            story.next_check_at = None
            return story
        story.next_check_at, story.recheck_step = schedule.first_recheck(now, recheck)
        if self._dedupe(session, story, article.text) is None:
            self._cluster(session, story, title, article.text, now)
        return story

    def _cluster(
        self, session: Session, story: Story, title: str, text: str, now: datetime
    ) -> None:
        """Join the cluster of the most similar recent story, or start one."""
        terms = cluster_terms(title, text)
        story.cluster_terms = sorted(terms)
        settings = self.config.clusters
        candidates = queries.cluster_candidates(
            session,
            since=now - settings.window,
            topics=[t.topic for t in story.topics],
            exclude=story.id,
            cache=self._cluster_terms,
        )
        best = best_cluster(terms, candidates, threshold=settings.threshold)
        story.cluster_id = best[0] if best else story.id

    def _dedupe(self, session: Session, story: Story, text: str) -> DuplicateMatch | None:
        """Mark the story as a copy of a seed or an earlier story, or index it for later."""
        normalized = normalize_text(text)
        text_hash = content_hash("", normalized)
        print_ = fingerprint(normalized)
        match = find_duplicate(session, normalized, text_hash, print_, exclude=story.id)
        if match is None:
            index_story(session, story, normalized, print_)
            return None
        story.text_hash = text_hash
        story.duplicate_kind = match.kind
        story.similarity = match.similarity
        if match.kind == "seed":
            story.duplicate_of_seed_id = str(match.id)
        else:
            story.duplicate_of_story_id = int(match.id)
        return match

    @staticmethod
    def _set_topics(story: Story, matches: Sequence[TopicMatch]) -> None:
        wanted = {m.topic: list(m.terms) for m in matches}
        story.topics = [StoryTopic(topic=t, terms=terms) for t, terms in sorted(wanted.items())]

    @staticmethod
    def _add_version(
        session: Session, story: Story, extracted: Extracted, title: str, now: datetime
    ) -> Version:
        article = extracted.article
        story.version_count += 1
        row = Version(
            story_id=story.id,
            number=story.version_count,
            fetched_at=now,
            title=title,
            byline=article.byline,
            published_at=article.published,
            canonical_url=article.canonical_url,
            text=article.text,
            content_hash=content_hash(title, article.text),
            raw_html=queries.compress_html(extracted.raw_html),
        )
        session.add(row)
        story.title = title
        story.etag = extracted.fetched.etag
        story.last_modified = extracted.fetched.last_modified
        return row

    def observe(
        self,
        session: Session,
        story: Story,
        result: Extracted | NotModified | Failed,
        now: datetime,
    ) -> bool:
        """Record what a check of a known story found; True when it wrote a version."""
        if isinstance(result, NotModified):
            return False
        if isinstance(result, Failed):
            if is_removal(result.status, story.url):
                return self._record_removal(session, story, now)
            log.warning("re-check %s: %s", story.url, result.message)
            return False
        if is_removal(result.fetched.status, story.url, result.fetched.url):
            return self._record_removal(session, story, now)
        return self._record_if_changed(session, story, result, now)

    def _record_removal(self, session: Session, story: Story, now: datetime) -> bool:
        """A page taken down is a version of its own: empty text, the last headline kept."""
        latest = queries.latest_version(session, story.id)
        if latest is None or latest.change_class == "removed":
            return False
        story.version_count += 1
        session.add(
            Version(
                story_id=story.id,
                number=story.version_count,
                fetched_at=now,
                title=latest.title,
                byline=None,
                published_at=None,
                canonical_url=None,
                text="",
                content_hash=content_hash(latest.title, ""),
                raw_html=None,
                change_class="removed",
                words_added=0,
                words_removed=len(latest.text.split()),
            )
        )
        story.change_class = "removed"
        story.last_changed_at = now
        story.etag = story.last_modified = None
        return True

    def _record_if_changed(
        self, session: Session, story: Story, extracted: Extracted, now: datetime
    ) -> bool:
        """Write version N+1 when the normalised headline or text differ from version N."""
        article = extracted.article
        latest = queries.latest_version(session, story.id)
        title = article.title or (latest.title if latest else story.title)
        story.etag = extracted.fetched.etag
        story.last_modified = extracted.fetched.last_modified
        was_removed = latest is not None and latest.change_class == "removed"
        if (
            latest is not None
            and not was_removed
            and latest.content_hash == content_hash(title, article.text)
        ):
            return False
        version = self._add_version(session, story, extracted, title, now)
        if latest is not None:
            before = queries.latest_content_version(session, story.id, below=version.number)
            classify_version(version, before or latest, restored=was_removed)
        story.change_class = version.change_class
        matches = match_topics(self.rules, title, article.text)
        if matches:
            self._set_topics(story, matches)
        story.last_changed_at = now
        if story.duplicate_kind is None:
            index_story(session, story, normalize_text(article.text))
        return True


def story_urls(entry_url: str, extracted: Extracted) -> dict[str, str]:
    """{identity key: URL} for every URL a fetched article answers to: the link it was found
    by, where its redirects ended, and its declared canonical URL (last, so it names the
    story). A canonical that points at a site's front page is a site bug and ignored."""
    urls = [entry_url, canonicalize_url(extracted.fetched.url)]
    canonical = extracted.article.canonical_url
    if canonical and urlsplit(canonical).path not in ("", "/"):
        urls.append(canonicalize_url(canonical))
    found: dict[str, str] = {}
    for url in urls:
        found.pop(identity_key(url), None)
        found[identity_key(url)] = url
    return found


def classify_version(version: Version, before: Version, *, restored: bool) -> None:
    """Set a version's change class and word counts against the version before it."""
    result = compute_diff(version_text(before), version_text(version))
    version.words_added = result.words_added
    version.words_removed = result.words_removed
    version.change_class = (
        "restored" if restored else classify(result, before.title, version.title, before.text)
    )
