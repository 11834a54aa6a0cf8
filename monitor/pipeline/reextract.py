"""`monitor reextract`: run extraction again over the raw HTML kept with every version.

When the extractor improves, stored versions can be brought up to date without fetching
anything. Each version is decoded with the charset its response declared and read at the URL
it was fetched from (both stored with it), so re-extraction sees exactly the text the
pipeline saw. Versions are updated in place: re-extraction never adds one. Versions that now
read the same as the one before them (noise the old extractor let through) are counted, so
the report says how many recorded changes were not real. A story's duplicate index (text
hash, LSH bands) is rebuilt from its new text.

Stories are done `batch` at a time, each batch in a transaction of its own: a large database
is not held in one long transaction (SQLite's write lock, PostgreSQL's row locks), work done
survives an interruption, and the caller is told after each batch how far it got.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import utcnow
from monitor.config import Config, SourceConfig
from monitor.core.encoding import decode_html
from monitor.core.extract import extract_article
from monitor.core.normalize import content_hash
from monitor.core.text import count
from monitor.pipeline import held
from monitor.store import extraction, queries
from monitor.store.blobs import decompress_html
from monitor.store.dedupe import reindex_story
from monitor.store.models import HeldCheck, Source, SourceExtraction, Story, Version
from monitor.store.writer import StoryWriter, classify_version


@dataclass
class ReextractReport:
    stories: int = 0
    versions: int = 0
    updated: int = 0
    without_html: int = 0
    now_identical: int = 0
    held_written: int = 0  # re-checks held back during a breakage, now written as versions
    held_discarded: int = 0  # … and those that only reflected the breakage

    def line(self) -> str:
        line = self._versions_line()
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


def reextract_stories(
    sessions: sessionmaker[Session],
    config: Config,
    story_ids: Sequence[int] | None = None,
    *,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> ReextractReport:
    """Re-extract the versions of the named stories (default: all), `batch` stories per
    committed transaction."""
    report = ReextractReport()
    settings = {source.name: source for source in config.sources}
    query = select(Story.id).where(Story.version_count > 0).order_by(Story.id)
    if story_ids:
        query = query.where(Story.id.in_(story_ids))
    with sessions() as session:
        ids = list(session.scalars(query))
    if progress is not None:
        progress(0, len(ids))
    for start in range(0, len(ids), max(1, batch)):
        chunk = ids[start : start + max(1, batch)]
        with sessions.begin() as session:
            stories = session.scalars(select(Story).where(Story.id.in_(chunk)).order_by(Story.id))
            for story in stories:
                source = settings.get(story.source.name) if story.source else None
                _reextract_story(session, story, source, report)
                report.stories += 1
        if progress is not None:
            progress(start + len(chunk), len(ids))
    if not story_ids:
        _settle_held(sessions, config, report)
    return report


def _settle_held(sessions: sessionmaker[Session], config: Config, report: ReextractReport) -> None:
    """Judge every degraded source afresh and settle the re-checks held back while its
    extraction looked broken, with today's extractor (monitor.pipeline.held), in this process
    like the versions above."""
    now = utcnow()
    settings = {source.name: source for source in config.sources}
    writer = StoryWriter(config)
    with sessions.begin() as session:
        held_by = select(HeldCheck.source_id).where(HeldCheck.source_id.is_not(None))
        degraded = select(SourceExtraction.source_id).where(
            SourceExtraction.degraded_reason.is_not(None)
        )
        source_ids = set(session.scalars(held_by)) | set(session.scalars(degraded))
        for source_id in sorted(i for i in source_ids if i is not None):
            extraction.restart(session, source_id, now, writer.outbox)
            source = session.get(Source, source_id)
            found = settings.get(source.name) if source is not None else None
            settled = held.settle(session, writer, source_id, found)
            report.held_written += settled.written
            report.held_discarded += settled.discarded


def _reextract_story(
    session: Session, story: Story, source: SourceConfig | None, report: ReextractReport
) -> None:
    before: Version | None = None
    for version in queries.versions(session, story.id):
        if version.change_class == "removed":
            continue
        if version.raw_html is None:
            report.without_html += 1
            before = version
            continue
        report.versions += 1
        if _reextract_version(version, version.final_url or story.url, source):
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
        reindex_story(session, story)


def _reextract_version(version: Version, url: str, source: SourceConfig | None) -> bool:
    raw = decompress_html(version.raw_html)
    if raw is None:
        return False
    article = extract_article(
        decode_html(raw, version.charset),
        url,
        title_selector=source.title if source else None,
        text_selector=source.text if source else None,
    )
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
