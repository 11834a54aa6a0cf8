"""The tables. All scheduling state lives here, so a restart resumes where it stopped."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from monitor.core.dates import as_utc

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware datetimes")
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value)  # SQLite gives back the naive UTC it was given


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Source(Base):
    """A configured source and its polling state (the config is synced into it at start)."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_poll_at: Mapped[datetime | None] = mapped_column(index=True)
    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    # What was wrong with the feed the last time it was read anyway (one line), else None.
    warning: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Seed(Base):
    """A seed article: copies of it are recognised and not reported as new."""

    __tablename__ = "seeds"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64), index=True)
    scheme: Mapped[str] = mapped_column(String(40))
    loaded_at: Mapped[datetime]


class Story(Base):
    """One article at one canonical URL; its text lives in its versions."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("sources.id", ondelete="SET NULL"), index=True
    )
    first_seen_at: Mapped[datetime] = mapped_column(index=True)
    # 'active': on topic, listed and re-checked; 'offtopic': remembered only; 'failed':
    # the article could not be fetched (retried on a later poll).
    status: Mapped[str] = mapped_column(String(20), default="active", index=True)
    title: Mapped[str] = mapped_column(Text, default="")
    # The publication as it names itself (og:site_name, JSON-LD publisher, the feed's title)
    outlet: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]
    version_count: Mapped[int] = mapped_column(Integer, default=0)
    last_changed_at: Mapped[datetime | None] = mapped_column(index=True)
    change_class: Mapped[str | None] = mapped_column(String(10), index=True)  # of the latest
    last_checked_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime | None] = mapped_column(index=True)
    recheck_step: Mapped[int] = mapped_column(Integer, default=0)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    text_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # The monitor.core.fingerprint.SCHEME of its LSH band hashes; None when it has none (a
    # duplicate, an off-topic or a watched story). Another scheme means: compute them again.
    fingerprint_scheme: Mapped[str | None] = mapped_column(String(60))
    duplicate_kind: Mapped[str | None] = mapped_column(String(10))
    duplicate_of_seed_id: Mapped[str | None] = mapped_column(
        ForeignKey("seeds.id", ondelete="SET NULL")
    )
    duplicate_of_story_id: Mapped[int | None] = mapped_column(
        ForeignKey("stories.id", ondelete="SET NULL")
    )
    similarity: Mapped[float | None] = mapped_column(Float)
    # The coverage cluster: the id of its first story (monitor.core.clusters); None for duplicates.
    cluster_id: Mapped[int | None] = mapped_column(Integer, index=True)
    cluster_terms: Mapped[list[str] | None] = mapped_column(JSON)
    # A rel=canonical (or og:url) on another registrable domain (a syndication partner's
    # original): recorded, never adopted as the story's URL (monitor.core.decide.story_urls).
    canonical_hint: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]

    source: Mapped[Source | None] = relationship(lazy="joined")
    topics: Mapped[list[StoryTopic]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="StoryTopic.topic"
    )


class StoryAlias(Base):
    """Every URL a story was seen at, keyed so AMP, mobile and print variants meet.

    The story's own URL is one of them; `monitor show` lists the others.
    """

    __tablename__ = "story_aliases"

    key: Mapped[str] = mapped_column(String(2000), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)


class LinkFailure(Base):
    """A story link whose fetch failed: not fetched again until `next_attempt_at`.

    Without it, a feed that keeps listing a page that answers 404 or 403 would have it
    fetched at every poll. Forgotten when the page is stored, or by housekeeping once it
    has not been tried for `service.keep_polls` (it has left the feed).
    """

    __tablename__ = "link_failures"

    key: Mapped[str] = mapped_column(String(2000), primary_key=True)  # urls.identity_key
    url: Mapped[str] = mapped_column(Text)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    failures: Mapped[int] = mapped_column(Integer)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text)
    last_failed_at: Mapped[datetime] = mapped_column(index=True)
    next_attempt_at: Mapped[datetime]
    # A page that crashed the extraction process: not fetched again until someone looks.
    # A page that killed the extraction process (monitor.pipeline.pool) twice is quarantined:
    # not fetched again until housekeeping forgets it.
    quarantined: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    crashes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class StoryTopic(Base):
    __tablename__ = "story_topics"

    story_id: Mapped[int] = mapped_column(
        ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)
    terms: Mapped[list[str]] = mapped_column(JSON)
    # Why it matched (monitor.core.topics.TopicMatch): "keywords" (also when None: stored
    # before queries existed), "query", or "like" with the closest example and its score.
    matched_by: Mapped[str | None] = mapped_column(String(10))
    example: Mapped[str | None] = mapped_column(String(300))
    score: Mapped[float | None] = mapped_column(Float)


class TopicState(Base):
    """The rules each topic's stored stories were last matched with (config.TopicConfig
    .rules_hash): when they change, stories are matched again at the next start."""

    __tablename__ = "topic_states"

    topic: Mapped[str] = mapped_column(String(200), primary_key=True)
    rules_hash: Mapped[str] = mapped_column(String(64))
    evaluated_at: Mapped[datetime]


class Version(Base):
    """What a story said at one fetch. Version 1 is the first fetch."""

    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("story_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    fetched_at: Mapped[datetime] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(Text)
    byline: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]
    canonical_url: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    raw_html: Mapped[bytes | None] = mapped_column(LargeBinary)  # zlib-compressed
    # How the response was read: its Content-Type charset (None: the header named none) and
    # the URL it ended at after redirects, so `monitor reextract` decodes and resolves the
    # stored bytes exactly as the pipeline did. None in versions stored before 0011.
    charset: Mapped[str | None] = mapped_column(String(40))
    final_url: Mapped[str | None] = mapped_column(Text)
    # How this version differs from the one before (None for version 1): see monitor.core.changes.
    change_class: Mapped[str | None] = mapped_column(String(10))
    words_added: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    words_removed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class FingerprintBand(Base):
    """LSH band hashes: candidates for a near-duplicate are a few indexed lookups."""

    __tablename__ = "fingerprint_bands"
    __table_args__ = (Index("ix_fingerprint_bands_band_hash", "band", "hash"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    band: Mapped[int] = mapped_column(SmallInteger)
    hash: Mapped[int] = mapped_column(BigInteger)
    seed_id: Mapped[str | None] = mapped_column(
        ForeignKey("seeds.id", ondelete="CASCADE"), index=True
    )
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("stories.id", ondelete="CASCADE"), index=True
    )


class Poll(Base):
    """One fetch of one source: the log `monitor sources` and `status` read."""

    __tablename__ = "polls"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(index=True)
    duration: Mapped[float] = mapped_column(Float)
    status: Mapped[int | None] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer, default=0)
    entries: Mapped[int] = mapped_column(Integer, default=0)
    new_stories: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class DigestRecord(Base):
    """One digest: one recipient, one period. Written before and after sending, so a
    crash, a restart or a second worker never sends a period twice (monitor.digest.run).

    state: 'pending' (not tried yet) → 'sending' (the message is being handed to the
    server: never retried, as it may have arrived) → 'sent'; 'failed' (retried at
    next_attempt_at, or given up when that is null); 'skipped' (nothing to report).
    """

    __tablename__ = "digests"
    __table_args__ = (
        UniqueConstraint("recipient", "period_end"),
        Index("ix_digests_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    message_id: Mapped[str] = mapped_column(String(250))
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class AlertDelivery(Base):
    """One message to one rule's channel: one event, or a rule's batch of a window.

    state: 'pending' (due at next_attempt_at; a worker holding the lease is sending it) →
    'delivered', or 'failed' once retrying for [delivery] give_up_after did not deliver it.
    `key` is the Idempotency-Key and the payload's `id`: the same for every attempt.
    """

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        Index("ix_alert_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    rule: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    give_up_at: Mapped[datetime]  # created_at (or the last `monitor alerts retry`) + give_up_after
    delivered_at: Mapped[datetime | None]


class AlertEvent(Base):
    """What a rule alerts on: a new story, a version with its change class, a cluster reaching
    a rule's min_outlets. Written in the transaction of the story or version that causes it;
    `key` (rule, kind, story and version, or cluster) makes it once per rule and event.
    `payload` is the webhook JSON of the event, fixed when it happened."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    rule: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("stories.id", ondelete="SET NULL"), index=True
    )
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)
    # None for a batched rule's event until its window closes and a delivery gathers it.
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("alert_deliveries.id", ondelete="CASCADE"), index=True
    )


class AlertAttempt(Base):
    """One try of a delivery: when, how long, what came back."""

    __tablename__ = "alert_attempts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("alert_deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    duration: Mapped[float] = mapped_column(Float)
    status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class SourceExtraction(Base):
    """What extraction returns for a source's pages, rolling (monitor.core.breakage), and
    whether it is degraded now: `degraded_reason` is one line, None while it is healthy."""

    __tablename__ = "source_extraction"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    stats: Mapped[dict[str, Any]] = mapped_column(JSON)  # monitor.core.breakage.Stats
    degraded_reason: Mapped[str | None] = mapped_column(Text)
    degraded_since: Mapped[datetime | None]
    held: Mapped[int] = mapped_column(Integer, default=0)  # its held checks waiting
    updated_at: Mapped[datetime]


class HeldCheck(Base):
    """A re-check that would have written a version while its source's extraction was
    degraded: kept (the response as fetched) instead of written, and evaluated again when
    extraction recovers or `monitor reextract` runs (monitor.pipeline.held)."""

    __tablename__ = "held_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("sources.id", ondelete="SET NULL"), index=True
    )
    fetched_at: Mapped[datetime]
    status: Mapped[int] = mapped_column(Integer)
    final_url: Mapped[str] = mapped_column(Text)
    charset: Mapped[str | None] = mapped_column(String(40))
    raw_html: Mapped[bytes] = mapped_column(LargeBinary)  # zlib-compressed
    # 'suspect': this page alone looked broken (written once the source's window has moved
    # past it without an alarm); 'degraded': held while its source was degraded (written
    # only if extraction now reads it soundly).
    kind: Mapped[str] = mapped_column(String(10))
    seq: Mapped[int] = mapped_column(Integer)  # the source's pages seen when it was held
    reason: Mapped[str] = mapped_column(Text)  # why it was held, one line
