"""`monitor run`: APScheduler fires the ticks; all state that matters lives in the database.

On SIGINT or SIGTERM no new tick starts, the pass in flight is finished, and the process
exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.app import App
from monitor.pipeline import Pipeline
from monitor.store import queries

log = logging.getLogger(__name__)

MAX_TICK = timedelta(seconds=60)


def tick_interval(app: App) -> timedelta:
    """Often enough that no source waits long past its due time, never busier than needed."""
    intervals = [app.config.source_interval(s) for s in app.config.sources if s.enabled]
    shortest = min(intervals, default=app.config.polling.interval)
    return max(timedelta(seconds=1), min(MAX_TICK, shortest))


class Service:
    def __init__(self, app: App, pipeline: Pipeline) -> None:
        self.app = app
        self.pipeline = pipeline
        self.stopping = asyncio.Event()
        self.busy = asyncio.Lock()
        self.passes = 0

    async def housekeeping(self) -> None:
        """Forget poll records older than [service] keep_polls."""
        cutoff = self.app.clock() - self.app.config.service.keep_polls
        try:
            with self.app.sessions.begin() as session:
                pruned = queries.prune_polls(session, cutoff)
        except Exception:
            log.exception("housekeeping failed; it runs again in an hour")
            return
        if pruned:
            log.info("housekeeping: %d old poll records pruned", pruned)

    async def tick(self) -> None:
        """One pass; a failure is logged and the next tick tries again."""
        if self.stopping.is_set():
            return
        async with self.busy:
            try:
                summary = await self.pipeline.run_pass()
            except Exception:
                log.exception("pass failed; the next tick tries again")
                return
            self.passes += 1
            if summary.sources_polled or summary.rechecked:
                log.info("pass: %s", summary.line())

    def stop(self) -> None:
        if not self.stopping.is_set():
            log.info("stopping: finishing the pass in flight")
            self.stopping.set()

    async def wait_idle(self) -> None:
        async with self.busy:
            return


async def serve(app: App, *, install_signals: bool = True) -> Service:
    loop = asyncio.get_running_loop()
    async with app.pipeline() as pipeline:
        service = Service(app, pipeline)
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, service.stop)
        every = tick_interval(app)
        scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
        scheduler.add_job(
            service.tick,
            "interval",
            seconds=every.total_seconds(),
            next_run_time=datetime.now(UTC),
            id="poll",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(every.total_seconds()),
        )
        scheduler.add_job(
            service.housekeeping,
            "interval",
            hours=1,
            next_run_time=datetime.now(UTC),
            id="housekeeping",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
        )
        scheduler.start()
        log.info("monitor running: %d sources, tick every %s", len(app.config.sources), every)
        try:
            await service.stopping.wait()
        finally:
            scheduler.shutdown(wait=False)
            await service.wait_idle()
            if install_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
        log.info("monitor stopped after %d passes", service.passes)
        return service
