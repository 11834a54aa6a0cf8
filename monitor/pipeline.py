"""One pass: poll due sources, take in new stories, re-check due ones.

The orchestration that ties the pure core (parse, extract, topics, fingerprint) to the
edges (fetcher, store). Database work happens in short synchronous blocks with no await
inside, so coroutines never share a session.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from monitor import schedule
from monitor.config import Config
from monitor.dedupe import DuplicateMatch, find_duplicate
from monitor.encoding import decode_html
from monitor.errors import ParseError
from monitor.extract import Article, extract_article
from monitor.fetch import Failed, Fetched, Fetcher, NotModified
from monitor.fingerprint import fingerprint
from monitor.normalize import content_hash, normalize_text
from monitor.sources.feed import FeedEntry, parse_feed
from monitor.store import queries
from monitor.store.models import Poll, Source, Story, StoryTopic, Version
from monitor.topics import TopicMatch, TopicRule, match_topics

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class PassSummary:
    sources_polled: int = 0
    new: int = 0
    changed: int = 0
    duplicates: int = 0
    offtopic: int = 0
    rechecked: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.sources_polled} sources polled, {self.new} new, {self.changed} changed, "
            f"{self.duplicates} duplicates, {self.failures} failures"
        )


@dataclass(frozen=True, slots=True)
class Extracted:
    """An article as fetched and understood, ready to store."""

    article: Article
    raw_html: bytes
    fetched: Fetched


class Pipeline:
    """Runs passes for one worker. Holds no state that matters between passes."""

    def __init__(
        self,
        config: Config,
        sessions: sessionmaker[Session],
        fetcher: Fetcher,
        *,
        clock: Clock = utcnow,
        owner: str | None = None,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.fetcher = fetcher
        self.clock = clock
        self.owner = owner or worker_id()
        self.rules = [TopicRule(t.name, tuple(t.keywords), tuple(t.exclude)) for t in config.topics]
        # A lease outlives the slowest possible source: feed plus its articles.
        self.lease = max(timedelta(minutes=5), config.fetch.timeout * 10)
        self._taken: set[str] = set()

    # ------------------------------------------------------------ the pass

    async def run_pass(
        self, source_names: Sequence[str] | None = None, *, recheck: bool = True
    ) -> PassSummary:
        summary = PassSummary()
        self._taken = set()  # URLs this pass is already fetching, from any source
        now = self.clock()
        with self.sessions.begin() as session:
            claimed = queries.claim_sources(
                session, now, self.owner, self.lease, names=source_names or None
            )
            sources = [(s.id, s.name, s.url, s.etag, s.last_modified) for s in claimed]
        await asyncio.gather(*(self._poll_source(summary, *source) for source in sources))
        if recheck:
            await self._recheck_due(summary)
        return summary

    # ------------------------------------------------------------ sources

    async def _poll_source(
        self,
        summary: PassSummary,
        source_id: int,
        name: str,
        url: str,
        etag: str | None,
        last_modified: str | None,
    ) -> None:
        started = self.clock()
        clock_start = time.monotonic()
        summary.sources_polled += 1
        result = await self.fetcher.get(url, etag=etag, last_modified=last_modified)
        poll = Poll(source_id=source_id, started_at=started, duration=0.0, bytes=0)
        error: str | None = None
        retry_after: float | None = None
        entries: tuple[FeedEntry, ...] = ()
        if isinstance(result, Failed):
            error, retry_after, poll.status = result.message, result.retry_after, result.status
        elif isinstance(result, NotModified):
            poll.status = result.status
        else:
            poll.status, poll.bytes = result.status, len(result.body)
            try:
                entries = parse_feed(result.body, result.url).entries
            except ParseError as exc:
                error = str(exc)
        poll.entries = len(entries)
        if entries:
            poll.new_stories = await self._take_entries(summary, source_id, entries)
        poll.duration = time.monotonic() - clock_start
        poll.error = error
        if error:
            summary.failures += 1
            summary.errors.append(f"{name}: {error}")
            log.warning("source %s: %s", name, error)
        else:
            log.info("source %s: %s entries, %s new", name, poll.entries, poll.new_stories)
        self._finish_source(source_id, poll, result, error, retry_after)

    def _finish_source(
        self,
        source_id: int,
        poll: Poll,
        result: Fetched | NotModified | Failed,
        error: str | None,
        retry_after: float | None,
    ) -> None:
        now = self.clock()
        with self.sessions.begin() as session:
            source = session.get(Source, source_id)
            if source is None:
                return
            interval = self._interval(source.name)
            queries.record_poll(session, poll)
            source.last_polled_at = now
            source.last_status = poll.status
            if error:
                source.consecutive_failures += 1
                source.last_error = error
                source.next_poll_at = schedule.next_poll_after_failure(
                    now, interval, source.consecutive_failures, retry_after
                )
            else:
                source.consecutive_failures = 0
                source.last_error = None
                source.last_success_at = now
                source.next_poll_at = schedule.next_poll_after_success(now, interval)
                if isinstance(result, Fetched):
                    source.etag, source.last_modified = result.etag, result.last_modified
            if source.lease_owner == self.owner:
                source.lease_owner = source.lease_expires_at = None

    def _interval(self, name: str) -> timedelta:
        for source in self.config.sources:
            if source.name == name:
                return self.config.source_interval(source)
        return self.config.polling.interval

    # ------------------------------------------------------------ new stories

    async def _take_entries(
        self, summary: PassSummary, source_id: int, entries: Sequence[FeedEntry]
    ) -> int:
        with self.sessions() as session:
            known = queries.known_urls(session, (e.url for e in entries))
        fresh = [e for e in entries if e.url not in known and e.url not in self._taken]
        self._taken.update(e.url for e in fresh)
        results = await asyncio.gather(*(self._fetch_article(e.url) for e in fresh))
        stored = 0
        for entry, extracted in zip(fresh, results, strict=True):
            if isinstance(extracted, NotModified):  # not asked for: no validators were sent
                continue
            if isinstance(extracted, Failed):
                summary.failures += 1
                summary.errors.append(f"{entry.url}: {extracted.message}")
                log.warning("article %s: %s", entry.url, extracted.message)
                continue
            if self._store_new_story(summary, source_id, entry, extracted):
                stored += 1
        return stored

    async def _fetch_article(
        self, url: str, etag: str | None = None, last_modified: str | None = None
    ) -> Extracted | NotModified | Failed:
        result = await self.fetcher.get(url, etag=etag, last_modified=last_modified)
        if not isinstance(result, Fetched):
            return result
        html = decode_html(result.body, result.charset)
        article = extract_article(html, result.url)
        return Extracted(article=article, raw_html=result.body, fetched=result)

    def _store_new_story(
        self, summary: PassSummary, source_id: int, entry: FeedEntry, extracted: Extracted
    ) -> bool:
        article = extracted.article
        title = article.title or entry.title
        matches = match_topics(self.rules, title, article.text)
        now = self.clock()
        try:
            with self.sessions.begin() as session:
                story = Story(
                    url=entry.url,
                    source_id=source_id,
                    first_seen_at=now,
                    title=title,
                    published_at=article.published or entry.published,
                    status="active" if matches else "offtopic",
                    version_count=0,
                    recheck_step=0,
                )
                session.add(story)
                session.flush()
                if not matches:
                    summary.offtopic += 1
                    return True
                self._set_topics(story, matches)
                self._add_version(session, story, extracted, title, now)
                story.next_check_at, story.recheck_step = schedule.first_recheck(
                    now, self.config.polling.recheck
                )
                duplicate = self._dedupe(session, story, article.text)
                if duplicate is not None:
                    summary.duplicates += 1
                else:
                    summary.new += 1
        except IntegrityError:
            log.info("story %s was stored by another worker meanwhile", entry.url)
            return False
        return True

    def _dedupe(self, session: Session, story: Story, text: str) -> DuplicateMatch | None:
        """Mark the story as a copy of a seed or an earlier story, or index it for later."""
        normalized = normalize_text(text)
        story.text_hash = content_hash("", normalized)
        print_ = fingerprint(normalized)
        match = find_duplicate(session, normalized, story.text_hash, print_, exclude=story.id)
        if match is None:
            queries.replace_bands(session, print_.bands, story_id=story.id)
            return None
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

    # ------------------------------------------------------------ re-checks

    async def _recheck_due(self, summary: PassSummary) -> None:
        now = self.clock()
        with self.sessions.begin() as session:
            due = queries.claim_due_stories(session, now, self.owner, self.lease)
            work = [(s.id, s.url, s.etag, s.last_modified) for s in due]
        await asyncio.gather(*(self._recheck(summary, *item) for item in work))

    async def _recheck(
        self,
        summary: PassSummary,
        story_id: int,
        url: str,
        etag: str | None,
        last_modified: str | None,
    ) -> None:
        result = await self._fetch_article(url, etag, last_modified)
        now = self.clock()
        summary.rechecked += 1
        with self.sessions.begin() as session:
            story = session.get(Story, story_id)
            if story is None:
                return
            if isinstance(result, Failed):
                log.warning("re-check %s: %s", url, result.message)
            elif isinstance(result, Extracted) and self._record_if_changed(
                session, story, result, now
            ):
                summary.changed += 1
                return
            story.last_checked_at = now
            story.next_check_at, story.recheck_step = schedule.next_recheck(
                now, story.recheck_step, self.config.polling.recheck
            )
            story.lease_owner = story.lease_expires_at = None

    def _record_if_changed(
        self, session: Session, story: Story, extracted: Extracted, now: datetime
    ) -> bool:
        """Write version N+1 when the normalised headline or text differ from version N."""
        article = extracted.article
        latest = queries.latest_version(session, story.id)
        title = article.title or (latest.title if latest else story.title)
        if latest is not None and latest.content_hash == content_hash(title, article.text):
            story.etag = extracted.fetched.etag
            story.last_modified = extracted.fetched.last_modified
            return False
        self._add_version(session, story, extracted, title, now)
        matches = match_topics(self.rules, title, article.text)
        if matches:
            self._set_topics(story, matches)
        story.last_changed_at = now
        story.last_checked_at = now
        story.next_check_at, story.recheck_step = schedule.first_recheck(
            now, self.config.polling.recheck
        )
        story.lease_owner = story.lease_expires_at = None
        if story.duplicate_kind is None:
            normalized = normalize_text(article.text)
            story.text_hash = content_hash("", normalized)
            queries.replace_bands(session, fingerprint(normalized).bands, story_id=story.id)
        return True
