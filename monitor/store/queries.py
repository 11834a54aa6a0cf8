"""The queries: claims, upserts and listings. Each takes the caller's session."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Executable,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from monitor.store import claims
from monitor.store.extraction import degraded as degraded_extraction
from monitor.store.models import (
    FingerprintBand,
    LinkFailure,
    Poll,
    Seed,
    Source,
    Story,
    StoryAlias,
    StoryTopic,
    Version,
)
from monitor.store.reads import by_cluster
from monitor.store.records import ListFilter as ListFilter
from monitor.store.records import PollHealth as PollHealth
from monitor.store.records import Status as Status
from monitor.store.records import Waiting as Waiting

# ---------------------------------------------------------------- sources


@dataclass(frozen=True, slots=True)
class SourceSpec:
    name: str
    kind: str
    url: str
    enabled: bool


SYNC_LOCK = 7_265_727  # an arbitrary key for PostgreSQL's advisory lock


def lock_for_sync(session: Session) -> None:
    """Workers starting together sync the config one after the other (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(SYNC_LOCK)))


def sync_sources(session: Session, specs: Sequence[SourceSpec], now: datetime) -> None:
    """Make the sources table match the config; a source no longer configured is disabled."""
    existing = {s.name: s for s in session.scalars(select(Source))}
    for spec in specs:
        row = existing.pop(spec.name, None)
        if row is None:
            session.add(
                Source(
                    name=spec.name,
                    kind=spec.kind,
                    url=spec.url,
                    enabled=spec.enabled,
                    next_poll_at=now,
                    consecutive_failures=0,
                    created_at=now,
                )
            )
            continue
        if row.url != spec.url or row.kind != spec.kind:
            row.url, row.kind = spec.url, spec.kind
            row.etag = row.last_modified = None
            row.next_poll_at = now
        row.enabled = spec.enabled
    for row in existing.values():
        row.enabled = False


class ClaimedSource(NamedTuple):
    """What a poll needs of a source it has leased."""

    id: int
    name: str
    kind: str
    url: str
    etag: str | None
    last_modified: str | None
    consecutive_failures: int


def claim_sources(
    session: Session,
    due_by: datetime,
    owner: str,
    lease: timedelta,
    names: Sequence[str] | None = None,
    limit: int = 1000,
    *,
    now: datetime | None = None,
) -> list[ClaimedSource]:
    """Lease the sources due by `due_by` (or the named ones) to `owner`, most overdue first;
    others skip what is leased until the lease expires. The state returned is the one the
    claim saw, so a poll sends the validators of the last poll, whoever made it."""
    now = now or due_by
    fields = [getattr(Source, name) for name in ClaimedSource._fields]
    won = claims.claim(
        session,
        Source,
        [_due(due_by, names)],
        owner=owner,
        now=now,
        until=now + lease,
        order_by=[Source.next_poll_at, Source.id],
        limit=limit,
        returning=fields[1:],  # the id comes first anyway
    )
    return [ClaimedSource._make(row) for row in won]


def count_due_sources(session: Session, now: datetime, names: Sequence[str] | None) -> int:
    query = select(func.count()).select_from(Source).where(_due(now, names))
    return int(session.scalar(query) or 0)


def _due(due_by: datetime, names: Sequence[str] | None) -> ColumnElement[bool]:
    """The named sources, whatever their schedule; else the enabled ones due by `due_by`."""
    if names:
        return Source.name.in_(names)
    return and_(
        Source.enabled.is_(True),
        or_(Source.next_poll_at.is_(None), Source.next_poll_at <= due_by),
    )


def sources_with_story_counts(session: Session) -> list[tuple[Source, int]]:
    """Every source, with how many listed (on-topic) stories came from it."""
    counts = (
        select(Story.source_id, func.count().label("n"))
        .where(Story.status == "active")
        .group_by(Story.source_id)
        .subquery()
    )
    query = (
        select(Source, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.source_id == Source.id)
        .order_by(Source.name)
    )
    return [(source, int(n)) for source, n in session.execute(query)]


def prune_polls(session: Session, before: datetime) -> int:
    """Forget poll records older than `before` (housekeeping); returns how many."""
    result = session.execute(delete(Poll).where(Poll.started_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------- failed links


@dataclass(frozen=True, slots=True)
class FailedLink:
    key: str  # urls.identity_key of the link
    url: str
    status: int | None
    error: str
    retry_after: float | None  # seconds the server asked for (Retry-After)
    crashed: bool = False  # the page killed or hung an extraction process


QUARANTINE_AFTER_CRASHES = 2
QUARANTINE = timedelta(days=3650)  # "never", until housekeeping forgets the row


def link_failures(session: Session, keys: Iterable[str]) -> dict[str, datetime]:
    """Which of these link keys failed before: key → when it may be fetched again."""
    wanted = list(dict.fromkeys(keys))
    found: dict[str, datetime] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        query = select(LinkFailure.key, LinkFailure.next_attempt_at).where(
            LinkFailure.key.in_(chunk)
        )
        found.update((key, when) for key, when in session.execute(query))
    return found


def record_link_failures(
    session: Session,
    failed: Sequence[FailedLink],
    source_id: int,
    now: datetime,
    next_attempt: Callable[[int, float | None], datetime],
) -> set[str]:
    """Count one more failure for each link; `next_attempt(failures, retry_after)` says when
    it may be fetched again. A link whose page crashed the extraction process
    QUARANTINE_AFTER_CRASHES times is quarantined instead. Two workers failing on one link
    at once both count: harmless. Returns the keys now quarantined (a held re-check of the
    page is then given up)."""
    if not failed:
        return set()
    query = select(LinkFailure.key, LinkFailure.failures, LinkFailure.crashes).where(
        LinkFailure.key.in_([link.key for link in failed])
    )
    counts = {key: (failures, crashes) for key, failures, crashes in session.execute(query)}
    rows = []
    quarantine: set[str] = set()
    for link in {link.key: link for link in failed}.values():
        failures, crashes = counts.get(link.key, (0, 0))
        failures += 1
        crashes += int(link.crashed)
        quarantined = crashes >= QUARANTINE_AFTER_CRASHES
        if quarantined:
            quarantine.add(link.key)
        rows.append(
            {
                "key": link.key,
                "url": link.url,
                "source_id": source_id,
                "failures": failures,
                "last_status": link.status,
                "last_error": link.error,
                "last_failed_at": now,
                "next_attempt_at": now + QUARANTINE
                if quarantined
                else next_attempt(failures, link.retry_after),
                "crashes": crashes,
                "quarantined": quarantined,
            }
        )
    upsert = _dialect_insert(session)(LinkFailure).values(rows)
    session.execute(
        upsert.on_conflict_do_update(
            index_elements=[LinkFailure.key],
            set_={name: upsert.excluded[name] for name in rows[0] if name != "key"},
        )
    )
    return quarantine


def forget_link_failures(
    session: Session, keys: Iterable[str], *, error_prefix: str | None = None
) -> None:
    """Forget these links' failures; with `error_prefix`, only a row whose last error starts
    with it (a held re-check's crash, forgotten once the page is read: the row is its own)."""
    query = delete(LinkFailure).where(LinkFailure.key.in_(list(keys)))
    if error_prefix is not None:
        query = query.where(LinkFailure.last_error.startswith(error_prefix, autoescape=True))
    session.execute(query)


def prune_link_failures(session: Session, before: datetime) -> int:
    """Forget links not tried since `before` (housekeeping): they have left their feeds."""
    result = session.execute(delete(LinkFailure).where(LinkFailure.last_failed_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def link_failure_rows(session: Session) -> list[tuple[LinkFailure, str | None]]:
    """Every failed story link with the name of the source that listed it, next attempt first."""
    query = (
        select(LinkFailure, Source.name)
        .outerjoin(Source, Source.id == LinkFailure.source_id)
        .order_by(LinkFailure.next_attempt_at, LinkFailure.key)
    )
    return [(row, name) for row, name in session.execute(query)]


def failing_links(session: Session, now: datetime) -> int:
    """Links waiting for another attempt after failing (`monitor status`)."""
    query = select(func.count()).select_from(LinkFailure).where(LinkFailure.next_attempt_at > now)
    return int(session.scalar(query) or 0)


def _dialect_insert(session: Session) -> Any:
    """INSERT with ON CONFLICT for the session's database (SQLite or PostgreSQL); imported
    here because the PostgreSQL dialect is a large import that the read commands never need."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def status(session: Session, now: datetime, grace: timedelta) -> Status:
    """What `monitor status` reports: is polling healthy, what is behind."""
    enabled = list(session.scalars(select(Source).where(Source.enabled.is_(True))))
    due_checks = session.scalar(
        select(func.count())
        .select_from(Story)
        .where(Story.status == "active", Story.next_check_at <= now)
    )
    stories = session.scalar(
        select(func.count()).select_from(Story).where(Story.status == "active")
    )
    successes = [s.last_success_at for s in enabled if s.last_success_at is not None]
    return Status(
        last_success=max(successes, default=None),
        sources=len(enabled),
        failing=sorted(s.name for s in enabled if s.consecutive_failures > 0),
        overdue=sorted(
            s.name for s in enabled if s.next_poll_at is not None and s.next_poll_at < now - grace
        ),
        stories=int(stories or 0),
        awaiting_recheck=int(due_checks or 0),
        links_failing=failing_links(session, now),
        warning=sum(1 for s in enabled if s.warning),
    )


def poll_health(session: Session, since: datetime) -> PollHealth:
    """Three queries: the enabled sources, the polls started since `since` (a range of the
    `started_at` index), and the sources whose extraction is degraded."""
    enabled, first, last = session.execute(
        select(func.count(), func.min(Source.created_at), func.max(Source.last_success_at)).where(
            Source.enabled.is_(True)
        )
    ).one()
    polls, failed = session.execute(
        select(func.count(), func.count(Poll.error)).where(Poll.started_at >= since)
    ).one()
    return PollHealth(
        int(enabled), first, last, int(polls), int(failed), degraded_extraction(session)
    )


def release_leases(session: Session, owner: str) -> None:
    """Give back every source and story this worker still holds (at shutdown)."""
    for model in (Source, Story):
        session.execute(
            update(model)
            .where(model.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )


# ---------------------------------------------------------------- seeds


def seeds_by_id(session: Session) -> dict[str, Seed]:
    return {seed.id: seed for seed in session.scalars(select(Seed))}


def replace_bands(
    session: Session,
    bands: Iterable[int],
    *,
    seed_id: str | None = None,
    story_id: int | None = None,
    new: bool = False,
) -> None:
    """Store an owner's LSH band hashes, replacing what it had (`new`: an owner made in this
    transaction, which has none yet)."""
    # Core statements on the session's connection: no ORM object is ever made of a band, so
    # the ORM's bulk paths (which cost more than the statements) have nothing to keep in step.
    session.flush()  # the owner's row exists before its bands point at it
    connection = session.connection()
    table = cast(Table, FingerprintBand.__table__)
    if seed_id is not None and not new:
        connection.execute(delete(table).where(table.c.seed_id == seed_id))
    if story_id is not None and not new:
        connection.execute(delete(table).where(table.c.story_id == story_id))
    rows = [
        {"band": index, "hash": value, "seed_id": seed_id, "story_id": story_id}
        for index, value in enumerate(bands)
    ]
    if rows:  # one executemany, not an ORM object per band
        connection.execute(insert(table), rows)


@dataclass(frozen=True, slots=True)
class Candidate:
    seed_id: str | None
    story_id: int | None
    shared_bands: int


def band_candidates(session: Session, bands: Sequence[int], limit: int = 50) -> list[Candidate]:
    """Seeds and stories sharing at least one LSH band with these: a few indexed lookups."""
    if not bands:
        return []
    params: dict[str, int] = {"limit": limit}
    for band, value in enumerate(bands):
        params[f"h{band}"] = value
    rows = session.execute(_band_query(len(bands)), params)
    return [Candidate(seed, story, count) for seed, story, count in rows]


_BAND_QUERIES: dict[int, Executable] = {}


def _band_query(bands: int) -> Executable:
    """The look-up for this many bands, built once: building the expression for each story
    cost more than running it. Band i's hash is the parameter h<i>."""
    found = _BAND_QUERIES.get(bands)
    if found is None:
        shared = func.count().label("shared")
        # One (band = i AND hash = h) test per band: SQLite turns this into one index search
        # per band, where it would scan the whole table for a row-value IN list.
        matches = or_(
            *(
                and_(FingerprintBand.band == band, FingerprintBand.hash == bindparam(f"h{band}"))
                for band in range(bands)
            )
        )
        query = (
            select(FingerprintBand.seed_id, FingerprintBand.story_id, shared)
            .where(matches)
            .group_by(FingerprintBand.seed_id, FingerprintBand.story_id)
            .order_by(shared.desc())
            .limit(bindparam("limit"))
        )
        _BAND_QUERIES[bands] = found = query
    return found


def with_text_hash(
    session: Session, text_hash: str, exclude_id: int | None
) -> tuple[str | None, int | None]:
    """A seed with this text hash, and the first story that is no copy with it (other than
    `exclude_id`), in one query."""
    seed = select(Seed.id).where(Seed.text_hash == text_hash).limit(1).scalar_subquery()
    story = select(Story.id).where(Story.text_hash == text_hash, Story.duplicate_kind.is_(None))
    if exclude_id is not None:
        story = story.where(Story.id != exclude_id)
    first = story.order_by(Story.id).limit(1).scalar_subquery()
    row = session.execute(select(seed, first)).one()
    return row[0], row[1]


def latest_content_hashes(session: Session, story_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """{story: (number, content hash)} of these stories' latest versions."""
    rows = session.execute(
        select(Version.story_id, Version.number, Version.content_hash)
        .where(Version.story_id.in_(list(set(story_ids))))
        .order_by(Version.story_id, Version.number)
    )
    return {story_id: (number, content) for story_id, number, content in rows}


def version_texts(
    session: Session, versions: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], str]:
    """{(story, number): text} of these versions."""
    if not versions:
        return {}
    wanted = or_(*(and_(Version.story_id == s, Version.number == n) for s, n in versions))
    rows = session.execute(select(Version.story_id, Version.number, Version.text).where(wanted))
    return {(story_id, number): text for story_id, number, text in rows}


# ---------------------------------------------------------------- stories


def known_keys(session: Session, keys: Iterable[str]) -> set[str]:
    """Which of these identity keys (monitor.core.urls.identity_key) a story already has."""
    wanted = list(dict.fromkeys(keys))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(session.scalars(select(StoryAlias.key).where(StoryAlias.key.in_(chunk))))
    return found


def story_by_keys(session: Session, keys: Iterable[str]) -> Story | None:
    story_id = session.scalars(
        select(StoryAlias.story_id).where(StoryAlias.key.in_(list(keys))).limit(1)
    ).first()
    return session.get(Story, story_id) if story_id is not None else None


def add_aliases(
    session: Session, story_id: int, urls: dict[str, str], *, unknown: bool = False
) -> None:
    """Register {key: url} for the story, skipping keys already registered (`unknown`: the
    caller has just found none of them in this transaction)."""
    known = set() if unknown else known_keys(session, urls)
    session.add_all(
        StoryAlias(key=key, url=url, story_id=story_id)
        for key, url in urls.items()
        if key not in known
    )


def aliases(session: Session, story_id: int) -> list[str]:
    return list(
        session.scalars(
            select(StoryAlias.url).where(StoryAlias.story_id == story_id).order_by(StoryAlias.url)
        )
    )


def latest_version(session: Session, story_id: int) -> Version | None:
    return session.scalars(
        select(Version).where(Version.story_id == story_id).order_by(Version.number.desc()).limit(1)
    ).first()


def latest_content_version(session: Session, story_id: int, below: int) -> Version | None:
    """The newest version before `below` that is not a removal: what a change is compared to."""
    return session.scalars(
        select(Version)
        .where(
            Version.story_id == story_id,
            Version.number < below,
            or_(Version.change_class.is_(None), Version.change_class != "removed"),
        )
        .order_by(Version.number.desc())
        .limit(1)
    ).first()


def version(session: Session, story_id: int, number: int) -> Version | None:
    return session.scalars(
        select(Version).where(Version.story_id == story_id, Version.number == number)
    ).first()


def versions(session: Session, story_id: int) -> list[Version]:
    return list(
        session.scalars(
            select(Version).where(Version.story_id == story_id).order_by(Version.number)
        )
    )


def claim_due_stories(
    session: Session,
    due_by: datetime,
    owner: str,
    lease: timedelta,
    limit: int = 500,
    *,
    now: datetime | None = None,
) -> list[Story]:
    """Lease the stories whose re-check is due by `due_by`, most overdue first."""
    now = now or due_by
    won = claims.claim(
        session,
        Story,
        [Story.status == "active", Story.next_check_at <= due_by],
        owner=owner,
        now=now,
        until=now + lease,
        order_by=[Story.next_check_at, Story.id],
        limit=limit,
    )
    if not won:
        return []
    ids = [row.id for row in won]
    loaded = session.scalars(
        select(Story).where(Story.id.in_(ids)).execution_options(populate_existing=True)
    )
    by_id = {story.id: story for story in loaded}
    return [by_id[story_id] for story_id in ids]


def clusters(session: Session, stories: Sequence[Story]) -> dict[int, list[Story]]:
    """The listed stories grouped by cluster, each group in order of first sight."""
    return by_cluster(stories)


# ---------------------------------------------------------------- listings


def list_stories(session: Session, flt: ListFilter) -> list[Story]:
    """On-topic stories first seen (new) or changed (changed) since the cut-off."""
    query = list_query(flt).order_by(listing_order().desc(), Story.id.desc())
    if flt.limit:
        query = query.limit(flt.limit)
    return list(session.scalars(query))


def listing_order() -> ColumnElement[Any]:
    """What listings sort on, newest first: the last change, else the first sight."""
    return func.coalesce(Story.last_changed_at, Story.first_seen_at)


def list_query(flt: ListFilter) -> Select[Story]:
    """The stories `list_stories` lists, unordered: the web view adds its own filters."""
    query = select(Story).where(Story.status == "active")
    windows = []
    if flt.new:
        windows.append(Story.first_seen_at >= flt.since if flt.since else Story.id.is_not(None))
    if flt.changed:
        windows.append(
            and_(
                Story.version_count > 1,
                Story.last_changed_at >= flt.since if flt.since else Story.id.is_not(None),
            )
        )
    if flt.removed:
        windows.append(
            and_(
                Story.change_class == "removed",
                Story.last_changed_at >= flt.since if flt.since else Story.id.is_not(None),
            )
        )
    query = query.where(or_(*windows))
    if not flt.include_duplicates:
        query = query.where(Story.duplicate_kind.is_(None))
    if flt.topics:
        query = query.where(
            Story.id.in_(select(StoryTopic.story_id).where(StoryTopic.topic.in_(flt.topics)))
        )
    return query


def topic_names(session: Session) -> set[str]:
    """Topics stories are stored under (a renamed topic's old name is still listable)."""
    return set(session.scalars(select(StoryTopic.topic).distinct()))


def missing_story_ids(session: Session, ids: Iterable[int]) -> list[int]:
    """Those of `ids` that name no story, in order: a command refuses them up front."""
    wanted = list(dict.fromkeys(ids))
    found = set(session.scalars(select(Story.id).where(Story.id.in_(wanted))))
    return [story_id for story_id in wanted if story_id not in found]


def waiting(session: Session) -> Waiting:
    enabled = Source.enabled.is_(True)
    total, failing, next_poll = session.execute(
        select(
            func.count(),
            func.count().filter(Source.consecutive_failures > 0),
            func.min(Source.next_poll_at),
        ).where(enabled)
    ).one()
    return Waiting(int(total or 0), int(failing or 0), next_poll)


def next_source_due(session: Session, now: datetime) -> datetime | None:
    """When the next enabled source that no worker holds falls due (the service wakes then,
    so a source is polled on time rather than at the next tick)."""
    return session.scalar(
        select(func.min(Source.next_poll_at)).where(
            Source.enabled.is_(True), claims.lease_free(Source, now)
        )
    )


def seed_copies(session: Session) -> list[tuple[Seed, int]]:
    """Every loaded seed, with how many stored stories were found to be copies of it."""
    counts = (
        select(Story.duplicate_of_seed_id, func.count().label("n"))
        .where(Story.duplicate_kind == "seed")
        .group_by(Story.duplicate_of_seed_id)
        .subquery()
    )
    query = (
        select(Seed, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.duplicate_of_seed_id == Seed.id)
        .order_by(Seed.id)
    )
    return [(seed, int(n)) for seed, n in session.execute(query)]
