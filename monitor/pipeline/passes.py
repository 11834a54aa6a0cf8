"""One pass: poll due sources, take in new stories, re-check due ones.

The stages, each with one job:
- the event loop fetches (feeds, listings, sitemaps, articles, re-checks) and nothing else;
- the process pool (monitor.pipeline.pool) decodes, extracts and fingerprints each page (and
  the held re-checks of a source that recovers, extracted again: monitor.pipeline.held);
- the writer, one thread, runs every database call in short transactions, one at a time, so
  neither a slow transaction nor SQLite's busy wait ever stalls the requests in flight.

Whatever goes wrong for one source or one story (a parser bug, a database error, a page
that kills a worker) is recorded as that source's or story's failure; the pass goes on, and
it leaves no task running when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Generic, Literal, ParamSpec, Protocol, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import Clock, utcnow
from monitor.config import Config, SourceConfig
from monitor.core import decide, schedule
from monitor.core.changes import is_removal
from monitor.core.encoding import decode_html
from monitor.core.extract import Article
from monitor.core.sources.feed import FeedEntry, parse_feed
from monitor.core.sources.page import parse_listing
from monitor.core.sources.sitemap import parse_sitemap
from monitor.core.text import count, error_line
from monitor.core.urls import canonicalize_url, identity_key
from monitor.errors import ParseError
from monitor.fetch import Failed, Fetched, Fetcher, NotModified
from monitor.health import Metrics
from monitor.pipeline import held
from monitor.pipeline.pool import PageFailed, PageTask, ProcessPool
from monitor.store import extraction, queries
from monitor.store.claims import renew_leases
from monitor.store.known_keys import KnownKeys
from monitor.store.models import Source, Story
from monitor.store.source_state import FinishedSource, PollRecord, SourceStateWriter
from monitor.store.topic_rules import reevaluate
from monitor.store.writer import Extracted, StoryWriter, story_urls

log = logging.getLogger(__name__)
IN_SUMMARY = {"in_summary": True}
"""`extra` of a log record that PassSummary.errors repeats: `monitor poll` prints the
summary's line instead of both."""

_Job = TypeVar("_Job")
_T = TypeVar("_T")
_P = ParamSpec("_P")
_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

NEW_STORIES_PER_TRANSACTION = 16
"""At most this many new stories share a transaction: enough to spare most commits and trips
to the writer thread, few enough that SQLite's write lock is not held long."""
MAX_CHILD_SITEMAPS = 20  # of a sitemap index, per poll
_EARLIEST = datetime.min.replace(tzinfo=UTC)


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
            f"{count(self.sources_polled, 'source')} polled, {self.new} new, "
            f"{self.changed} changed, {count(self.duplicates, 'duplicate')}, "
            f"{count(self.failures, 'failure')}"
        )


class Writer:
    """The one thread that talks to the database for a pipeline: calls run one at a time,
    off the event loop."""

    STUCK_AFTER = 300.0  # seconds one call may take before health calls the writer stuck
    SWITCH_INTERVAL = 0.001
    """Seconds a thread waits for the GIL before asking its holder to let go (Python's
    default: 0.005). The writer lets go of the GIL at each database round trip and must get
    it back from the busy event loop each time: with the default it waits up to 5 ms per
    statement, so the process's interval is lowered to this (never raised)."""

    def __init__(self) -> None:
        if sys.getswitchinterval() > self.SWITCH_INTERVAL:
            sys.setswitchinterval(self.SWITCH_INTERVAL)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="monitor-writer")
        self._busy_since: float | None = None
        self._closed = False

    async def run(self, call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        def timed() -> _T:
            self._busy_since = time.monotonic()
            try:
                return call(*args, **kwargs)
            finally:
                self._busy_since = None

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, timed)

    def problem(self) -> str | None:
        """Why the writer cannot write, or None: for the health verdict."""
        if self._closed:
            return "the database writer is closed"
        since = self._busy_since
        if since is not None and time.monotonic() - since > self.STUCK_AFTER:
            return f"one database call has been running for {time.monotonic() - since:.0f}s"
        return None

    def close(self) -> None:
        self._closed = True
        self._executor.shutdown(wait=True)


class _Claims(Generic[_Job]):
    """Hands out claimed work to a pass's workers a small batch at a time, so that several
    processes sharing one database split the work instead of one taking it all."""

    def __init__(
        self, claim: Callable[[int], Awaitable[list[_Job]]], batch: int, *, once: bool
    ) -> None:
        self.claim = claim
        self.batch = batch
        self.once = once  # claim a single batch (named sources): they are all in it
        self.ready: deque[_Job] = deque()
        self.exhausted = False
        self.lock = asyncio.Lock()

    async def next(self) -> _Job | None:
        async with self.lock:
            if not self.ready and not self.exhausted:
                self.ready.extend(await self.claim(self.batch))
                self.exhausted = not self.ready or self.once
            return self.ready.popleft() if self.ready else None


async def _drain(
    claims: _Claims[_Job], workers: int, work: Callable[[_Job], Awaitable[None]]
) -> None:
    """Run `work` over every claimed job with `workers` at a time. `work` records its own
    failures; should anything still escape, the task group cancels the other workers
    before the error leaves, so no worker outlives the pass."""

    async def worker() -> None:
        while (job := await claims.next()) is not None:
            await work(job)

    async with asyncio.TaskGroup() as group:
        for _ in range(workers):
            group.create_task(worker())


class PassProgress(Protocol):
    """Told how many sources a pass claimed and when each is done (the CLI's progress bar)."""

    def start(self, total: int) -> None: ...

    def advance(self, source: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SourceJob:
    """A claimed source (its state when claimed) and its config."""

    source: queries.ClaimedSource
    settings: SourceConfig | None


@dataclass(frozen=True, slots=True)
class RecheckJob:
    """A story due for a re-check, as claimed."""

    story_id: int
    url: str
    etag: str | None
    last_modified: str | None
    settings: SourceConfig | None


ArticleResult = Extracted | NotModified | Failed | PageFailed


@dataclass(frozen=True, slots=True)
class _NewStory:
    """A new link's page, extracted, waiting to be stored."""

    summary: PassSummary
    source_id: int
    entry: FeedEntry
    extracted: Extracted


_Stored = Literal["alias", "offtopic", "duplicate", "new"]
"""What storing a new link did: an alias of a known story, or a story of this kind."""


def _count_stored(summary: PassSummary, stored: _Stored) -> bool:
    """Count a committed outcome in the pass's summary; True when a story was added."""
    if stored == "alias":
        summary.aliases += 1
        return False
    if stored == "offtopic":
        summary.offtopic += 1
    elif stored == "duplicate":
        summary.duplicates += 1
    else:
        summary.new += 1
    return True


class _Batches(Generic[_Item, _Result]):
    """Gathers the items that become ready while the previous batch is being written and
    hands them on together: the first item goes at once, the rest wait no longer than the
    write before them. One batch at a time; each item gets its own result or exception."""

    def __init__(
        self, write: Callable[[list[_Item]], Awaitable[list[_Result | Exception]]], limit: int
    ) -> None:
        self.write = write
        self.limit = limit
        self._pending: list[tuple[_Item, asyncio.Future[_Result]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def store(self, item: _Item) -> _Result:
        future: asyncio.Future[_Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.limit]
                del self._pending[: self.limit]
                try:
                    results = await self.write([item for item, _ in batch])
                except BaseException as exc:
                    for _, future in batch:
                        if future.done():
                            continue
                        if isinstance(exc, Exception):
                            future.set_exception(exc)
                        else:
                            future.cancel()
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # its waiter was cancelled
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._flushing = None


class Pipeline:
    """Runs passes for one worker. Holds no state that matters between passes."""

    def __init__(
        self,
        config: Config,
        sessions: sessionmaker[Session],
        fetcher: Fetcher,
        pool: ProcessPool,
        *,
        clock: Clock = utcnow,
        owner: str | None = None,
        known_keys: KnownKeys | None = None,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.fetcher = fetcher
        self.pool = pool
        self.clock = clock
        self.owner = owner or worker_id()
        self.stories = StoryWriter(config)
        self.writer = Writer()
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
        self._working: set[int] = set()  # sources being polled now: their leases are renewed
        self._settling_held = False  # a task is settling held re-checks (_settle_held)
        self.stop_claiming = False  # set when the service stops: the pass takes no more work
        # Called (on the writer's thread) once a transaction that wrote alert events has
        # committed: the service wakes its delivery job (monitor.deliver.job).
        self.on_alerts: Callable[[], None] | None = None
        self._alerts_announced = 0
        # Articles between fetch and write at once, across the pass: bounds the bodies held.
        self._article_slots = asyncio.Semaphore(max(2, config.fetch.concurrency))
        # New stories ready together are stored in one transaction (see _store_new_stories).
        self._new_stories = _Batches(self._write_new_stories, limit=NEW_STORIES_PER_TRANSACTION)

    def close(self) -> None:
        self.writer.close()

    def prepare_topics(self) -> None:
        """At start: weigh the topics' examples by the stored stories, and match stored
        stories again for the topics whose rules changed (monitor.store.topic_rules)."""
        with self.sessions() as session:
            self.stories.refresh_rules(session)
        added, dropped = reevaluate(self.sessions, self.config, self.stories.rules, self.clock())
        if added or dropped:
            log.info(
                "topics changed: %s added to a topic, %s taken out of one",
                count(added, "story", "stories"),
                count(dropped, "story", "stories"),
            )

    def refresh_topics(self) -> None:
        """Housekeeping: the examples weighed by the stored stories as they are now."""
        with self.sessions() as session:
            self.stories.refresh_rules(session)

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
        if not self.stories.corpus_read:
            await self.writer.run(self.prepare_topics)
        if progress is not None:
            progress.start(await self.writer.run(self._count_due, source_names))
        workers = self.config.fetch.concurrency
        batch = len(source_names) if source_names else max(1, workers)

        async def poll(job: SourceJob) -> None:
            await self._poll_source(summary, job)
            if progress is not None:
                progress.advance(job.source.name)

        started = self.clock()  # work that falls due during the pass waits for the next one
        claims = _Claims(
            lambda n: self._claim_unless_stopping(self._claim, source_names, n, started),
            batch,
            once=bool(source_names),
        )
        renewal = asyncio.create_task(self._keep_leases(), name="monitor-lease-renewal")
        try:
            await _drain(claims, workers, poll)
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            # Also when cancelled: what was polled is kept (shielded, so a second
            # cancellation cannot lose the batch halfway).
            await asyncio.shield(self._write_sources())
        if recheck:
            await self._recheck_due(summary)
        if self.metrics is not None:  # /metrics names the sources whose extraction is degraded
            try:
                self.metrics.extraction_degraded = await self.writer.run(self._degraded)
            except Exception:
                log.exception("reading the sources whose extraction is degraded failed")
        return summary

    def _degraded(self) -> dict[str, str]:
        with self.sessions() as session:
            return extraction.degraded(session)

    async def _claim_unless_stopping(
        self, claim: Callable[_P, list[_Job]], *args: _P.args, **kwargs: _P.kwargs
    ) -> list[_Job]:
        if self.stop_claiming:
            return []
        return await self.writer.run(claim, *args, **kwargs)

    def _count_due(self, names: Sequence[str] | None) -> int:
        with self.sessions() as session:
            return queries.count_due_sources(session, self.clock(), names)

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

    async def _write_sources(self) -> None:
        """Write the finished sources waiting in the batch."""
        batch = self._source_writes.take()
        if not batch:
            return
        try:
            await self.writer.run(self._source_writes.write, batch)
        except Exception:
            # Their leases run out and they are polled again: nothing is lost but time.
            log.exception("writing %d polled sources failed", len(batch))

    # ------------------------------------------------------------ sources

    async def _keep_leases(self) -> None:
        """Renew, a third of a lease at a time, the leases of the sources still being worked
        on (a sitemap with hundreds of new links can outlast one lease)."""
        period = max(0.05, self.lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(period)
            working = set(self._working)
            if not working:
                continue
            try:
                held = await self.writer.run(self._renew, working)
            except Exception:
                log.exception("renewing the leases of %d sources failed", len(working))
                continue
            for source_id in working - held:
                log.warning(
                    "source %s: its lease was taken over by another worker",
                    self._source_names.get(source_id, source_id),
                )

    def _renew(self, ids: set[int]) -> set[int]:
        with self.sessions.begin() as session:
            return renew_leases(session, Source, self.owner, ids, self.clock() + self.lease)

    async def _poll_source(self, summary: PassSummary, job: SourceJob) -> None:
        """Poll one source and record the outcome; whatever fails is this source's failure."""
        self._working.add(job.source.id)
        try:
            await self._poll_one(summary, job)
        finally:
            self._working.discard(job.source.id)

    async def _poll_one(self, summary: PassSummary, job: SourceJob) -> None:
        started = self.clock()
        clock_start = time.monotonic()
        summary.sources_polled += 1
        poll = PollRecord(started_at=started)
        result: Fetched | NotModified | Failed | None = None
        error: str | None = None
        warning: str | None = None
        retry_after: float | None = None
        try:
            result = await self.fetcher.get(
                job.source.url, etag=job.source.etag, last_modified=job.source.last_modified
            )
            error, retry_after, warning = await self._take_result(summary, job, result, poll)
        except Exception as exc:  # a bug or a database error: this source's, not the pass's
            log.exception("source %s: polling failed", job.source.name)
            error, retry_after = error_line(exc), None
        poll.duration = time.monotonic() - clock_start
        poll.error = error
        self._log_poll(summary, job, poll)
        if self.metrics is not None:
            outcome = "failed" if error else "not_modified" if poll.status == 304 else "ok"
            self.metrics.observe_poll(outcome, poll.duration)
        if self._finish_source(job, poll, result, error, retry_after, warning):
            await self._write_sources()

    async def _take_result(
        self,
        summary: PassSummary,
        job: SourceJob,
        result: Fetched | NotModified | Failed,
        poll: PollRecord,
    ) -> tuple[str | None, float | None, str | None]:
        """Read what a source's fetch gave; returns (error, retry after, warning)."""
        poll.status = result.status if not isinstance(result, NotModified) else 304
        if isinstance(result, Fetched):
            poll.bytes = len(result.body)
        if job.source.kind == "article" and not isinstance(result, NotModified):
            poll.entries = 1
            poll.new_stories, error = await self._watch_article(summary, job, result)
            return error, result.retry_after if isinstance(result, Failed) else None, None
        if isinstance(result, Failed):
            return result.message, result.retry_after, None
        if isinstance(result, NotModified):
            return None, None, None
        try:
            entries, warning = await self._entries(job, result)
        except ParseError as exc:
            return str(exc), None, None
        poll.entries = len(entries)
        poll.new_stories = await self._take_entries(summary, job, entries)
        return None, None, warning

    def _log_poll(self, summary: PassSummary, job: SourceJob, poll: PollRecord) -> None:
        fields: dict[str, object] = {
            "source": job.source.name,
            "status": poll.status,
            "duration": round(poll.duration, 3),
            "entries": poll.entries,
            "new": poll.new_stories,
            "bytes": poll.bytes,
            "error": poll.error,
        }
        if poll.error:
            summary.failures += 1
            summary.errors.append(f"{job.source.name}: {poll.error}")
            log.warning("source %s: %s", job.source.name, poll.error, extra=fields | IN_SUMMARY)
        else:
            log.info(
                "source %s: %s entries, %s new",
                job.source.name,
                poll.entries,
                poll.new_stories,
                extra=fields,
            )

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
        result: Fetched | NotModified | Failed | None,
        error: str | None,
        retry_after: float | None,
        warning: str | None = None,
    ) -> bool:
        """Record the poll and the source's new state, written with others in a batch;
        True when the batch is due to be written.

        A source read anew gets `warning` (None for a sound one); a 304 or a failure leaves
        the warning of the last time it was read."""
        now = self.clock()
        interval = self._interval(job.source.name)
        # `last_polled` is when the poll started, as in the poll's record: a sound source's
        # next poll is then exactly one interval after it, however long the fetch took.
        values: dict[str, object] = {"last_polled_at": poll.started_at, "last_status": poll.status}
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
                # From the poll's start: a source is polled every interval, not every
                # interval plus however long its poll took.
                next_poll_at=schedule.next_poll_after_success(poll.started_at, interval),
            )
            if isinstance(result, Fetched):
                values.update(etag=result.etag, last_modified=result.last_modified, warning=warning)
        return self._source_writes.add(FinishedSource(job.source.id, poll, values))

    def _interval(self, name: str) -> timedelta:
        settings = self._settings(name)
        return self.config.source_interval(settings) if settings else self.config.polling.interval

    # ------------------------------------------------------------ watched articles

    async def _watch_article(
        self, summary: PassSummary, job: SourceJob, result: Fetched | Failed
    ) -> tuple[int, str | None]:
        """An `article` source is one story, topic or not, checked at every poll of the source.

        Returns (new stories, error). A watched page that is taken down is a change (a
        `removed` version), not a failure of the source.
        """
        observed: Extracted | Failed | PageFailed = (
            result
            if isinstance(result, Failed)
            else await self._process(result, job.settings, source_id=job.source.id)
        )
        if isinstance(observed, PageFailed):
            return 0, observed.message
        new, changed, known = await self.writer.run(self._write_watched, job, observed)
        summary.new += new
        summary.changed += changed
        await self._settle_held(summary)
        if isinstance(observed, Failed):
            removed = is_removal(observed.status, canonicalize_url(job.source.url))
            if not known or not removed:
                return 0, observed.message
        return new, None

    def _write_watched(self, job: SourceJob, observed: Extracted | Failed) -> tuple[int, int, bool]:
        """(new stories, changed stories, whether the page was known) for one check of a
        watched page. A story a feed stored first is adopted: see StoryWriter.adopt_watched."""
        written = self._write_watched_in_transaction(job, observed)
        self._announce_alerts()
        return written

    def _write_watched_in_transaction(
        self, job: SourceJob, observed: Extracted | Failed
    ) -> tuple[int, int, bool]:
        url = canonicalize_url(job.source.url)
        now = self.clock()
        with self.sessions.begin() as session:
            story = queries.story_by_keys(session, [identity_key(url)])
            if story is None:
                if isinstance(observed, Failed):
                    return 0, 0, False
                story = self.stories.new_story(
                    session, job.source.id, url, observed, None, now, recheck=()
                )
                queries.add_aliases(session, story.id, {identity_key(url): url})
                return 1, 0, True
            adopted = isinstance(observed, Extracted) and self.stories.adopt_watched(
                session, story, observed, now
            )
            if adopted:
                story.source_id = job.source.id
            changed = self.stories.observe(session, story, observed, now)
            story.last_checked_at = now
            story.next_check_at = None  # the source's interval drives its checks
            return int(adopted), int(changed), True

    # ------------------------------------------------------------ new stories

    async def _take_entries(
        self, summary: PassSummary, job: SourceJob, entries: Sequence[FeedEntry]
    ) -> int:
        """Fetch, process and store the links not seen before: at most
        `[polling] max_new_per_poll` of them, oldest first; the rest wait for the next poll."""
        keys = {e.url: identity_key(e.url) for e in entries}
        known = await self.known_keys.known(  # most polls of a known feed need no database
            keys.values(), lambda unknown: self.writer.run(self._look_up_keys, unknown)
        )
        fresh = [e for e in entries if keys[e.url] not in known]
        failed_before: dict[str, datetime] = {}
        if fresh:  # links that failed lately wait for their next attempt
            failed_before = await self.writer.run(self._link_failures, [keys[e.url] for e in fresh])
            now = self.clock()
            fresh = [e for e in fresh if failed_before.get(keys[e.url], now) <= now]
        # No await from here to the update: two sources listing one link fetch it once.
        unique = {keys[e.url]: e for e in reversed(fresh) if keys[e.url] not in self._taken}
        fresh = _oldest_first(list(reversed(unique.values())))
        fresh = fresh[: self.config.polling.max_new_per_poll]
        self._taken.update(keys[e.url] for e in fresh)
        stored = 0
        failed: list[queries.FailedLink] = []
        recovered: list[str] = []

        async def take(entry: FeedEntry) -> None:
            nonlocal stored
            key = keys[entry.url]
            try:
                async with self._article_slots:
                    result = await self._fetch_article(
                        entry.url, settings=job.settings, source_id=job.source.id
                    )
                    if isinstance(result, Extracted):
                        stored += await self._new_stories.store(
                            _NewStory(summary, job.source.id, entry, result)
                        )
            except Exception as exc:  # this link's failure, not the source's
                log.exception("article %s: storing failed", entry.url)
                result = Failed(entry.url, "http", error_line(exc))
            if isinstance(result, Failed | PageFailed):
                message = result.message
                summary.failures += 1
                summary.errors.append(f"{entry.url}: {message}")
                log.warning("article %s: %s", entry.url, message, extra=IN_SUMMARY)
                failed.append(_failed_link(key, entry.url, result))
            elif key in failed_before and isinstance(result, Extracted):
                recovered.append(key)
            await self._settle_held(summary)

        if fresh:  # most polls: every link known, nothing to start
            async with asyncio.TaskGroup() as group:
                for entry in fresh:
                    group.create_task(take(entry))
        if failed or recovered:
            await self.writer.run(self._settle_links, job.source.id, failed, recovered)
        return stored

    def _link_failures(self, keys: list[str]) -> dict[str, datetime]:
        with self.sessions() as session:
            return queries.link_failures(session, keys)

    def _settle_links(
        self, source_id: int, failed: list[queries.FailedLink], recovered: list[str]
    ) -> None:
        """Put off links that failed (backing off: schedule.LINK_RETRY, doubling up to a
        day) and forget the failures of links that have now been read."""
        now = self.clock()

        def next_attempt(failures: int, retry_after: float | None) -> datetime:
            return schedule.next_link_attempt(now, failures, retry_after)

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
        source_id: int | None = None,
        story_id: int | None = None,
    ) -> ArticleResult:
        result = await self.fetcher.get(url, etag=etag, last_modified=last_modified)
        if not isinstance(result, Fetched):
            return result
        return await self._process(result, settings, source_id=source_id, story_id=story_id)

    async def _process(
        self,
        fetched: Fetched,
        settings: SourceConfig | None,
        *,
        source_id: int | None = None,
        story_id: int | None = None,
    ) -> Extracted | PageFailed:
        """Extraction and fingerprinting, in the process pool. A page that is not the
        article still counts in its source's extraction statistics (a consent wall that
        suddenly covers every page is a breakage), by the source's id or the story's."""
        task = PageTask(
            fetched.url,
            fetched.body,
            fetched.charset,
            title_selector=settings.title if settings else None,
            text_selector=settings.text if settings else None,
            topics=self.stories.rules,
        )
        processed = await self.pool.process(task)
        if isinstance(processed, PageFailed):
            return processed
        if (reason := decide.rejection(processed.article)) is not None:
            await self.writer.run(
                self._count_not_article, processed.article, fetched.url, source_id, story_id
            )
            return PageFailed(reason, crashed=False)
        return Extracted(
            article=processed.article,
            fetched=fetched,
            normalized=processed.normalized,
            fingerprint=processed.fingerprint,
            topics=processed.topics,
            cluster_terms=processed.cluster_terms,
            compressed_html=processed.compressed_html,
        )

    def _count_not_article(
        self, article: Article, url: str, source_id: int | None, story_id: int | None
    ) -> None:
        with self.sessions.begin() as session:
            extraction.record_not_article(
                session, article, url, self.clock(), source_id, story_id, self.stories.outbox
            )
        self._announce_alerts()

    async def _write_new_stories(self, batch: list[_NewStory]) -> list[bool | Exception]:
        return await self.writer.run(self._store_new_stories, batch)

    def _store_new_stories(self, batch: list[_NewStory]) -> list[bool | Exception]:
        """Store the new stories ready at once in one transaction (one commit, one trip to
        the writer thread); each story's alert events go in with it. Should any story fail,
        the whole transaction is rolled back and each story is stored again in its own, so
        one story's failure loses no other: the same outcome as storing them one by one."""
        if len(batch) == 1:
            return self._store_alone(batch)
        try:
            with self.sessions.begin() as session:
                outcomes = [
                    self._store_new_story(session, new.source_id, new.entry, new.extracted)
                    for new in batch
                ]
        except Exception:
            log.info("storing %d new stories at once failed; storing each alone", len(batch))
            self.stories.forget_uncommitted()
            return self._store_alone(batch)
        self._announce_alerts()
        return [
            _count_stored(new.summary, outcome)
            for new, outcome in zip(batch, outcomes, strict=True)
        ]

    def _store_alone(self, batch: list[_NewStory]) -> list[bool | Exception]:
        """Each story in its own transaction; a failure is that story's result."""
        results: list[bool | Exception] = []
        for new in batch:
            try:
                with self.sessions.begin() as session:
                    outcome = self._store_new_story(
                        session, new.source_id, new.entry, new.extracted
                    )
            except IntegrityError:
                log.info("story %s was stored by another worker meanwhile", new.entry.url)
                results.append(False)
                continue
            except Exception as exc:
                results.append(exc)
                continue
            self._announce_alerts()
            results.append(_count_stored(new.summary, outcome))
        return results

    def _store_new_story(
        self, session: Session, source_id: int, entry: FeedEntry, extracted: Extracted
    ) -> _Stored:
        """Store a story, unless the page turns out to be one already known at another URL
        (its same-site rel=canonical or the end of its redirects): then the URL becomes an
        alias. A canonical on another site is kept as the story's `canonical_hint`."""
        now = self.clock()
        found = story_urls(entry.url, extracted)
        urls = found.urls
        known = queries.story_by_keys(session, urls)
        if known is not None:
            queries.add_aliases(session, known.id, urls)
            return "alias"
        url = next(reversed(urls.values()))  # the canonical, else the final URL
        recheck = self._recheck_schedule(self._settings_by_id(source_id))
        story = self.stories.new_story(
            session,
            source_id,
            url,
            extracted,
            entry,
            now,
            recheck=recheck,
            canonical_hint=found.canonical_hint,
        )
        queries.add_aliases(session, story.id, urls, unknown=True)  # story_by_keys found none
        # The next story in the transaction sees this one whole, even through Core queries
        # that do not flush (the event index's catch-up).
        session.flush()
        if story.status == "offtopic":
            return "offtopic"
        if story.duplicate_kind is not None:
            return "duplicate"
        return "new"

    # ------------------------------------------------------------ re-checks

    async def _recheck_due(self, summary: PassSummary) -> None:
        workers = self.config.fetch.concurrency
        started = self.clock()
        claims = _Claims(
            lambda n: self._claim_unless_stopping(self._claim_stories, n, started),
            max(1, workers // 2),
            once=False,
        )
        await _drain(claims, workers, lambda job: self._recheck(summary, job))

    def _claim_stories(self, limit: int, due_by: datetime) -> list[RecheckJob]:
        with self.sessions.begin() as session:
            due = queries.claim_due_stories(
                session, due_by, self.owner, self.lease, limit=limit, now=self.clock()
            )
            return [
                RecheckJob(
                    s.id,
                    s.url,
                    s.etag,
                    s.last_modified,
                    self._settings(s.source.name) if s.source else None,
                )
                for s in due
            ]

    async def _recheck(self, summary: PassSummary, job: RecheckJob) -> None:
        """Fetch a story again and record what changed; a failure is logged and the story
        keeps its schedule (its lease frees it for the next pass should writing fail)."""
        try:
            async with self._article_slots:
                result = await self._fetch_article(
                    job.url,
                    job.etag,
                    job.last_modified,
                    settings=job.settings,
                    story_id=job.story_id,
                )
                summary.rechecked += 1
                if await self.writer.run(self._write_recheck, job, result):
                    summary.changed += 1
        except Exception:
            log.exception("re-check of story %d (%s) failed", job.story_id, job.url)
        await self._settle_held(summary)

    def _announce_alerts(self) -> None:
        """After a commit: wake the delivery job if the transaction wrote alert events."""
        written = self.stories.outbox.written
        if written != self._alerts_announced:
            self._alerts_announced = written
            if self.on_alerts is not None:
                self.on_alerts()

    def _write_recheck(self, job: RecheckJob, result: ArticleResult) -> bool:
        """Record a re-check; True when it wrote a version."""
        changed = self._write_recheck_in_transaction(job, result)
        self._announce_alerts()
        return changed

    def _write_recheck_in_transaction(self, job: RecheckJob, result: ArticleResult) -> bool:
        now = self.clock()
        steps = self._recheck_schedule(job.settings)
        with self.sessions.begin() as session:
            story = session.get(Story, job.story_id)
            if story is None:
                return False
            if isinstance(result, PageFailed):
                log.warning("re-check %s: %s", job.url, result.message)
                changed = False
            else:
                changed = self.stories.observe(session, story, result, now)
            story.last_checked_at = now
            story.lease_owner = story.lease_expires_at = None
            if changed:
                story.next_check_at, story.recheck_step = schedule.first_recheck(now, steps)
            else:
                story.next_check_at, story.recheck_step = schedule.next_recheck(
                    now, story.recheck_step, steps
                )
            return changed

    # ------------------------------------------------------------ held re-checks

    async def _settle_held(self, summary: PassSummary) -> None:
        """Settle the held re-checks of the sources found healthy again by the writes so far
        (monitor.pipeline.held): read on the writer, extracted again in the process pool,
        then decided and written in a short transaction, held.PER_TRANSACTION at a time. One
        task settles at a time and also takes the sources found meanwhile. A failure is
        logged; what was not settled stays held for the next settling. A page that kills or
        hangs a worker is its story link's failure: held, not extracted again before the
        link's next attempt, given up once the link is quarantined."""
        if self._settling_held or not self.stories.to_settle:
            return
        self._settling_held = True
        tried: set[int] = set()  # each check once here (one whose extraction died waits)
        try:
            while self.stories.to_settle:
                due = await self.writer.run(self._due_held, frozenset(tried))
                if not due:
                    continue  # the sources read are done; any left were found meanwhile
                tried.update(check.check_id for check in due)
                async with asyncio.TaskGroup() as group:
                    extracting = [group.create_task(held.extract(self.pool, c)) for c in due]
                pairs = [(c, t.result()) for c, t in zip(due, extracting, strict=True)]
                summary.changed += await self.writer.run(self._write_settled, pairs)
        except Exception:
            log.exception("settling held re-checks failed")
        finally:
            self._settling_held = False

    def _due_held(self, skip: frozenset[int]) -> list[held.DueCheck]:
        """The next held checks due, of the sources waiting to be settled (a short read); a
        source leaves the waiting set once all its due checks are handed out."""
        with self.sessions() as session:
            found, done = held.due_of(
                session,
                sorted(self.stories.to_settle),
                self._source_configs,
                self.stories.rules,
                skip=skip,
                now=self.clock(),
            )
        self.stories.to_settle -= done
        return found

    def _write_settled(self, extracted: list[tuple[held.DueCheck, held.Extraction]]) -> int:
        """Write or discard held checks given their pages extracted again; the versions
        written."""
        with self.sessions.begin() as session:
            settled = held.settle_extracted(session, self.stories, extracted, now=self.clock())
        self._announce_alerts()
        if settled.written or settled.discarded:
            log.info(
                "held re-checks settled: %d written as versions, %d discarded",
                settled.written,
                settled.discarded,
            )
        return settled.written

    def _recheck_schedule(self, settings: SourceConfig | None) -> Sequence[timedelta]:
        if settings is not None and settings.recheck is not None:
            return settings.recheck
        return self.config.polling.recheck


def _oldest_first(entries: Sequence[FeedEntry]) -> list[FeedEntry]:
    """Entries by publication date, oldest first; undated ones keep their place at the end."""
    return sorted(entries, key=lambda e: (e.published is None, e.published or _EARLIEST))


def _failed_link(key: str, url: str, result: Failed | PageFailed) -> queries.FailedLink:
    if isinstance(result, PageFailed):
        return queries.FailedLink(key, url, None, result.message, None, crashed=result.crashed)
    return queries.FailedLink(key, url, result.status, result.message, result.retry_after)
