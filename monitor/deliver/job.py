"""The delivery job: claim due deliveries, send them, record every attempt.

It runs in the service as a task of its own: woken as soon as a pass commits an event, and
on its own tick (other workers' events, retries, batch windows). Any number of workers may
run it on one database: the claim helper gives each delivery to one of them at a time. A
worker killed between sending and recording leaves its lease to run out; the delivery is
then sent again with the same Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import httpx
from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import Clock, utcnow
from monitor.core import schedule
from monitor.deliver import outbox
from monitor.deliver.format import message_payload
from monitor.deliver.rules import AlertRule, DeliveryConfig
from monitor.deliver.send import send

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_P = ParamSpec("_P")
Runner = Callable[..., Awaitable[Any]]

TICK = timedelta(seconds=5)  # looks for due deliveries at least this often
RETRY_BASE = timedelta(seconds=2)  # the first retry; each further one waits twice as long
CLAIM_BATCH = 64  # deliveries claimed at once …
CONCURRENCY = 16  # … and sent at once


@dataclass
class Sent:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


async def _in_thread(call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    return await asyncio.to_thread(call, *args, **kwargs)


class DeliveryJob:
    """Delivers the outbox for the rules of one configuration."""

    def __init__(
        self,
        rules: tuple[AlertRule, ...] | list[AlertRule],
        settings: DeliveryConfig,
        sessions: sessionmaker[Session],
        *,
        owner: str,
        clock: Clock = utcnow,
        run: Runner | None = None,
    ) -> None:
        self.rules = {rule.name: rule for rule in rules}
        self.settings = settings
        self.sessions = sessions
        self.owner = owner
        self.clock = clock
        self.run_db: Runner = run or _in_thread  # the pipeline's writer thread in the service
        # A delivery's lease outlives its slowest attempt, so no one else sends it meanwhile.
        self.lease = settings.timeout * 3
        self.sent = Sent()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None  # set: claim nothing more
        self.observe: Callable[[str], None] | None = None  # metrics: one call per attempt
        self.on_counts: Callable[[dict[str, int]], None] | None = None  # metrics: the backlog

    def wake(self) -> None:
        """Deliver now (callable from any thread: the writer's, after it committed events)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def serve(self, stopping: asyncio.Event) -> None:
        """Deliver until `stopping`: when woken, at the next due retry, and every TICK."""
        self._loop = asyncio.get_running_loop()
        self._stopping = stopping
        async with self._client() as client:
            while not stopping.is_set():
                self._wake.clear()
                try:
                    await self.run_once(client)
                    due = await self.run_db(self._next_due)
                    if self.on_counts is not None:
                        self.on_counts(await self.run_db(self._counts))
                except Exception:
                    log.exception("alert delivery failed; it runs again in %s", TICK)
                    due = None
                now = self.clock()
                wait = TICK.total_seconds()
                if due is not None:
                    wait = min(wait, max(0.05, (due - now).total_seconds()))
                waiters = {
                    asyncio.ensure_future(self._wake.wait()),
                    asyncio.ensure_future(stopping.wait()),
                }
                _, pending = await asyncio.wait(
                    waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
                for task in pending:
                    task.cancel()
            await self.run_db(self._release)

    def _client(self) -> httpx.AsyncClient:
        timeout = self.settings.timeout.total_seconds()
        return httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def run_once(self, client: httpx.AsyncClient | None = None) -> Sent:
        """Gather closed batch windows, then send every due delivery; returns what happened."""
        if client is None:
            async with self._client() as own:
                return await self.run_once(own)
        sent = Sent()
        slots = asyncio.Semaphore(CONCURRENCY)
        if any(rule.batch for rule in self.rules.values()):
            await self.run_db(self._gather)
        while self._stopping is None or not self._stopping.is_set():
            claimed = await self.run_db(self._claim)
            if not claimed:
                return sent
            outcomes = await asyncio.gather(*(self._attempt(client, c, slots) for c in claimed))
            states = await self.run_db(self._record, list(zip(claimed, outcomes, strict=True)))
            for state in states:
                for tally in (sent, self.sent):
                    if state == "delivered":
                        tally.delivered += 1
                    elif state == "failed":
                        tally.failed += 1
                    else:
                        tally.retrying += 1
                if self.observe is not None:
                    self.observe(state)
        return sent

    async def _attempt(
        self, client: httpx.AsyncClient, claimed: outbox.Claimed, slots: asyncio.Semaphore
    ) -> outbox.Outcome:
        async with slots:
            return await self._attempt_one(client, claimed)

    async def _attempt_one(
        self, client: httpx.AsyncClient, claimed: outbox.Claimed
    ) -> outbox.Outcome:
        rule = self.rules.get(claimed.rule)
        if rule is None:
            return outbox.Outcome(
                False, error=f"no alert rule named {claimed.rule!r} any more", permanent=True
            )
        payload = message_payload(claimed.key, rule.name, claimed.events, batched=claimed.batched)
        outcome = await send(client, rule, claimed.key, payload)
        if outcome.ok:
            log.info("alert %s delivered to %s", claimed.key, rule.channel)
        else:
            log.warning("alert %s to %s: %s", claimed.key, rule.channel, outcome.error)
        return outcome

    # ------------------------------------------------------------ database calls

    def _gather(self) -> int:
        with self.sessions.begin() as session:
            return outbox.gather_batches(
                session, list(self.rules.values()), self.clock(), self.settings.give_up_after
            )

    def _claim(self) -> list[outbox.Claimed]:
        with self.sessions.begin() as session:
            return outbox.claim_due(session, self.owner, self.clock(), self.lease, CLAIM_BATCH)

    def _record(self, results: list[tuple[outbox.Claimed, outbox.Outcome]]) -> list[str]:
        now = self.clock()

        def next_attempt(attempts: int, retry_after: float | None) -> datetime:
            return schedule.next_poll_after_failure(now, RETRY_BASE, attempts, retry_after)

        with self.sessions.begin() as session:
            return [
                outbox.record_attempt(session, claimed, outcome, self.owner, now, next_attempt)
                for claimed, outcome in results
            ]

    def _next_due(self) -> datetime | None:
        with self.sessions() as session:
            return outbox.next_due(session)

    def _counts(self) -> dict[str, int]:
        with self.sessions() as session:
            return outbox.counts(session)

    def _release(self) -> None:
        with self.sessions.begin() as session:
            outbox.release(session, self.owner)
