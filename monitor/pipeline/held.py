"""Re-checks held back while a source's extraction looked broken, evaluated again.

A re-check is held (monitor.store.writer.StoryWriter.observe) instead of written as a version
when its source is `extraction degraded` (kind 'degraded'), or when the page alone suddenly
extracts much shorter, without its title, or as "not the article" (kind 'suspect'; see
monitor.core.breakage.looks_broken). They are settled here once the source is healthy, in the
writer's transaction, oldest first:

- a 'degraded' one as soon as the source is healthy again (it recovered, or
  `monitor reextract` restarted its judgement): its stored response is extracted again with
  today's extractor and the source's selectors, and written as a version only when it now
  reads soundly and differs from the story's latest version; otherwise it is discarded (it
  only reflected the breakage);
- a 'suspect' one once the source's window has moved past it with no alarm: the change was
  that page's own (a long text cut to a short one), so it is written if it still differs.

A held check older than the story's latest version is discarded: a newer reading exists.
Re-extraction here is CPU work on the writer thread, acceptable for the few pages held.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.config import SourceConfig
from monitor.core import breakage
from monitor.core.normalize import content_hash
from monitor.fetch import Fetched
from monitor.pipeline.worker import PageTask, process_page
from monitor.store import extraction, queries
from monitor.store.blobs import decompress_html
from monitor.store.models import HeldCheck, SourceExtraction, Story
from monitor.store.writer import Extracted, StoryWriter


@dataclass
class Settled:
    written: int = 0
    discarded: int = 0


def settle(
    session: Session,
    writer: StoryWriter,
    source_id: int,
    settings: SourceConfig | None,
    now: datetime,
) -> Settled:
    """Settle the held checks of a healthy source that are due (see the module docstring)."""
    settled = Settled()
    row = session.get(SourceExtraction, source_id)
    if row is None or row.degraded_reason is not None:
        return settled
    seen = breakage.Stats.from_json(row.stats).seen
    checks = session.scalars(
        select(HeldCheck)
        .where(HeldCheck.source_id == source_id)
        .order_by(HeldCheck.fetched_at, HeldCheck.id)
    )
    done: list[HeldCheck] = []
    for check in checks:
        if check.kind == "suspect" and seen - check.seq < breakage.WINDOW:
            continue  # the window has not moved past it yet
        done.append(check)
        if _write(session, writer, check, settings):
            settled.written += 1
        else:
            settled.discarded += 1
    if done:
        extraction.forget_held(session, source_id, done)
    return settled


def _write(
    session: Session, writer: StoryWriter, check: HeldCheck, settings: SourceConfig | None
) -> bool:
    story = session.get(Story, check.story_id)
    if story is None:
        return False
    latest = queries.latest_version(session, story.id)
    if latest is None or latest.change_class == "removed" or latest.fetched_at >= check.fetched_at:
        return False
    extracted = _extract(check, settings, writer)
    article = extracted.article
    if check.kind == "degraded":
        page = extraction.page_of(article, True)
        if breakage.looks_broken(
            page, before_length=len(latest.text), before_title=bool(latest.title)
        ):
            return False
    title = article.title or latest.title
    if content_hash(title, article.text) == latest.content_hash:
        return False
    writer.write_held(session, story, latest, extracted, check.fetched_at)
    return True


def _extract(check: HeldCheck, settings: SourceConfig | None, writer: StoryWriter) -> Extracted:
    body = decompress_html(check.raw_html) or b""
    processed = process_page(
        PageTask(
            check.final_url,
            body,
            check.charset,
            title_selector=settings.title if settings else None,
            text_selector=settings.text if settings else None,
            topics=writer.rules,
        )
    )
    fetched = Fetched(
        url=check.final_url,
        status=check.status,
        headers={},
        body=b"",
        content_type=None,
        charset=check.charset,
        etag=None,
        last_modified=None,
        elapsed=0.0,
    )
    return Extracted(
        article=processed.article,
        fetched=fetched,
        normalized=processed.normalized,
        fingerprint=processed.fingerprint,
        topics=processed.topics,
        cluster_terms=processed.cluster_terms,
        compressed_html=check.raw_html,
    )
