"""`monitor alerts`: list deliveries, retry failed ones, send a rule a sample message.

The CLI renders; these functions read and write the outbox, and send.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor import views
from monitor.config import Config
from monitor.deliver import outbox
from monitor.deliver.format import message_payload
from monitor.deliver.outbox import Outcome
from monitor.deliver.rules import SOURCE_KINDS, AlertRule
from monitor.deliver.send import check_rule, send
from monitor.errors import NotFoundError, UsageError
from monitor.store.models import Source, Story

LIST_LIMIT = 100


def list_deliveries(
    sessions: sessionmaker[Session], state: str | None, limit: int = LIST_LIMIT
) -> list[dict[str, Any]]:
    """The newest deliveries (of one state), as `monitor alerts --json` rows."""
    with sessions() as session:
        return [
            outbox.delivery_summary(row, events)
            for row, events in outbox.listing(session, state, limit)
        ]


def retry(
    sessions: sessionmaker[Session],
    config: Config,
    delivery_id: int | None,
    *,
    all_failed: bool,
    now: datetime,
) -> list[int]:
    """Make failed deliveries pending again; a named one that is not failed is an error."""
    if (delivery_id is None) == (not all_failed):
        raise UsageError("name one delivery (ID) or --all-failed")
    with sessions.begin() as session:
        ids = None if all_failed else [delivery_id] if delivery_id is not None else None
        done = outbox.retry(session, ids, now, config.delivery.give_up_after)
        if delivery_id is not None and not done:
            from monitor.store.models import AlertDelivery

            row = session.get(AlertDelivery, delivery_id)
            if row is None:
                raise NotFoundError(f"no alert delivery with id {delivery_id}")
            raise UsageError(f"delivery {delivery_id} is {row.state}, not failed: nothing to retry")
    return done


@dataclass(frozen=True, slots=True)
class TestResult:
    rule: str
    channel: str
    outcome: Outcome
    sample: str  # which story (or source) the sample is about


def test_rule(
    sessions: sessionmaker[Session], config: Config, name: str, now: datetime
) -> TestResult:
    """Send the rule a sample message now (outside the outbox: nothing is recorded): the
    newest story it would alert on, else a made-up one; for a rule that only alerts on
    sources' extraction, a degraded source (the first one degraded now, else a made-up one)."""
    rule = config.alert_rule(name)
    check_rule(rule, config.alerts.index(rule))
    if set(rule.on) <= SOURCE_KINDS:
        with sessions() as session:
            key = f"{rule.name}:test:{views.iso(now)}"
            payload, sample = _source_sample(session, key, rule.name, rule.on[0], now)
        return _send_sample(config, rule, key, payload, sample)
    with sessions() as session:
        payload, sample = _sample(session, rule.topics, now)
    key = f"{rule.name}:test:{views.iso(now)}"
    payload = {
        "id": key,
        "rule": rule.name,
        "event": "new",
        "topics": payload["story"]["topics"],
        **payload,
    }
    return _send_sample(config, rule, key, payload, sample)


def _send_sample(
    config: Config, rule: AlertRule, key: str, payload: dict[str, Any], sample: str
) -> TestResult:
    message = message_payload(key, rule.name, [payload], batched=False)

    async def once() -> Outcome:
        async with httpx.AsyncClient(timeout=config.delivery.timeout.total_seconds()) as client:
            return await send(client, rule, key, message)

    return TestResult(rule.name, rule.channel, asyncio.run(once()), sample)


def _sample(session: Session, topics: list[str], now: datetime) -> tuple[dict[str, Any], str]:
    query = (
        select(Story)
        .where(Story.status == "active", Story.duplicate_kind.is_(None))
        .order_by(Story.first_seen_at.desc(), Story.id.desc())
        .limit(200)
    )
    for story in session.scalars(query):
        if not topics or any(t.topic in topics for t in story.topics):
            from monitor.store import queries

            latest = queries.latest_version(session, story.id)
            return outbox.story_payload(story, "new", now, latest, None), f"story {story.id}"
    made_up = {
        "id": 0,
        "url": "https://example.org/monitor-test",
        "title": "monitor: a test alert",
        "source": None,
        "outlet": "monitor",
        "topics": topics[:1],
        "first_seen": views.iso(now),
        "last_changed": None,
        "version_count": 1,
        "duplicate_of": None,
        "change_class": None,
        "cluster": None,
        "snippet": "This is a sample message sent by `monitor alerts test`.",
    }
    return {"created": views.iso(now), "story": made_up}, "a made-up story (none stored yet)"


def _source_sample(
    session: Session, key: str, rule: str, kind: str, now: datetime
) -> tuple[dict[str, Any], str]:
    """A `degraded` (or `recovered`) payload about the first source degraded now, else a
    made-up source."""
    from monitor.store import extraction

    source: dict[str, Any] = {
        "name": "monitor-test",
        "url": "https://example.org/feed.xml",
        "reason": "pages extract empty (4 of 6) (a sample sent by `monitor alerts test`)",
        "since": views.iso(now),
    }
    sample = "a made-up source (none degraded now)"
    for name, health in extraction.degraded_details(session):
        found = session.scalar(select(Source).where(Source.name == name))
        url = found.url if found is not None else ""
        since = views.iso(health.since)
        source = {"name": name, "url": url, "reason": health.reason, "since": since}
        sample = f"source {name}"
        break
    payload: dict[str, Any] = {
        "id": key,
        "rule": rule,
        "event": kind,
        "created": views.iso(now),
        "topics": [],
        "story": None,
        "source": source,
    }
    return payload, sample
