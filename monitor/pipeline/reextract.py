"""`monitor reextract`: run extraction again over the raw HTML kept with every version.

When the extractor improves, stored versions can be brought up to date without fetching
anything. Each version is decoded with the charset its response declared and read at the URL
it was fetched from (both stored with it), so re-extraction sees exactly the text the
pipeline saw. Versions are updated in place: re-extraction never adds one. Versions that now
read the same as the one before them (noise the old extractor let through) are counted, so
the report says how many recorded changes were not real. A story's duplicate index (text
hash, LSH bands) is rebuilt from its new text.

Pages are extracted in the service's process pool (monitor.pipeline.pool), never in this
process: a real page that makes lxml or trafilatura abort, hang or raise costs its version,
which is left as it was (counted as `failed`), not the command. So this process loads neither
the extractor nor numpy (the workers return each text's fingerprint too).

Stories are done `batch` at a time: a short read of their stored pages, extraction with every
worker busy, then one short transaction that writes the batch. No transaction is open while
pages are extracted; a large database is not held in one long transaction (SQLite's write
lock, PostgreSQL's row locks), work done survives an interruption, and the caller is told
after each batch how far it got.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import utcnow
from monitor.config import Config, SourceConfig
from monitor.core import fingerprint as fp
from monitor.core.extract import Article
from monitor.core.normalize import content_hash
from monitor.core.text import count
from monitor.pipeline import held
from monitor.pipeline.pool import PageFailed, PageTask, ProcessedPage, ProcessPool
from monitor.store import extraction, queries
from monitor.store.dedupe import index_story, reindex_story
from monitor.store.models import HeldCheck, Source, SourceExtraction, Story, Version
from monitor.store.writer import StoryWriter, classify_version

log = logging.getLogger(__name__)


@dataclass
class ReextractReport:
    stories: int = 0
    versions: int = 0
    updated: int = 0
    without_html: int = 0
    now_identical: int = 0
    held_written: int = 0  # re-checks held back during a breakage, now written as versions
    held_discarded: int = 0  # … and those that only reflected the breakage
    failed: int = 0  # versions left as they were: their page killed, hung or failed a worker,
    # or could not be read

    def line(self) -> str:
        line = self._versions_line()
        if self.failed:
            line += f", {self.failed} left as they were (their stored page could not be extracted)"
        if self.held_written or self.held_discarded:
            line += (
                f"; held re-checks: {self.held_written} written as versions, "
                f"{self.held_discarded} discarded"
            )
        return line

    def _versions_line(self) -> str:
        return (
            f"{count(self.stories, 'story', 'stories')}, {count(self.versions, 'version')} "
            f"re-extracted, {self.updated} updated, {self.now_identical} now identical to the "
            "version before"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


BATCH = 50  # stories per transaction
Progress = Callable[[int, int], None]
"""Told (stories done, stories in all) after each committed batch."""
Result = ProcessedPage | PageFailed


@dataclass(frozen=True, slots=True)
class _StoredPage:
    """A version's response as stored (still compressed: decompressed only when a worker is
    free for it, so a batch's bodies are not all in memory at once)."""

    version_id: int
    url: str
    blob: bytes
    charset: str | None
    source: SourceConfig | None

    def task(self) -> PageTask | PageFailed:
        return held.stored_page(self.url, self.blob, self.charset, self.source)


def reextract_stories(
    sessions: sessionmaker[Session],
    config: Config,
    story_ids: Sequence[int] | None = None,
    *,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> ReextractReport:
    """Re-extract the versions of the named stories (default: all, and then settle the held
    re-checks), `batch` stories per committed transaction, in a process pool of its own."""
    return asyncio.run(_reextract(sessions, config, story_ids, max(1, batch), progress))


async def _reextract(
    sessions: sessionmaker[Session],
    config: Config,
    story_ids: Sequence[int] | None,
    batch: int,
    progress: Progress | None,
) -> ReextractReport:
    report = ReextractReport()
    settings = {source.name: source for source in config.sources}
    query = select(Story.id).where(Story.version_count > 0).order_by(Story.id)
    if story_ids:
        query = query.where(Story.id.in_(story_ids))
    with sessions() as session:
        ids = list(session.scalars(query))
    if progress is not None:
        progress(0, len(ids))
    async with ProcessPool.configured(config.processing) as pool:
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            results = await _extract(pool, _stored_pages(sessions, chunk, settings))
            with sessions.begin() as session:
                stories = session.scalars(
                    select(Story).where(Story.id.in_(chunk)).order_by(Story.id)
                )
                for story in stories:
                    _update_story(session, story, results, report)
                    report.stories += 1
            if progress is not None:
                progress(start + len(chunk), len(ids))
        if not story_ids:
            await _settle_held(sessions, config, pool, report)
    return report


def _stored_pages(
    sessions: sessionmaker[Session], story_ids: Sequence[int], settings: dict[str, SourceConfig]
) -> list[_StoredPage]:
    """The stored responses of the stories' versions (a short read), read at the URL each
    was fetched from (or, stored before schema 0011, the story's)."""
    with sessions() as session:
        rows = session.execute(
            select(
                Version.id,
                Version.raw_html,
                Version.charset,
                Version.final_url,
                Story.url,
                Source.name,
            )
            .join(Story, Story.id == Version.story_id)
            .outerjoin(Source, Source.id == Story.source_id)
            .where(
                Version.story_id.in_(story_ids),
                Version.raw_html.is_not(None),
                or_(Version.change_class.is_(None), Version.change_class != "removed"),
            )
            .order_by(Version.story_id, Version.number)
        )
        return [
            _StoredPage(
                version_id,
                final_url or story_url,
                blob,
                charset,
                settings.get(source_name) if source_name is not None else None,
            )
            for version_id, blob, charset, final_url, story_url, source_name in rows
            if blob is not None  # as the query says: for the type checker
        ]


async def _extract(pool: ProcessPool, pages: Sequence[_StoredPage]) -> dict[int, Result]:
    """Each page extracted in the pool, every worker busy: {version id: what came back}."""
    slots = asyncio.Semaphore(pool.processes)

    async def one(page: _StoredPage) -> tuple[int, Result]:
        async with slots:
            task = page.task()  # a damaged row fails here: its version is left as it is
            if isinstance(task, PageFailed):
                return page.version_id, task
            return page.version_id, await pool.process(task)

    return dict(await asyncio.gather(*(one(page) for page in pages)))


def _update_story(
    session: Session, story: Story, results: dict[int, Result], report: ReextractReport
) -> None:
    """Write the story's versions as extracted again, and classify each against the one
    before it. A version whose extraction failed is left as it was, like one stored without
    its HTML (the next is compared with it as it is); so is one written after the batch was
    read (today's extractor read it)."""
    before: Version | None = None
    latest: ProcessedPage | None = None  # the newest version's new reading, if it has one
    for version in queries.versions(session, story.id):
        if version.change_class == "removed":
            continue
        result = results.get(version.id)
        latest = result if isinstance(result, ProcessedPage) else None
        if isinstance(result, PageFailed):
            report.failed += 1
            log.warning(
                "story %d, version %d left as it was: %s", story.id, version.number, result.message
            )
        elif result is None and version.raw_html is None:
            report.without_html += 1
        if latest is not None:
            report.versions += 1
            if _apply(version, latest.article):
                report.updated += 1
            if before is not None:
                if before.content_hash == version.content_hash:
                    report.now_identical += 1
                classify_version(version, before, restored=version.change_class == "restored")
        before = version
    if before is not None:
        story.title = before.title
    if story.fingerprint_scheme is not None:  # indexed: later copies are matched to the new text
        session.flush()
        if latest is not None:  # the worker fingerprinted the new text
            index_story(session, story, latest.normalized, latest.fingerprint)
        elif story.fingerprint_scheme != fp.SCHEME:  # the text is as indexed, the scheme is not
            reindex_story(session, story)


def _apply(version: Version, article: Article) -> bool:
    """Set the version's extracted fields; whether any changed."""
    title = article.title or version.title
    fields = {
        "title": title,
        "text": article.text,
        "byline": article.byline,
        "published_at": article.published,
        "canonical_url": article.canonical_url,
        "content_hash": content_hash(title, article.text),
    }
    changed = any(getattr(version, key) != value for key, value in fields.items())
    for key, value in fields.items():
        setattr(version, key, value)
    return changed


async def _settle_held(
    sessions: sessionmaker[Session], config: Config, pool: ProcessPool, report: ReextractReport
) -> None:
    """Judge every degraded source afresh and settle the re-checks held back while its
    extraction looked broken, the service's way (monitor.pipeline.held): the due checks read,
    their pages extracted in the pool, then decided and written in a short transaction,
    held.PER_TRANSACTION at a time. A page that kills or hangs a worker is its story link's
    failure and stays held. The sources are restarted first and on their own: the versions
    above are already written, and a source that breaks again meanwhile keeps its checks."""
    settings = {source.name: source for source in config.sources}
    writer = StoryWriter(config)
    with sessions.begin() as session:
        held_by = select(HeldCheck.source_id).where(HeldCheck.source_id.is_not(None))
        degraded = select(SourceExtraction.source_id).where(
            SourceExtraction.degraded_reason.is_not(None)
        )
        found_ids = set(session.scalars(held_by)) | set(session.scalars(degraded))
        source_ids = sorted(i for i in found_ids if i is not None)
        for source_id in source_ids:
            extraction.restart(session, source_id, utcnow(), writer.outbox)
    waiting, tried = set(source_ids), set[int]()  # each check once: one that crashed waits
    while waiting:
        with sessions() as session:
            due, done = held.due_of(
                session, sorted(waiting), settings, writer.rules, skip=frozenset(tried)
            )
        waiting -= done
        if not due:
            continue
        tried.update(check.check_id for check in due)
        extracted = await asyncio.gather(*(held.extract(pool, check) for check in due))
        with sessions.begin() as session:
            settled = held.settle_extracted(session, writer, list(zip(due, extracted, strict=True)))
        report.held_written += settled.written
        report.held_discarded += settled.discarded
