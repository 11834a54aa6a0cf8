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
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from monitor import schedule
from monitor.changes import is_removal
from monitor.clock import Clock, utcnow
from monitor.config import Config, SourceConfig
from monitor.encoding import decode_html
from monitor.errors import ParseError
from monitor.extract import extract_article
from monitor.fetch import Failed, Fetched, Fetcher, NotModified
from monitor.health import Metrics
from monitor.sources.feed import FeedEntry, parse_feed
from monitor.sources.page import parse_listing
from monitor.sources.sitemap import parse_sitemap
from monitor.store import queries
from monitor.store.known_keys import KnownKeys
from monitor.store.models import Story
from monitor.store.source_state import FinishedSource, PollRecord, SourceStateWriter
from monitor.stories import Extracted, StoryWriter, story_urls
from monitor.urls import canonicalize_url, identity_key

log = logging.getLogger(__name__)

RecheckJob = tuple[int, str, str | None, str | None, "SourceConfig | None"]
_Job = TypeVar("_Job")
MAX_CHILD_SITEMAPS = 20  # of a sitemap index, per poll


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
    aliases: int = 0  # links that turned out to be a known story at another URL
    failures: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.sources_polled} sources polled, {self.new} new, {self.changed} changed, "
            f"{self.duplicates} duplicates, {self.failures} failures"
        )


class _Claims(Generic[_Job]):
    """Hands out claimed work to a pass's workers a small batch at a time, so that several
    processes sharing one database split the work instead of one taking it all."""

    def __init__(self, claim: Callable[[int], list[_Job]], batch: int, *, once: bool) -> None:
        self.claim = claim
        self.batch = batch
        self.once = once  # claim a single batch (named sources): they are all in it
        self.ready: deque[_Job] = deque()
        self.exhausted = False
        self.lock = asyncio.Lock()

    async def next(self) -> _Job | None:
        async with self.lock:
            if not self.ready and not self.exhausted:
                self.ready.extend(self.claim(self.batch))
                self.exhausted = not self.ready or self.once
            return self.ready.popleft() if self.ready else None


async def _drain(
    claims: _Claims[_Job], workers: int, work: Callable[[_Job], Awaitable[None]]
) -> None:
    async def worker() -> None:
        while (job := await claims.next()) is not None:
            await work(job)

    await asyncio.gather(*(worker() for _ in range(workers)))


class PassProgress(Protocol):
    """Told how many sources a pass claimed and when each is done (the CLI's progress bar)."""

    def start(self, total: int) -> None: ...

    def advance(self, source: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SourceJob:
    """A claimed source (its state when claimed) and its config."""

    source: queries.ClaimedSource
    settings: SourceConfig | None


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
        known_keys: KnownKeys | None = None,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.fetcher = fetcher
        self.clock = clock
        self.owner = owner or worker_id()
        self.stories = StoryWriter(config)
        # A lease must outlive the slowest source (its feed plus its articles): when it
        # expires, another worker takes the source over.
        self.lease = config.service.lease
        self._taken: set[str] = set()
        self._source_configs = {source.name: source for source in config.sources}
        self._source_names: dict[int, str] = {}
        self.metrics: Metrics | None = None  # set by the service when it serves /metrics
        self._source_writes = SourceStateWriter(sessions, self.owner)
        # Shared by the passes of a process (App keeps one): see monitor.store.known_keys.
        self.known_keys = known_keys if known_keys is not None else KnownKeys()

    # ------------------------------------------------------------ the pass

    async def run_pass(
        self,
        source_names: Sequence[str] | None = None,
        *,
        recheck: bool = True,
        progress: PassProgress | None = None,
    ) -> PassSummary:
        summary = PassSummary()
        self._taken = set()  # URLs this pass is already fetching, from any source
        if progress is not None:
            with self.sessions() as session:
                progress.start(queries.count_due_sources(session, self.clock(), source_names))
        workers = self.config.fetch.concurrency
        batch = len(source_names) if source_names else max(1, workers)

        async def poll(job: SourceJob) -> None:
            await self._poll_source(summary, job)
            if progress is not None:
                progress.advance(job.source.name)

        started = self.clock()  # work that falls due during the pass waits for the next one
        claims = _Claims(
            lambda n: self._claim(source_names, n, started), batch, once=bool(source_names)
        )
        try:
            await _drain(claims, workers, poll)
        finally:
            self._source_writes.flush()  # also when cancelled: what was polled is kept
        if recheck:
            await self._recheck_due(summary)
        return summary

    def _claim(self, names: Sequence[str] | None, limit: int, due_by: datetime) -> list[SourceJob]:
        """Lease the next due sources; other workers skip what this one holds."""
        with self.sessions.begin() as session:
            claimed = queries.claim_sources(
                session,
                due_by,
                self.owner,
                self.lease,
                names=names or None,
                limit=limit,
                now=self.clock(),
            )
            self._source_names.update({s.id: s.name for s in claimed})
            return [SourceJob(s, self._settings(s.name)) for s in claimed]

    def _settings(self, name: str) -> SourceConfig | None:
        return self._source_configs.get(name)

    def _settings_by_id(self, source_id: int) -> SourceConfig | None:
        return self._settings(self._source_names.get(source_id, ""))

    # ------------------------------------------------------------ sources

    async def _poll_source(self, summary: PassSummary, job: SourceJob) -> None:
        started = self.clock()
        clock_start = time.monotonic()
        summary.sources_polled += 1
        result = await self.fetcher.get(
            job.source.url, etag=job.source.etag, last_modified=job.source.last_modified
        )
        poll = PollRecord(started_at=started)
        error: str | None = None
        warning: str | None = None
        retry_after: float | None = None
        if job.source.kind == "article" and not isinstance(result, NotModified):
            poll.status, poll.entries = result.status, 1
            poll.bytes = len(result.body) if isinstance(result, Fetched) else 0
            poll.new_stories, error = self._watch_article(summary, job, result)
            retry_after = result.retry_after if isinstance(result, Failed) else None
        elif isinstance(result, Failed):
            error, retry_after, poll.status = result.message, result.retry_after, result.status
        elif isinstance(result, NotModified):
            poll.status = result.status
        else:
            poll.status, poll.bytes = result.status, len(result.body)
            try:
                entries, warning = await self._entries(job, result)
            except ParseError as exc:
                error = str(exc)
            else:
                poll.entries = len(entries)
                poll.new_stories = await self._take_entries(summary, job, entries)
        poll.duration = time.monotonic() - clock_start
        poll.error = error
        fields = {
            "source": job.source.name,
            "status": poll.status,
            "duration": round(poll.duration, 3),
            "entries": poll.entries,
            "new": poll.new_stories,
            "bytes": poll.bytes,
            "error": error,
        }
        if error:
            summary.failures += 1
            summary.errors.append(f"{job.source.name}: {error}")
            log.warning("source %s: %s", job.source.name, error, extra=fields)
        else:
            log.info(
                "source %s: %s entries, %s new",
                job.source.name,
                poll.entries,
                poll.new_stories,
                extra=fields,
            )
        if self.metrics is not None:
            outcome = "failed" if error else "not_modified" if poll.status == 304 else "ok"
            self.metrics.observe_poll(outcome, poll.duration)
        self._finish_source(job, poll, result, error, retry_after, warning)

    async def _entries(
        self, job: SourceJob, fetched: Fetched
    ) -> tuple[tuple[FeedEntry, ...], str | None]:
        """The story links a feed, listing page or sitemap offers, and the feed's warning if
        it was read despite a fault (ParseError if it cannot be read at all)."""
        settings = job.settings
        if job.source.kind == "page":
            html = decode_html(fetched.body, fetched.charset)
            links = settings.links if settings and settings.links else "a"
            include = settings.include if settings else None
            exclude = settings.exclude if settings else None
            return parse_listing(
                html, fetched.url, links=links, include=include, exclude=exclude
            ).entries, None
        if job.source.kind == "sitemap":
            return await self._sitemap_entries(job, fetched), None
        parsed = parse_feed(fetched.body, fetched.url)
        return parsed.entries, parsed.warning

    async def _sitemap_entries(self, job: SourceJob, fetched: Fetched) -> tuple[FeedEntry, ...]:
        """A sitemap's entries, or those of the recent child sitemaps of a sitemap index."""
        max_age = job.settings.max_age if job.settings else timedelta(days=2)
        now = self.clock()
        parsed = parse_sitemap(fetched.body, fetched.url, now=now, max_age=max_age)
        entries = list(parsed.entries)
        for child_url in parsed.sitemaps[:MAX_CHILD_SITEMAPS]:
            child = await self.fetcher.get(child_url)
            if not isinstance(child, Fetched):
                log.warning(
                    "source %s: child sitemap %s: %s",
                    job.source.name,
                    child_url,
                    getattr(child, "message", "not modified"),
                )
                continue
            try:
                entries.extend(
                    parse_sitemap(child.body, child.url, now=now, max_age=max_age).entries
                )
            except ParseError as exc:
                log.warning("source %s: child sitemap %s: %s", job.source.name, child_url, exc)
        return tuple(dict((e.url, e) for e in entries).values())

    def _finish_source(
        self,
        job: SourceJob,
        poll: PollRecord,
        result: Fetched | NotModified | Failed,
        error: str | None,
        retry_after: float | None,
        warning: str | None = None,
    ) -> None:
        """Record the poll and the source's new state (written with others, in a batch).

        A source read anew gets `warning` (None for a sound one); a 304 or a failure leaves
        the warning of the last time it was read."""
        now = self.clock()
        interval = self._interval(job.source.name)
        values: dict[str, object] = {"last_polled_at": now, "last_status": poll.status}
        if error:
            failures = job.source.consecutive_failures + 1
            values.update(
                consecutive_failures=failures,
                last_error=error,
                next_poll_at=schedule.next_poll_after_failure(now, interval, failures, retry_after),
            )
        else:
            values.update(
                consecutive_failures=0,
                last_error=None,
                last_success_at=now,
                next_poll_at=schedule.next_poll_after_success(now, interval),
            )
            if isinstance(result, Fetched):
                values.update(etag=result.etag, last_modified=result.last_modified, warning=warning)
        self._source_writes.add(FinishedSource(job.source.id, poll, values))

    def _interval(self, name: str) -> timedelta:
        settings = self._settings(name)
        return self.config.source_interval(settings) if settings else self.config.polling.interval

    # ------------------------------------------------------------ watched articles

    def _watch_article(
        self, summary: PassSummary, job: SourceJob, result: Fetched | Failed
    ) -> tuple[int, str | None]:
        """An `article` source is one story, topic or not, checked at every poll of the source.

        Returns (new stories, error). A watched page that is taken down is a change (a
        `removed` version), not a failure of the source.
        """
        url = canonicalize_url(job.source.url)
        observed = result if isinstance(result, Failed) else self._extracted(result, job.settings)
        now = self.clock()
        with self.sessions.begin() as session:
            story = queries.story_by_keys(session, [identity_key(url)])
            if story is None:
                if isinstance(observed, Failed):
                    return 0, observed.message
                story = self.stories.new_story(
                    session, job.source.id, url, observed, None, now, recheck=()
                )
                queries.add_aliases(session, story.id, {identity_key(url): url})
                summary.new += 1
                return 1, None
            if self.stories.observe(session, story, observed, now):
                summary.changed += 1
            story.last_checked_at = now
            story.next_check_at = None  # the source's interval drives its checks
        if isinstance(observed, Failed) and not is_removal(observed.status, url):
            return 0, observed.message
        return 0, None

    # ------------------------------------------------------------ new stories

    async def _take_entries(
        self, summary: PassSummary, job: SourceJob, entries: Sequence[FeedEntry]
    ) -> int:
        keys = {e.url: identity_key(e.url) for e in entries}
        known = self.known_keys.known(keys.values(), self._look_up_keys) | self._taken
        fresh = [e for e in entries if keys[e.url] not in known]
        failed_before: dict[str, datetime] = {}
        if fresh:  # links that failed lately wait for their next attempt
            with self.sessions() as session:
                failed_before = queries.link_failures(session, (keys[e.url] for e in fresh))
            now = self.clock()
            fresh = [e for e in fresh if failed_before.get(keys[e.url], now) <= now]
        self._taken.update(keys[e.url] for e in fresh)
        results = await asyncio.gather(
            *(self._fetch_article(e.url, settings=job.settings) for e in fresh)
        )
        stored = 0
        failed: list[queries.FailedLink] = []
        recovered: list[str] = []
        for entry, extracted in zip(fresh, results, strict=True):
            if isinstance(extracted, NotModified):  # not asked for: no validators were sent
                continue
            if isinstance(extracted, Failed):
                summary.failures += 1
                summary.errors.append(f"{entry.url}: {extracted.message}")
                log.warning("article %s: %s", entry.url, extracted.message)
                failed.append(
                    queries.FailedLink(
                        keys[entry.url],
                        entry.url,
                        extracted.status,
                        extracted.message,
                        extracted.retry_after,
                    )
                )
                continue
            stored_one = await asyncio.to_thread(
                self._store_new_story, summary, job.source.id, entry, extracted
            )
            if stored_one:
                stored += 1
            if keys[entry.url] in failed_before:
                recovered.append(keys[entry.url])
        if failed or recovered:
            self._settle_links(job.source.id, failed, recovered)
        return stored

    def _settle_links(
        self, source_id: int, failed: list[queries.FailedLink], recovered: list[str]
    ) -> None:
        """Put off links that failed (backing off: schedule.LINK_RETRY, doubling up to a
        day) and forget the failures of links that have now been read."""
        now = self.clock()

        def next_attempt(failures: int, retry_after: float | None) -> datetime:
            return schedule.next_poll_after_failure(now, schedule.LINK_RETRY, failures, retry_after)

        with self.sessions.begin() as session:
            queries.record_link_failures(session, failed, source_id, now, next_attempt)
            if recovered:
                queries.forget_link_failures(session, recovered)

    def _look_up_keys(self, keys: list[str]) -> set[str]:
        with self.sessions() as session:
            return queries.known_keys(session, keys)

    async def _fetch_article(
        self,
        url: str,
        etag: str | None = None,
        last_modified: str | None = None,
        *,
        settings: SourceConfig | None = None,
    ) -> Extracted | NotModified | Failed:
        result = await self.fetcher.get(url, etag=etag, last_modified=last_modified)
        if not isinstance(result, Fetched):
            return result
        # Extraction is CPU work: a worker thread lets the event loop keep serving the
        # requests in flight meanwhile (they would otherwise wait, and time out).
        return await asyncio.to_thread(self._extracted, result, settings)

    @staticmethod
    def _extracted(fetched: Fetched, settings: SourceConfig | None) -> Extracted:
        html = decode_html(fetched.body, fetched.charset)
        article = extract_article(
            html,
            fetched.url,
            title_selector=settings.title if settings else None,
            text_selector=settings.text if settings else None,
        )
        return Extracted(article=article, raw_html=fetched.body, fetched=fetched)

    def _store_new_story(
        self, summary: PassSummary, source_id: int, entry: FeedEntry, extracted: Extracted
    ) -> bool:
        """Store a story, unless the page turns out to be one already known at another URL
        (its rel=canonical or the end of its redirects): then the URL becomes an alias."""
        now = self.clock()
        urls = story_urls(entry.url, extracted)
        try:
            with self.sessions.begin() as session:
                known = queries.story_by_keys(session, urls)
                if known is not None:
                    queries.add_aliases(session, known.id, urls)
                    summary.aliases += 1
                    return False
                url = next(reversed(urls.values()))  # the canonical, else the final URL
                recheck = self._recheck_schedule(self._settings_by_id(source_id))
                story = self.stories.new_story(
                    session, source_id, url, extracted, entry, now, recheck=recheck
                )
                queries.add_aliases(session, story.id, urls)
        except IntegrityError:
            log.info("story %s was stored by another worker meanwhile", entry.url)
            return False
        if story.status == "offtopic":
            summary.offtopic += 1
        elif story.duplicate_kind is not None:
            summary.duplicates += 1
        else:
            summary.new += 1
        return True

    # ------------------------------------------------------------ re-checks

    async def _recheck_due(self, summary: PassSummary) -> None:
        workers = self.config.fetch.concurrency
        started = self.clock()
        claims = _Claims(
            lambda n: self._claim_stories(n, started), max(1, workers // 2), once=False
        )
        await _drain(claims, workers, lambda job: self._recheck(summary, *job))

    def _claim_stories(self, limit: int, due_by: datetime) -> list[RecheckJob]:
        with self.sessions.begin() as session:
            due = queries.claim_due_stories(
                session, due_by, self.owner, self.lease, limit=limit, now=self.clock()
            )
            return [
                (
                    s.id,
                    s.url,
                    s.etag,
                    s.last_modified,
                    self._settings(s.source.name) if s.source else None,
                )
                for s in due
            ]

    async def _recheck(
        self,
        summary: PassSummary,
        story_id: int,
        url: str,
        etag: str | None,
        last_modified: str | None,
        settings: SourceConfig | None,
    ) -> None:
        result = await self._fetch_article(url, etag, last_modified, settings=settings)
        now = self.clock()
        summary.rechecked += 1
        steps = self._recheck_schedule(settings)
        with self.sessions.begin() as session:
            story = session.get(Story, story_id)
            if story is None:
                return
            changed = self.stories.observe(session, story, result, now)
            story.last_checked_at = now
            story.lease_owner = story.lease_expires_at = None
            if changed:
                summary.changed += 1
                story.next_check_at, story.recheck_step = schedule.first_recheck(now, steps)
            else:
                story.next_check_at, story.recheck_step = schedule.next_recheck(
                    now, story.recheck_step, steps
                )

    def _recheck_schedule(self, settings: SourceConfig | None) -> Sequence[timedelta]:
        if settings is not None and settings.recheck is not None:
            return settings.recheck
        return self.config.polling.recheck
