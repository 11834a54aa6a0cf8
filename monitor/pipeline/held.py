"""Re-checks held back while a source's extraction looked broken, evaluated again.

A re-check is held (monitor.store.writer.StoryWriter.observe) instead of written as a version
when its source is `extraction degraded` (kind 'degraded'), or when the page alone suddenly
extracts much shorter, without its title, or as "not the article" (kind 'suspect'; see
monitor.core.breakage.looks_broken). They are settled once the source is healthy, oldest first:

- a 'degraded' one as soon as the source is healthy again (it recovered, or
  `monitor reextract` restarted its judgement): its stored response is extracted again with
  today's extractor and the source's selectors, and written as a version only when it now
  reads soundly and differs from the story's latest version; otherwise it is discarded (it
  only reflected the breakage);
- a 'suspect' one once the source's window has moved past it with no alarm: the change was
  that page's own (a long text cut to a short one), so it is written if it still differs.

A held check older than the story's latest version is discarded: a newer reading exists.

A held page that kills or hangs an extraction process is that story link's failure, as for a
link found in a feed (monitor.store.queries.record_link_failures, shown by `monitor links`):
the check stays held but is not handed out again before the link's next attempt (the same
back-off, schedule.next_link_attempt), and once the page has crashed a worker
QUARANTINE_AFTER_CRASHES times the link is quarantined and the check discarded. Without it a
page that kills a worker would be extracted again, and kill one again, at every settling of
its source. A check that settles later forgets the failure if a held re-check recorded it.

Settling is split in three so no command extracts on its writer thread or in its own process
(nor loads the extractor at all): `due` reads the checks to settle and the pages to extract (a
short read), the caller extracts them in its process pool (the pipeline, `monitor
reextract`), and `settle_extracted` decides and writes in a short transaction, reading again
what it decides on: a check replaced by a newer reading, a story that moved on or a source
that broke again meanwhile changes nothing.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.clock import utcnow
from monitor.config import SourceConfig
from monitor.core import breakage, schedule
from monitor.core.normalize import content_hash
from monitor.core.topics import TopicRule
from monitor.core.urls import identity_key
from monitor.fetch import Fetched
from monitor.pipeline.worker import PageFailed, PageTask, ProcessedPage
from monitor.store import extraction, queries
from monitor.store.blobs import decompress_html
from monitor.store.models import HeldCheck, Source, SourceExtraction, Story, Version
from monitor.store.writer import Extracted, StoryWriter

if TYPE_CHECKING:
    from monitor.pipeline.pool import ProcessPool

log = logging.getLogger(__name__)

PER_TRANSACTION = 16
"""Held re-checks read, extracted again and settled together: bounds the bodies in memory."""
CRASHED = "held re-check: "
"""How the failure of a story link recorded by a held re-check begins (its last error)."""


@dataclass
class Settled:
    written: int = 0
    discarded: int = 0


@dataclass(frozen=True, slots=True)
class DueCheck:
    """A held check due to be settled, as read: the page to extract again; None when the
    story has moved on since (a newer version, or taken down) and the check is discarded; or
    the failure already known when its stored page cannot be read (a damaged row: the check
    is discarded as one the extractor failed on)."""

    check_id: int
    source_id: int
    story_id: int
    fetched_at: datetime
    page: PageTask | PageFailed | None


Extraction = ProcessedPage | PageFailed | None
"""What extracting a due check's page gave; None: not extracted (the story had moved on)."""

Verdict = Literal["discard", "keep", "crashed", "read"]
"""What becomes of a held check given its extraction (see `judge`)."""


def judge(moved_on: bool, result: Extraction) -> Verdict:
    """'discard': moot (its story moved on) or unreadable (the extractor failed on it);
    'keep': left held, not extracted (read as moot, moot no more: a removed story restored);
    'crashed': its page killed or hung the extraction process (a failure of the story's link);
    'read': extracted, to be written if it now reads soundly and differs."""
    if moved_on:
        return "discard"
    if result is None:
        return "keep"
    if isinstance(result, PageFailed):
        return "crashed" if result.crashed else "discard"
    return "read"


def backing_off(next_attempt: datetime | None, now: datetime) -> bool:
    """Whether the story's link is waiting for its next attempt after a failure (a held
    re-check is then not extracted: its page may kill a worker again)."""
    return next_attempt is not None and next_attempt > now


def failed_link(story_url: str, crash: PageFailed) -> queries.FailedLink:
    """The failure a held re-check whose page killed or hung a worker records, keyed as the
    pipeline keys the story's link, so `monitor links` shows the story's URL."""
    return queries.FailedLink(
        identity_key(story_url), story_url, None, CRASHED + crash.message, None, crashed=True
    )


def due(
    session: Session,
    source_id: int,
    settings: SourceConfig | None,
    rules: tuple[TopicRule, ...],
    *,
    skip: frozenset[int] = frozenset(),
    limit: int | None = None,
    now: datetime | None = None,
) -> list[DueCheck]:
    """The held checks of a healthy source that are due, oldest first (at most `limit`,
    none of the ids in `skip`): nothing when the source is not healthy. One whose page
    crashed a worker waits for its link's next attempt (`backing_off`), unless moot."""
    seen = _healthy_seen(session.get(SourceExtraction, source_id))
    if seen is None:
        return []
    now = now or utcnow()
    found: list[DueCheck] = []
    checks = session.scalars(
        select(HeldCheck)
        .where(HeldCheck.source_id == source_id)
        .order_by(HeldCheck.fetched_at, HeldCheck.id)
    )
    for check in checks:
        if limit is not None and len(found) >= limit:
            break
        if check.id in skip or not is_due(check.kind, check.seq, seen):
            continue
        moved_on = _moved_on(session, check) is not None
        if not moved_on and backing_off(_next_attempt(session, check), now):
            continue
        page = None if moved_on else _page(check, settings, rules)
        found.append(DueCheck(check.id, source_id, check.story_id, check.fetched_at, page))
    return found


def due_of(
    session: Session,
    source_ids: Iterable[int],
    settings: Mapping[str, SourceConfig],
    rules: tuple[TopicRule, ...],
    *,
    skip: frozenset[int] = frozenset(),
    now: datetime | None = None,
) -> tuple[list[DueCheck], set[int]]:
    """The next PER_TRANSACTION held checks due (`due`) of the sources, in their order, each
    read as its source's settings (by name) say; and the sources all of whose due checks are
    among them, done with until a new settling."""
    found: list[DueCheck] = []
    done: set[int] = set()
    for source_id in source_ids:
        room = PER_TRANSACTION - len(found)
        if room <= 0:
            break
        source = session.get(Source, source_id)
        checks = due(
            session,
            source_id,
            settings.get(source.name) if source is not None else None,
            rules,
            skip=skip,
            limit=room,
            now=now,
        )
        if len(checks) < room:
            done.add(source_id)
        found.extend(checks)
    return found, done


async def extract(pool: ProcessPool, check: DueCheck) -> Extraction:
    """The due check's page extracted again in the process pool (not at all if moot)."""
    if check.page is None or isinstance(check.page, PageFailed):
        return check.page
    return await pool.process(check.page)


def is_due(kind: str, seq: int, seen: int) -> bool:
    """A 'degraded' check is due once its source is healthy; a 'suspect' one once the
    source's window has moved past it."""
    return kind != "suspect" or seen - seq >= breakage.WINDOW


def settle_extracted(
    session: Session,
    writer: StoryWriter,
    extracted: Sequence[tuple[DueCheck, Extraction]],
    *,
    now: datetime | None = None,
) -> Settled:
    """Write or discard the due checks given their pages extracted again. Nothing is done
    for a check gone or replaced by a newer reading meanwhile, nor while its source is not
    healthy; one the extractor failed on is discarded. A check whose extraction died or hung
    is recorded as its story link's failure and stays held (tried again after the link's
    back-off), or is discarded once the link is quarantined."""
    now = now or utcnow()
    settled = Settled()
    by_source: dict[int, list[tuple[DueCheck, Extraction]]] = {}
    for pair in extracted:
        by_source.setdefault(pair[0].source_id, []).append(pair)
    for source_id, pairs in sorted(by_source.items()):
        # Locked (on PostgreSQL) like a page's judgement: two workers settle a source in turn.
        seen = _healthy_seen(extraction.locked_row(session, source_id))
        if seen is None:
            continue  # it broke again meanwhile: they wait for the next recovery
        done: list[HeldCheck] = []
        healed: list[str] = []  # the links of the checks settled
        crashed: list[tuple[HeldCheck, queries.FailedLink]] = []
        for read, result in sorted(pairs, key=lambda pair: (pair[0].fetched_at, pair[0].check_id)):
            check = session.get(HeldCheck, read.check_id)
            if check is None or not _same(check, read) or not is_due(check.kind, check.seq, seen):
                continue
            outcome = _decide(session, writer, check, result)
            story = session.get(Story, check.story_id)
            if outcome == "crashed":
                assert isinstance(result, PageFailed) and story is not None  # judge
                crashed.append((check, failed_link(story.url, result)))
                continue
            if outcome == "kept":
                continue
            done.append(check)
            if story is not None:
                healed.append(identity_key(story.url))
            if outcome == "written":
                settled.written += 1
            else:
                settled.discarded += 1
        if healed:
            queries.forget_link_failures(session, healed, error_prefix=CRASHED)
        if crashed:
            given_up = _record_crashes(session, source_id, crashed, now)
            done.extend(given_up)
            settled.discarded += len(given_up)
        if done:
            extraction.forget_held(session, source_id, done)
    return settled


def _record_crashes(
    session: Session,
    source_id: int,
    crashed: list[tuple[HeldCheck, queries.FailedLink]],
    now: datetime,
) -> list[HeldCheck]:
    """Record the held checks whose page killed or hung a worker as their links' failures;
    the checks whose link is now quarantined (to be discarded)."""
    quarantined = queries.record_link_failures(
        session,
        [link for _, link in crashed],
        source_id,
        now,
        lambda failures, retry_after: schedule.next_link_attempt(now, failures, retry_after),
    )
    given_up: list[HeldCheck] = []
    for check, link in crashed:
        if link.key in quarantined:
            log.warning(
                "held re-check of %s discarded: its page killed the extraction process %d "
                "times, the link is quarantined (monitor links)",
                link.url,
                queries.QUARANTINE_AFTER_CRASHES,
            )
            given_up.append(check)
        else:
            log.warning(
                "held re-check of %s kept, tried again after a back-off: %s",
                link.url,
                link.error.removeprefix(CRASHED),
            )
    return given_up


def _healthy_seen(row: SourceExtraction | None) -> int | None:
    """The source's pages seen, when its extraction is healthy; None when it is not."""
    if row is None or row.degraded_reason is not None:
        return None
    return breakage.Stats.from_json(row.stats).seen


def _same(check: HeldCheck, read: DueCheck) -> bool:
    """Still the reading that was extracted (a newer one replaces a story's held check)."""
    return (check.story_id, check.fetched_at) == (read.story_id, read.fetched_at)


def _moved_on(session: Session, check: HeldCheck) -> str | None:
    """Why a held check is moot (its story gone, taken down or read since), or None."""
    story = session.get(Story, check.story_id)
    if story is None:
        return "the story is gone"
    latest = queries.latest_version(session, story.id)
    if latest is None or latest.change_class == "removed":
        return "the story was taken down"
    if latest.fetched_at >= check.fetched_at:
        return "a newer reading exists"
    return None


def _next_attempt(session: Session, check: HeldCheck) -> datetime | None:
    """When the story's link may be tried again after a failure; None if it has not failed."""
    story = session.get(Story, check.story_id)
    if story is None:
        return None
    key = identity_key(story.url)
    return queries.link_failures(session, [key]).get(key)


def _decide(
    session: Session, writer: StoryWriter, check: HeldCheck, result: Extraction
) -> Literal["written", "discarded", "kept", "crashed"]:
    """What became of the check: written as a version, discarded, left held (read again at
    the next settling), or its page killed or hung the extraction process."""
    verdict = judge(_moved_on(session, check) is not None, result)
    if verdict == "discard":
        return "discarded"
    if verdict == "keep":
        return "kept"
    if verdict == "crashed":
        return "crashed"
    assert isinstance(result, ProcessedPage)  # judge
    story = session.get(Story, check.story_id)
    latest = queries.latest_version(session, check.story_id)
    assert story is not None and latest is not None  # _moved_on
    written = _write(session, writer, check, story, latest, _extracted(check, result))
    return "written" if written else "discarded"


def _write(
    session: Session,
    writer: StoryWriter,
    check: HeldCheck,
    story: Story,
    latest: Version,
    extracted: Extracted,
) -> bool:
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


def _page(
    check: HeldCheck, settings: SourceConfig | None, rules: tuple[TopicRule, ...]
) -> PageTask | PageFailed:
    """The held response as a page to extract (see `stored_page`)."""
    page = stored_page(check.final_url, check.raw_html, check.charset, settings, rules)
    if isinstance(page, PageFailed):
        log.warning("held re-check %d of story %d: %s", check.id, check.story_id, page.message)
    return page


def stored_page(
    url: str,
    blob: bytes | None,
    charset: str | None,
    settings: SourceConfig | None,
    rules: tuple[TopicRule, ...] = (),
) -> PageTask | PageFailed:
    """A stored response (a held check's, a version's) as a page to extract, read as its
    source wants it read; a failure when it cannot be decompressed (a damaged row, which
    never will be: what reads it is left or discarded as one the extractor failed on)."""
    try:
        body = decompress_html(blob) or b""
    except zlib.error as exc:
        return PageFailed(f"stored page unreadable: {exc}", crashed=False)
    return PageTask(
        url,
        body,
        charset,
        title_selector=settings.title if settings else None,
        text_selector=settings.text if settings else None,
        topics=rules,
    )


def _extracted(check: HeldCheck, processed: ProcessedPage) -> Extracted:
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
