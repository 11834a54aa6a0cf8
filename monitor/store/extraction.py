"""Per-source extraction health as the store keeps it: the rolling statistics of
monitor.core.breakage, the source's `extraction degraded` state, and the re-checks held back
meanwhile (monitor.pipeline.held settles them).

Synchronous, inside the caller's transaction, like monitor.store.writer.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, inspect, select, update
from sqlalchemy.orm import Session

from monitor.core import breakage
from monitor.store.models import HeldCheck, Source, SourceExtraction, Story
from monitor.store.records import SourceHealth as SourceHealth

if TYPE_CHECKING:  # the extractor's imports are heavy; read commands use this module
    from monitor.core.extract import Article
    from monitor.deliver.outbox import Outbox

log = logging.getLogger(__name__)


def page_of(
    article: Article,
    changed: bool | None,
    *,
    story: int = 0,
    before: int | None = None,
    changes: tuple[str, ...] = (),
) -> breakage.Page:
    """What the statistics keep of one extracted page."""
    return breakage.Page(
        length=len(article.text),
        title=bool(article.title),
        date=article.published is not None,
        not_article=article.not_article is not None,
        changed=changed,
        story=story,
        before=before,
        changes=changes,
    )


def record_not_article(
    session: Session,
    article: Article,
    url: str,
    now: datetime,
    source_id: int | None,
    story_id: int | None = None,
    alerts: Outbox | None = None,
) -> None:
    """Count a page rejected as not the article (it is stored nowhere else) in the statistics
    of its source, named directly or through the story being re-checked. A new link has no
    story yet: a number derived from its URL tells its page from the others'."""
    if source_id is None and story_id is not None:
        source_id = session.scalar(select(Story.source_id).where(Story.id == story_id))
    if source_id is None:
        return
    story = story_id if story_id is not None else -(zlib.crc32(url.encode()) + 1)
    record(session, source_id, page_of(article, None, story=story), now, alerts)


@dataclass(frozen=True, slots=True)
class Judged:
    """A source's state after one more page."""

    reason: str | None  # why its extraction is degraded; None: it is not
    seen: int  # its pages observed in all
    held: int  # its held checks waiting
    stories: int  # different stories in the window
    alike: bool  # the page changed like a page of another story of the window (breakage.alike)


def record(
    session: Session,
    source_id: int,
    page: breakage.Page,
    now: datetime,
    alerts: Outbox | None = None,
) -> Judged:
    """Add one page to the source's statistics and judge them again (the row is locked on
    PostgreSQL, so two workers' pages are both counted). When the source turns degraded or
    recovers, `alerts` writes the rules' events in this same transaction."""
    row = locked_row(session, source_id)
    if row is None:
        row = SourceExtraction(source_id=source_id, stats={}, held=0, updated_at=now)
        session.add(row)
        _LockedRows.of(session).rows[source_id] = row
    degraded = row.degraded_reason is not None
    before = breakage.Stats.from_json(row.stats)
    alike = breakage.alike(before, page)
    stats = breakage.observe(before, page, frozen=degraded)
    reason = breakage.judge(stats)
    if reason is not None and not degraded:
        row.degraded_since = now
        log.warning("source %s: extraction degraded: %s", _name(session, source_id), reason)
        _alert(session, alerts, source_id, "degraded", reason, now, now)
        # The suspects held before the alarm were the start of it.
        session.execute(
            update(HeldCheck)
            .where(HeldCheck.source_id == source_id, HeldCheck.kind == "suspect")
            .values(kind="degraded")
        )
    elif reason is None and degraded:
        log.warning("source %s: extraction recovered", _name(session, source_id))
        since = row.degraded_since
        _alert(session, alerts, source_id, "recovered", row.degraded_reason, since, now)
        row.degraded_since = None
    row.degraded_reason = reason
    row.stats = stats.as_json()
    row.updated_at = now
    return Judged(reason, stats.seen, row.held or 0, breakage.stories(stats), alike)


@dataclass
class _LockedRows:
    """The statistics rows this session's transaction has locked (or added): a transaction
    that stores several stories of one source reads its row once."""

    transaction: object
    rows: dict[int, SourceExtraction]

    @staticmethod
    def of(session: Session) -> _LockedRows:
        transaction = session.get_transaction()
        found = session.info.get(_LOCKED)
        if not isinstance(found, _LockedRows) or found.transaction is not transaction:
            found = session.info[_LOCKED] = _LockedRows(transaction, {})
        return found


_LOCKED = "monitor.extraction.locked"


def locked_row(session: Session, source_id: int) -> SourceExtraction | None:
    """The source's row, locked for the rest of the transaction (SELECT … FOR UPDATE the
    first time; then the row the session holds, which nothing else may change meanwhile)."""
    locked = _LockedRows.of(session)
    row = locked.rows.get(source_id)
    if row is not None and not inspect(row).deleted and inspect(row).session is session:
        return row
    row = session.scalars(
        select(SourceExtraction).where(SourceExtraction.source_id == source_id).with_for_update()
    ).first()
    if row is not None:
        locked.rows[source_id] = row
    return row


def _alert(
    session: Session,
    alerts: Outbox | None,
    source_id: int,
    kind: str,
    reason: str | None,
    since: datetime | None,
    now: datetime,
) -> None:
    """The source's turn to the outbox (nothing without rules, or a source gone)."""
    if alerts is None or not alerts.rules:
        return
    source = session.get(Source, source_id)
    if source is not None:
        alerts.source_event(session, source, kind, reason or "", since or now, now)


def hold(
    session: Session,
    *,
    story_id: int,
    source_id: int,
    fetched_at: datetime,
    status: int,
    final_url: str,
    charset: str | None,
    compressed_html: bytes,
    kind: str,
    seq: int,
    reason: str,
) -> None:
    """Keep a re-check's response instead of writing it as a version. A story has at most
    one: a newer reading replaces what was held of it, keeping when its wait began and
    'degraded' if either was."""
    earlier = list(session.scalars(select(HeldCheck).where(HeldCheck.story_id == story_id)))
    if earlier:
        seq = min(seq, *(check.seq for check in earlier))
        if any(check.kind == "degraded" for check in earlier):
            kind = "degraded"
        for check in earlier:
            session.delete(check)
    session.add(
        HeldCheck(
            story_id=story_id,
            source_id=source_id,
            fetched_at=fetched_at,
            status=status,
            final_url=final_url,
            charset=charset,
            raw_html=compressed_html,
            kind=kind,
            seq=seq,
            reason=reason,
        )
    )
    session.execute(
        update(SourceExtraction)
        .where(SourceExtraction.source_id == source_id)
        .values(held=SourceExtraction.held + 1 - len(earlier))
    )


def forget_held(session: Session, source_id: int, checks: list[HeldCheck]) -> None:
    for check in checks:
        session.delete(check)
    session.flush()
    remaining = session.scalar(
        select(func.count()).select_from(HeldCheck).where(HeldCheck.source_id == source_id)
    )
    session.execute(
        update(SourceExtraction)
        .where(SourceExtraction.source_id == source_id)
        .values(held=int(remaining or 0))
    )


def supersede(session: Session, story_id: int, source_id: int) -> None:
    """Forget the story's held checks: a newer reading of it was taken as it is."""
    checks = list(session.scalars(select(HeldCheck).where(HeldCheck.story_id == story_id)))
    if checks:
        forget_held(session, source_id, checks)


def restart(session: Session, source_id: int, now: datetime, alerts: Outbox | None = None) -> None:
    """Judge the source afresh from its next pages (after `monitor reextract`): the recent
    window is emptied and the alarm cleared (a 'recovered' event for the rules that want
    one); what is usual is kept."""
    row = session.get(SourceExtraction, source_id)
    if row is None:
        return
    if row.degraded_reason is not None:
        log.warning("source %s: extraction alarm cleared by reextract", _name(session, source_id))
        since = row.degraded_since
        _alert(session, alerts, source_id, "recovered", row.degraded_reason, since, now)
    stats = breakage.Stats.from_json(row.stats)
    row.stats = breakage.Stats(stats.usual, (), stats.seen).as_json()
    row.degraded_reason = row.degraded_since = None
    row.updated_at = now


UNKNOWN = SourceHealth("unknown", None, None, 0, 0)


def by_source(session: Session) -> dict[int, SourceHealth]:
    return {row.source_id: _health(row) for row in session.scalars(select(SourceExtraction))}


def degraded(session: Session) -> dict[str, str]:
    """{source name: reason} of the enabled sources whose extraction is degraded."""
    rows = session.execute(
        select(Source.name, SourceExtraction.degraded_reason)
        .join(SourceExtraction, SourceExtraction.source_id == Source.id)
        .where(SourceExtraction.degraded_reason.is_not(None), Source.enabled.is_(True))
        .order_by(Source.name)
    )
    return {name: reason for name, reason in rows if reason}


def _name(session: Session, source_id: int) -> str:
    source = session.get(Source, source_id)
    return source.name if source is not None else str(source_id)


def degraded_details(session: Session) -> list[tuple[str, SourceHealth]]:
    """(name, health) of the enabled sources whose extraction is degraded, by name."""
    rows = session.execute(
        select(Source.name, SourceExtraction)
        .join(SourceExtraction, SourceExtraction.source_id == Source.id)
        .where(SourceExtraction.degraded_reason.is_not(None), Source.enabled.is_(True))
        .order_by(Source.name)
    )
    return [(name, _health(row)) for name, row in rows]


def _health(row: SourceExtraction) -> SourceHealth:
    state = "degraded" if row.degraded_reason else "ok"
    seen = breakage.Stats.from_json(row.stats).seen
    return SourceHealth(state, row.degraded_reason, row.degraded_since, row.held or 0, seen)
