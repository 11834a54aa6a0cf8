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

from monitor.config import Config
from monitor.core import decide, schedule
from monitor.core.changes import classify
from monitor.core.clusters import best_cluster, cluster_terms
from monitor.core.diff import compute_diff, version_text
from monitor.core.extract import Article
from monitor.core.fingerprint import Fingerprint
from monitor.core.normalize import content_hash
from monitor.core.sources.feed import FeedEntry
from monitor.core.topics import TopicMatch, TopicRule, match_topics
from monitor.core.urls import canonicalize_url, identity_key
from monitor.fetch import Failed, Fetched, NotModified
from monitor.store import queries
from monitor.store.dedupe import DuplicateMatch, find_duplicate, index_story
from monitor.store.models import Story, Version
from monitor.store.topic_rules import build_rules, corpus_texts, topic_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Extracted:
    """An article as fetched and understood (in the process pool), ready to store."""

    article: Article
    fetched: Fetched
    normalized: str  # normalize_text(article.text)
    fingerprint: Fingerprint
    topics: tuple[TopicMatch, ...]  # of the article's own headline and text
    cluster_terms: frozenset[str]  # likewise
    compressed_html: bytes  # fetched.body as the store keeps it


class StoryWriter:
    """Writes stories and their versions. One per pipeline: it keeps the clustering cache."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.rules: tuple[TopicRule, ...] = build_rules(config)
        self.corpus_read = False  # the stored stories have weighed the examples
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
        """Story and version 1, as monitor.core.decide.new_story says (entry None: a watched page).

        Everything that only reads (the duplicate look-up, the cluster candidates) comes
        before the first write, so SQLite's write lock is held for the inserts alone.
        """
        article = extracted.article
        title = article.title or (entry.title if entry else "")
        matches = self._topics(extracted, title)
        watched = entry is None
        duplicate: DuplicateMatch | None = None
        cluster: tuple[int, float] | None = None
        terms: frozenset[str] = frozenset()
        if decide.needs_lookups(matches, watched=watched):
            duplicate = self._find_duplicate(session, extracted)
            if duplicate is None:
                terms = (
                    extracted.cluster_terms
                    if title == article.title
                    else cluster_terms(title, article.text)
                )
                cluster = self._best_cluster(session, terms, [m.topic for m in matches], now)
        plan = decide.new_story(
            matches,
            watched=watched,
            duplicate=duplicate,
            cluster_id=cluster[0] if cluster else None,
        )
        story = Story(
            url=url,
            source_id=source_id,
            first_seen_at=now,
            title=title,
            outlet=article.site_name or (entry.feed_title if entry else None),
            published_at=article.published or (entry.published if entry else None),
            status="active" if plan.listed else "offtopic",
            version_count=0,
            recheck_step=0,
        )
        session.add(story)
        session.flush()
        if not plan.listed:
            return story
        self._set_topics(story, plan.topics)
        self._add_version(session, story, extracted, title, now)
        story.next_check_at = None
        if plan.rechecked:
            story.next_check_at, story.recheck_step = schedule.first_recheck(now, recheck)
        if plan.duplicate is not None:
            self._mark_duplicate(story, extracted, plan.duplicate)
            return story
        index_story(session, story, extracted.normalized, extracted.fingerprint)
        if not watched:
            story.cluster_terms = sorted(terms)
            story.cluster_id = plan.cluster_id or story.id
        return story

    def adopt_watched(
        self, session: Session, story: Story, extracted: Extracted, now: datetime
    ) -> bool:
        """A watched page whose story a feed stored first becomes what a watched page is
        (monitor.core.decide.adopt_watched). True when anything changed."""
        if not decide.adopt_watched(
            listed=story.status == "active",
            folded=story.duplicate_kind is not None,
            has_version=story.version_count > 0,
        ):
            return False
        story.status = "active"
        story.duplicate_kind = story.duplicate_of_seed_id = None
        story.duplicate_of_story_id = None
        story.similarity = None
        story.next_check_at = None  # the source's interval drives its checks
        if not story.version_count:  # stored off-topic: it never had a version
            title = extracted.article.title or story.title
            self._set_topics(story, self._topics(extracted, title))
            self._add_version(session, story, extracted, title, now)
        index_story(session, story, extracted.normalized, extracted.fingerprint)
        return True

    def refresh_rules(self, session: Session) -> None:
        """Weigh the topics' examples by the stored stories as they are now."""
        if any(rule.like is not None for rule in self.rules):
            self.rules = build_rules(self.config, corpus_texts(session))
        self.corpus_read = True

    def _best_cluster(
        self, session: Session, terms: frozenset[str], topics: list[str], now: datetime
    ) -> tuple[int, float] | None:
        """The cluster of the most similar recent story, if any is close enough."""
        settings = self.config.clusters
        candidates = queries.cluster_candidates(
            session,
            since=now - settings.window,
            topics=topics,
            exclude=None,
            cache=self._cluster_terms,
        )
        return best_cluster(terms, candidates, threshold=settings.threshold)

    def _find_duplicate(self, session: Session, extracted: Extracted) -> DuplicateMatch | None:
        """Is the text a copy of a seed or of a stored story? (Reads only.)"""
        text_hash = content_hash("", extracted.normalized)
        return find_duplicate(session, extracted.normalized, text_hash, extracted.fingerprint)

    @staticmethod
    def _mark_duplicate(story: Story, extracted: Extracted, match: DuplicateMatch) -> None:
        story.text_hash = content_hash("", extracted.normalized)
        story.duplicate_kind = match.kind
        story.similarity = match.similarity
        if match.kind == "seed":
            story.duplicate_of_seed_id = str(match.id)
        else:
            story.duplicate_of_story_id = int(match.id)

    def _topics(self, extracted: Extracted, title: str) -> Sequence[TopicMatch]:
        """The topics matched in the pool, unless the headline came from elsewhere (the feed
        entry, the previous version): then they are matched again here."""
        if title == extracted.article.title:
            return extracted.topics
        article = extracted.article
        return match_topics(
            self.rules,
            title,
            article.text,
            outlet=article.site_name or "",
            url=extracted.fetched.url,
        )

    @staticmethod
    def _set_topics(story: Story, matches: Sequence[TopicMatch]) -> None:
        story.topics = topic_rows(matches)

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
            raw_html=extracted.compressed_html,
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
        """Record what a check of a known story found (monitor.core.decide.check); True when it
        wrote a version."""
        if isinstance(result, NotModified):  # "unchanged" (decide.check), without a read
            return False
        latest = queries.latest_version(session, story.id)
        title = story.title
        observed: decide.Observation
        if isinstance(result, Failed):
            observed = decide.Unreachable(result.status, result.message)
        else:
            title = result.article.title or (latest.title if latest else story.title)
            story.etag = result.fetched.etag
            story.last_modified = result.fetched.last_modified
            observed = decide.Fetched(
                result.fetched.status,
                result.fetched.url,
                content_hash(title, result.article.text),
            )
        known = (
            decide.Latest(latest.content_hash, latest.change_class == "removed")
            if latest is not None
            else None
        )
        outcome = decide.check(story.url, known, observed)
        if outcome == "failed":
            assert isinstance(result, Failed)
            log.warning("re-check %s: %s", story.url, result.message)
            return False
        if outcome == "unchanged":
            return False
        if outcome == "removed":
            assert latest is not None
            self._record_removal(session, story, latest, now)
            return True
        assert isinstance(result, Extracted)
        self._record_version(session, story, latest, result, title, now)
        return True

    def _record_removal(
        self, session: Session, story: Story, latest: Version, now: datetime
    ) -> None:
        """A page taken down is a version of its own: empty text, the last headline kept."""
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

    def _record_version(
        self,
        session: Session,
        story: Story,
        latest: Version | None,
        extracted: Extracted,
        title: str,
        now: datetime,
    ) -> None:
        """Write version N+1 with its change class against the last version with text."""
        was_removed = latest is not None and latest.change_class == "removed"
        version = self._add_version(session, story, extracted, title, now)
        if latest is not None:
            before = queries.latest_content_version(session, story.id, below=version.number)
            classify_version(version, before or latest, restored=was_removed)
        story.change_class = version.change_class
        matches = self._topics(extracted, title)
        if matches:
            self._set_topics(story, matches)
        story.last_changed_at = now
        if story.duplicate_kind is None:
            index_story(session, story, extracted.normalized, extracted.fingerprint)


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
