"""The outbox: alert events written in the transaction of the story or version that causes
them, and the deliveries that carry them (claimed, recorded, listed, retried).

Exactly once per rule and event: an event's `key` (rule, kind, story and version, or
cluster) is unique, and is inserted with ON CONFLICT DO NOTHING, so a story matching several
of a rule's topics, a second worker or a replayed pass adds nothing. A delivery's `key` is the
Idempotency-Key of every attempt: a receiver that honours it sees one message even when a
crash between sending and recording makes the job send again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from monitor import views
from monitor.deliver.format import change_summary, source_title
from monitor.deliver.rules import AlertRule, DeliveryConfig
from monitor.store import claims
from monitor.store.models import AlertAttempt, AlertDelivery, AlertEvent, Source, Story

if TYPE_CHECKING:
    from monitor.store.models import Version

BATCH_MARK = ":batch:"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _insert(session: Session) -> Any:
    """INSERT … ON CONFLICT for the session's database."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------- writing events


class Outbox:
    """Turns what the writer stores into events, for the rules of the configuration. One per
    StoryWriter; `written` counts the events it inserted (the pipeline wakes the delivery
    job when it grows, once the transaction is committed)."""

    def __init__(self, rules: Sequence[AlertRule], delivery: DeliveryConfig) -> None:
        self.rules = tuple(rules)
        self.give_up_after = delivery.give_up_after
        self.written = 0

    def story_event(
        self,
        session: Session,
        story: Story,
        kind: str,
        now: datetime,
        version: Version | None = None,
        before: Version | None = None,
    ) -> int:
        """A new story (`kind` 'new', `version` its first) or a change (a change class, the
        new version and the one it was compared with). Copies and off-topic stories never
        alert. Returns the events written."""
        if not self.rules or story.duplicate_kind is not None or story.status != "active":
            return 0
        topics = [t.topic for t in story.topics]
        wanted = [(r, m) for r in self.rules if (m := r.wants(kind, topics)) is not None]
        if not wanted:
            return 0
        common = story_payload(story, kind, now, version, before)
        suffix = "" if kind == "new" or version is None else f".{version.number}"
        written = 0
        for rule, matched in wanted:
            key = f"{rule.name}:{kind}:{story.id}{suffix}"
            payload = {"id": key, "rule": rule.name, "event": kind, "topics": list(matched)}
            written += self._add(session, rule, key, kind, story.id, payload | common, now)
        return written

    def cluster_event(self, session: Session, story: Story, now: datetime) -> int:
        """The story joined (or started) a cluster: alert the rules whose min_outlets its
        outlets now reach, once per rule and cluster."""
        rules = [r for r in self.rules if "cluster" in r.on]
        if not rules or story.cluster_id is None or story.duplicate_kind is not None:
            return 0
        topics = [t.topic for t in story.topics]
        rules = [
            r
            for r in rules
            if r.wants("cluster", topics) is not None
            and not _exists(session, f"{r.name}:cluster:{story.cluster_id}")
        ]
        if not rules:
            return 0  # (the cluster's members are read only while a rule still waits)
        members = list(
            session.scalars(
                select(Story)
                .where(Story.cluster_id == story.cluster_id, Story.status == "active")
                .where(Story.duplicate_kind.is_(None))
                .order_by(Story.first_seen_at, Story.id)
            )
        )
        outlets = list(dict.fromkeys(views.outlet(s) for s in members))
        written = 0
        for rule in rules:
            key = f"{rule.name}:cluster:{story.cluster_id}"
            if len(outlets) < rule.min_outlets:
                continue
            payload = {
                "id": key,
                "rule": rule.name,
                "event": "cluster",
                "topics": list(rule.wants("cluster", topics) or ()),
                **story_payload(story, "cluster", now, None, None),
                "cluster": {
                    "id": story.cluster_id,
                    "outlets": outlets,
                    "stories": [s.id for s in members],
                    "count": len(members),
                },
            }
            written += self._add(session, rule, key, "cluster", story.id, payload, now)
        return written

    def source_event(
        self,
        session: Session,
        source: Source,
        kind: str,
        reason: str,
        since: datetime,
        now: datetime,
    ) -> int:
        """A source's extraction turned degraded (`kind` 'degraded') or recovered from the
        degradation that began at `since` ('recovered'): once per rule and degradation, its
        key naming the source and `since`, whatever the rules' topics (a source has none)."""
        wanted = [r for r in self.rules if r.wants_source(kind)]
        if not wanted:
            return 0
        common: dict[str, Any] = {
            "created": views.iso(now),
            "topics": [],
            "story": None,
            "source": {
                "name": source.name,
                "url": source.url,
                "reason": reason,
                "since": views.iso(since),
            },
        }
        written = 0
        for rule in wanted:
            key = f"{rule.name}:{kind}:{source.id}:{views.iso(since)}"
            payload = {"id": key, "rule": rule.name, "event": kind} | common
            written += self._add(session, rule, key, kind, None, payload, now)
        return written

    def _add(
        self,
        session: Session,
        rule: AlertRule,
        key: str,
        kind: str,
        story_id: int | None,
        payload: dict[str, Any],
        now: datetime,
    ) -> int:
        insert = _insert(session)
        delivery_id = None
        if not rule.batch:
            delivery_id = session.scalar(
                insert(AlertDelivery)
                .values(new_delivery(key, rule.name, now, self.give_up_after))
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(AlertDelivery.id)
            )
            if delivery_id is None:
                return 0  # written before (a replayed pass, another worker)
        added = session.scalar(
            insert(AlertEvent)
            .values(
                key=key,
                rule=rule.name,
                kind=kind,
                story_id=story_id,
                payload=_json(payload),
                created_at=now,
                delivery_id=delivery_id,
            )
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(AlertEvent.id)
        )
        if added is None:
            return 0
        self.written += 1
        return 1


def _exists(session: Session, key: str) -> bool:
    return session.scalar(select(AlertEvent.id).where(AlertEvent.key == key)) is not None


def new_delivery(key: str, rule: str, now: datetime, give_up_after: timedelta) -> dict[str, Any]:
    return {
        "key": key,
        "rule": rule,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "give_up_at": now + give_up_after,
    }


def story_payload(
    story: Story, kind: str, now: datetime, version: Version | None, before: Version | None
) -> dict[str, Any]:
    """The payload's `story` (the `monitor list --json` fields and `snippet`), its `diff` for a
    change (the `monitor diff --json` object with `summary` and the changed `sentences`), and
    when it happened."""
    from monitor.core.diff import compute_diff, diff_to_json, version_text
    from monitor.digest.render import plain
    from monitor.digest.snippets import lead_snippet, text_snippets

    summary = views.story_summary(story)
    shown = before if kind == "removed" else version
    summary["snippet"] = lead_snippet(shown.text if shown else "", story.title)
    out: dict[str, Any] = {"created": views.iso(now), "story": summary}
    if kind not in ("new", "cluster") and version is not None and before is not None:
        result = compute_diff(version_text(before), version_text(version))
        diff = diff_to_json(result, story.id, before.number, version.number)
        diff["change_class"] = kind
        diff["summary"] = change_summary(
            kind, diff["title_changed"], result.words_added, result.words_removed
        )
        snippets, _ = text_snippets(result.segments) if kind != "removed" else ((), 0)
        diff["sentences"] = [plain(s) for s in snippets]
        out["diff"] = diff
    return out


# ---------------------------------------------------------------- batches


def window_end(moment: datetime, window: timedelta) -> datetime:
    """The end of the batch window an event at `moment` falls in (windows are aligned)."""
    size = window.total_seconds()
    index = int((moment - _EPOCH).total_seconds() // size) + 1
    return _EPOCH + timedelta(seconds=index * size)


def gather_batches(
    session: Session, rules: Sequence[AlertRule], now: datetime, give_up_after: timedelta
) -> int:
    """Give the events of batched rules whose window has closed their delivery: one per rule
    and window, its key named after the window, so workers gathering at once agree."""
    gathered = 0
    for rule in rules:
        if not rule.batch:
            continue
        closed = window_end(now, rule.batch) - rule.batch  # events before it: window closed
        rows = session.execute(
            select(AlertEvent.id, AlertEvent.created_at)
            .where(AlertEvent.rule == rule.name, AlertEvent.delivery_id.is_(None))
            .where(AlertEvent.created_at < closed)
        ).all()
        groups: dict[datetime, list[int]] = {}
        for event_id, created in rows:
            groups.setdefault(window_end(created, rule.batch), []).append(event_id)
        for end, ids in sorted(groups.items()):
            key = f"{rule.name}{BATCH_MARK}{views.iso(end)}"
            session.execute(
                _insert(session)(AlertDelivery)
                .values(new_delivery(key, rule.name, now, give_up_after))
                .on_conflict_do_nothing(index_elements=["key"])
            )
            delivery_id = session.scalar(select(AlertDelivery.id).where(AlertDelivery.key == key))
            gathered += len(
                session.scalars(
                    update(AlertEvent)
                    .where(AlertEvent.id.in_(ids), AlertEvent.delivery_id.is_(None))
                    .values(delivery_id=delivery_id)
                    .returning(AlertEvent.id)
                    .execution_options(synchronize_session=False)
                ).all()
            )
    return gathered


# ---------------------------------------------------------------- the delivery job's side


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery leased to this worker, with what it carries."""

    id: int
    key: str
    rule: str
    attempts: int
    events: tuple[dict[str, Any], ...]

    @property
    def batched(self) -> bool:
        return BATCH_MARK in self.key


def claim_due(
    session: Session, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[Claimed]:
    """Lease up to `limit` due deliveries (the claim helper: never two workers one row)."""
    won = claims.claim(
        session,
        AlertDelivery,
        [AlertDelivery.state == "pending", AlertDelivery.next_attempt_at <= now],
        owner=owner,
        now=now,
        until=now + lease,
        order_by=[AlertDelivery.next_attempt_at, AlertDelivery.id],
        limit=limit,
        returning=[AlertDelivery.key, AlertDelivery.rule, AlertDelivery.attempts],
    )
    if not won:
        return []
    rows: list[tuple[Any, ...]] = [tuple(row) for row in won]
    payloads: dict[int, list[dict[str, Any]]] = {row[0]: [] for row in rows}
    for delivery_id, payload in session.execute(
        select(AlertEvent.delivery_id, AlertEvent.payload)
        .where(AlertEvent.delivery_id.in_(list(payloads)))
        .order_by(AlertEvent.id)
    ):
        if delivery_id is not None:
            payloads[delivery_id].append(json.loads(payload))
    return [Claimed(r[0], r[1], r[2], r[3], tuple(payloads[r[0]])) for r in rows]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt gave."""

    ok: bool
    status: int | None = None  # the HTTP status, when there was one
    error: str | None = None
    retry_after: float | None = None  # seconds the channel asked to wait
    duration: float = 0.0
    permanent: bool = False  # retrying cannot help (the rule is gone from the config)


def record_attempt(
    session: Session,
    claimed: Claimed,
    outcome: Outcome,
    owner: str,
    now: datetime,
    next_attempt: Callable[[int, float | None], datetime],
) -> str:
    """Record an attempt and the delivery's new state: 'delivered', 'pending' (retried at
    `next_attempt(attempts, retry_after)`) or 'failed' (past its give_up_at). Returns it."""
    session.add(
        AlertAttempt(
            delivery_id=claimed.id,
            at=now,
            duration=outcome.duration,
            status=outcome.status,
            error=outcome.error,
        )
    )
    row = session.get(AlertDelivery, claimed.id)
    if row is None:
        return "gone"
    row.attempts += 1
    row.last_status = outcome.status
    row.last_error = outcome.error
    if row.lease_owner == owner:
        row.lease_owner = row.lease_expires_at = None
    if row.state != "pending":
        return row.state
    if outcome.ok:
        row.state = "delivered"
        row.delivered_at = now
        row.next_attempt_at = None
        return row.state
    following = next_attempt(row.attempts, outcome.retry_after)
    if outcome.permanent or following > row.give_up_at:
        row.state = "failed"
        row.next_attempt_at = None
    else:
        row.next_attempt_at = following
    return row.state


def release(session: Session, owner: str) -> None:
    """Give back the deliveries this worker still holds (at shutdown)."""
    session.execute(
        update(AlertDelivery)
        .where(AlertDelivery.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )


def next_due(session: Session) -> datetime | None:
    """When the next pending delivery can be claimed: its next attempt, or the end of the
    lease another worker holds on it (the job sleeps until then at most)."""
    rows = session.execute(
        select(AlertDelivery.next_attempt_at, AlertDelivery.lease_expires_at)
        .where(AlertDelivery.state == "pending")
        .order_by(AlertDelivery.next_attempt_at)
        .limit(100)
    ).all()
    times = [max(t for t in row if t is not None) for row in rows if row[0] is not None]
    return min(times, default=None)


# ---------------------------------------------------------------- what people read and do


def counts(session: Session) -> dict[str, int]:
    """Deliveries by state ('pending', 'delivered', 'failed'), and events waiting for a
    batch window ('batching')."""
    found = {"pending": 0, "delivered": 0, "failed": 0}
    for state, n in session.execute(
        select(AlertDelivery.state, func.count()).group_by(AlertDelivery.state)
    ):
        found[state] = int(n)
    found["batching"] = int(
        session.scalar(
            select(func.count()).select_from(AlertEvent).where(AlertEvent.delivery_id.is_(None))
        )
        or 0
    )
    return found


def listing(
    session: Session, state: str | None, limit: int
) -> list[tuple[AlertDelivery, list[AlertEvent]]]:
    """The newest deliveries (of one state), each with its events."""
    query = select(AlertDelivery).order_by(AlertDelivery.id.desc()).limit(limit)
    if state is not None:
        query = query.where(AlertDelivery.state == state)
    rows = list(session.scalars(query))
    events: dict[int, list[AlertEvent]] = {row.id: [] for row in rows}
    if rows:
        for event in session.scalars(
            select(AlertEvent)
            .where(AlertEvent.delivery_id.in_(list(events)))
            .order_by(AlertEvent.id)
        ):
            assert event.delivery_id is not None
            events[event.delivery_id].append(event)
    return [(row, events[row.id]) for row in rows]


def retry(
    session: Session, ids: Sequence[int] | None, now: datetime, give_up_after: timedelta
) -> list[int]:
    """Make failed deliveries (these, or all with None) pending again, due now, with a new
    give_up_after. Returns the ids made pending; a delivered or pending one is left alone."""
    wanted = [AlertDelivery.state == "failed"]
    if ids is not None:
        wanted.append(AlertDelivery.id.in_(list(ids)))
    done = session.scalars(
        update(AlertDelivery)
        .where(*wanted)
        .values(
            state="pending",
            next_attempt_at=now,
            give_up_at=now + give_up_after,
            lease_owner=None,
            lease_expires_at=None,
        )
        .returning(AlertDelivery.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(done)


def delivery_summary(row: AlertDelivery, events: Sequence[AlertEvent]) -> dict[str, Any]:
    """One row of `monitor alerts --json`."""
    shown = []
    for event in events:
        payload = json.loads(event.payload)
        story = payload.get("story") or {}
        source = payload.get("source") or {}
        title = story.get("title") or source_title(event.kind, source.get("name"))
        shown.append({"id": event.id, "event": event.kind, "story": event.story_id, "title": title})
    return {
        "id": row.id,
        "key": row.key,
        "rule": row.rule,
        "state": row.state,
        "attempts": row.attempts,
        "created": views.iso(row.created_at),
        "next_attempt": views.iso(row.next_attempt_at),
        "delivered": views.iso(row.delivered_at),
        "give_up_at": views.iso(row.give_up_at),
        "last_status": row.last_status,
        "last_error": row.last_error,
        "events": shown,
    }
