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

from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.core import breakage, decide, schedule
from monitor.core.changes import classify
from monitor.core.clusters import cluster_terms, keyword_terms
from monitor.core.diff import compute_diff, version_text
from monitor.core.extract import Article
from monitor.core.fingerprint import Fingerprint
from monitor.core.normalize import content_hash, normalized_content_hash
from monitor.core.sources.feed import FeedEntry
from monitor.core.topics import TopicMatch, TopicRule, match_topics
from monitor.deliver.outbox import Outbox
from monitor.fetch import Failed, Fetched, NotModified
from monitor.store import extraction, queries
from monitor.store.clusters import StoredEvents
from monitor.store.dedupe import DuplicateMatch, find_duplicate, index_story, remember_shingles
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
    """Writes stories and their versions. One per pipeline: it keeps the event index."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.rules: tuple[TopicRule, ...] = build_rules(config)
        self.corpus_read = False  # the stored stories have weighed the examples
        self._events = StoredEvents(config.clusters.window)
        # Alert events, written in the transaction of what causes them (monitor.deliver).
        self.outbox = Outbox(config.alerts, config.delivery)
        # Sources found healthy with re-checks held back: monitor.pipeline.held settles
        # them (it needs the extractor, which the store does not import).
        self.to_settle: set[int] = set()

    def new_story(
        self,
        session: Session,
        source_id: int,
        url: str,
        extracted: Extracted,
        entry: FeedEntry | None,
        now: datetime,
        recheck: Sequence[timedelta],
        canonical_hint: str | None = None,
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
                terms = self._cluster_terms(extracted, title, entry, now)
                cluster = self._best_cluster(session, terms, matches, now)
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
            canonical_hint=canonical_hint,
        )
        if plan.listed:  # set while the story is new: no read of the rows it replaces
            self._set_topics(story, plan.topics)
        session.add(story)
        session.flush()
        page = breakage_page(extracted, None, story=story.id)
        self._judge_extraction(session, source_id, page, now)
        if not plan.listed:
            return story
        first = self._add_version(session, story, extracted, title, now)
        story.next_check_at = None
        if plan.rechecked:
            story.next_check_at, story.recheck_step = schedule.first_recheck(now, recheck)
        if plan.duplicate is not None:
            self._mark_duplicate(story, extracted, plan.duplicate)
            return story  # a copy never alerts
        if not watched:  # before the index's flush: the story is updated once
            story.cluster_terms = sorted(terms)
            story.cluster_id = plan.cluster_id or story.id
        index_story(session, story, extracted.normalized, extracted.fingerprint, new=True)
        remember_shingles(story.id, first.content_hash, extracted.fingerprint.shingles)
        self.outbox.story_event(session, story, "new", now, version=first)
        self.outbox.cluster_event(session, story, now)
        return story

    def forget_uncommitted(self) -> None:
        """After a rolled-back transaction that stored several stories: the event index may
        have read the earlier ones, so it reads the window again at its next look-up."""
        self._events = StoredEvents(self.config.clusters.window)

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

    @staticmethod
    def _cluster_terms(
        extracted: Extracted, title: str, entry: FeedEntry | None, now: datetime
    ) -> frozenset[str]:
        """The terms the pool found, unless the headline came from elsewhere or the page
        gave no publication time (weekdays are then read against the feed's or now)."""
        article = extracted.article
        if title == article.title and article.published is not None:
            return extracted.cluster_terms
        published = article.published or (entry.published if entry else None) or now
        return cluster_terms(title, article.text, published)

    def refresh_rules(self, session: Session) -> None:
        """Weigh the topics' examples by the stored stories as they are now."""
        if any(rule.like is not None for rule in self.rules):
            self.rules = build_rules(self.config, corpus_texts(session))
        self.corpus_read = True

    def _best_cluster(
        self, session: Session, terms: frozenset[str], matches: Sequence[TopicMatch], now: datetime
    ) -> tuple[int, float] | None:
        """The cluster of the event this story reports, if a recent one matches well enough
        (the words of the keywords it matched are famous: see monitor.core.clusters)."""
        settings = self.config.clusters
        topics = [m.topic for m in matches]
        keywords = keyword_terms(term for m in matches for term in m.terms)
        return self._events.best_cluster(
            session, terms, topics, now, settings.threshold, keywords=keywords
        )

    def _find_duplicate(self, session: Session, extracted: Extracted) -> DuplicateMatch | None:
        """Is the text a copy of a seed or of a stored story? (Reads only.)"""
        text_hash = normalized_content_hash("", extracted.normalized)
        return find_duplicate(session, extracted.normalized, text_hash, extracted.fingerprint)

    @staticmethod
    def _mark_duplicate(story: Story, extracted: Extracted, match: DuplicateMatch) -> None:
        story.text_hash = normalized_content_hash("", extracted.normalized)
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
            content_hash=normalized_content_hash(title, extracted.normalized),
            raw_html=extracted.compressed_html,
            charset=extracted.fetched.charset,
            final_url=extracted.fetched.url,
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
                normalized_content_hash(title, result.normalized),
            )
        known = (
            decide.Latest(latest.content_hash, latest.change_class == "removed")
            if latest is not None
            else None
        )
        outcome = decide.check(story.url, known, observed)
        known_removed = known is not None and known.removed
        if isinstance(result, Extracted) and story.source_id is not None:
            before = len(latest.text) if latest is not None and not known_removed else None
            changes: tuple[str, ...] = ()
            if outcome == "version" and latest is not None:
                changes = breakage.paragraph_changes(latest.text, result.article.text)
            page = extraction.page_of(
                result.article,
                outcome in ("version", "restored"),
                story=story.id,
                before=before,
                changes=changes,
            )
            suspect = None
            if outcome == "version" and latest is not None:
                suspect = breakage.looks_broken(
                    page, before_length=len(latest.text), before_title=bool(latest.title)
                )
            judged = self._judge_extraction(session, story.source_id, page, now)
            if suspect is None and judged.alike:
                suspect = "it changed the way another story's page did"
            kind = breakage.hold_as(verdict=judged.reason, suspect=suspect, stories=judged.stories)
            if outcome == "version" and kind is not None:
                self._hold(session, story, result, now, judged, kind, judged.reason or suspect)
                return False
            if judged.held:  # a newer reading of the story supersedes what was held of it
                extraction.supersede(session, story.id, story.source_id)
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

    def _judge_extraction(
        self, session: Session, source_id: int, page: breakage.Page, now: datetime
    ) -> extraction.Judged:
        judged = extraction.record(session, source_id, page, now, self.outbox)
        if judged.reason is None and judged.held:
            self.to_settle.add(source_id)
        return judged

    def _hold(
        self,
        session: Session,
        story: Story,
        result: Extracted,
        now: datetime,
        judged: extraction.Judged,
        kind: str,
        reason: str | None,
    ) -> None:
        """Keep a re-check that only reflects a breakage instead of writing a version."""
        assert story.source_id is not None
        reason = reason or ""
        log.info("re-check %s held back: %s", story.url, reason)
        extraction.hold(
            session,
            story_id=story.id,
            source_id=story.source_id,
            fetched_at=now,
            status=result.fetched.status,
            final_url=result.fetched.url,
            charset=result.fetched.charset,
            compressed_html=result.compressed_html,
            kind=kind,
            seq=judged.seen,
            reason=reason,
        )
        if judged.reason is None:  # it may be due already (an older reading's wait)
            self.to_settle.add(story.source_id)

    def write_held(
        self,
        session: Session,
        story: Story,
        latest: Version | None,
        extracted: Extracted,
        fetched_at: datetime,
    ) -> None:
        """Write a held re-check as the story's next version (monitor.pipeline.held)."""
        title = extracted.article.title or (latest.title if latest else story.title)
        self._record_version(session, story, latest, extracted, title, fetched_at)

    def _record_removal(
        self, session: Session, story: Story, latest: Version, now: datetime
    ) -> None:
        """A page taken down is a version of its own: empty text, the last headline kept."""
        story.version_count += 1
        removal = Version(
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
        session.add(removal)
        story.change_class = "removed"
        story.last_changed_at = now
        story.etag = story.last_modified = None
        self.outbox.story_event(session, story, "removed", now, version=removal, before=latest)

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
        compared: Version | None = None
        if latest is not None:
            before = queries.latest_content_version(session, story.id, below=version.number)
            compared = before or latest
            classify_version(version, compared, restored=was_removed)
        story.change_class = version.change_class
        matches = self._topics(extracted, title)
        if matches:
            self._set_topics(story, matches)
        story.last_changed_at = now
        if story.duplicate_kind is None:
            index_story(session, story, extracted.normalized, extracted.fingerprint)
        if version.change_class is not None:
            self.outbox.story_event(
                session, story, version.change_class, now, version=version, before=compared
            )


def breakage_page(
    extracted: Extracted, changed: bool | None, *, story: int, before: int | None = None
) -> breakage.Page:
    return extraction.page_of(extracted.article, changed, story=story, before=before)


def story_urls(entry_url: str, extracted: Extracted) -> decide.StoryUrls:
    """The URLs of a fetched article (monitor.core.decide.story_urls)."""
    return decide.story_urls(entry_url, extracted.fetched.url, extracted.article.canonical_url)


def classify_version(version: Version, before: Version, *, restored: bool) -> None:
    """Set a version's change class and word counts against the version before it."""
    result = compute_diff(version_text(before), version_text(version))
    version.words_added = result.words_added
    version.words_removed = result.words_removed
    version.change_class = (
        "restored" if restored else classify(result, before.title, version.title, before.text)
    )
