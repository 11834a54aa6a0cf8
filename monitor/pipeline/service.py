"""`monitor run`: APScheduler fires the ticks; all state that matters lives in the database.

On SIGINT or SIGTERM no new tick starts, the pass in flight is finished, and the process
exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor import views
from monitor.app import App
from monitor.core.text import count
from monitor.deliver.job import DeliveryJob
from monitor.deliver.send import check_rule
from monitor.digest.jobs import DigestJobs
from monitor.health import Metrics, ServiceHealth, serve_health
from monitor.pipeline.heap import release_free_memory
from monitor.pipeline.passes import Pipeline
from monitor.store import queries
from monitor.store.dedupe import reindex_outdated
from monitor.web.server import RunningServer

log = logging.getLogger(__name__)

REINDEX_BATCH = 2000  # stories indexed again per housekeeping run (~2 ms each)
WAKE_MARGIN = 0.05  # seconds after a source's due time the service wakes for it
MIN_WAKE = 0.2  # seconds between two passes started by wake-ups (no spinning on a due source)


class Service:
    def __init__(self, app: App, pipeline: Pipeline) -> None:
        self.app = app
        self.pipeline = pipeline
        self.stopping = asyncio.Event()
        self.busy = asyncio.Lock()
        self.passes = 0  # passes that polled a source or re-checked a story
        self.told_backed_off: datetime | None = None  # the next attempt last announced
        self.current: asyncio.Task[object] | None = None
        self.metrics = Metrics()
        pipeline.metrics = self.metrics
        self.metrics.register_check("process pool", pipeline.pool.problem)
        self.metrics.register_check("writer", pipeline.writer.problem)
        self._wake: asyncio.TimerHandle | None = None
        self._wake_tasks: set[asyncio.Future[None]] = set()
        self.deliveries: DeliveryJob | None = None
        if app.config.alerts:
            self.deliveries = DeliveryJob(
                app.config.alerts,
                app.config.delivery,
                app.sessions,
                owner=pipeline.owner,
                clock=app.clock,
                run=pipeline.writer.run,
            )
            self.deliveries.observe = self.metrics.observe_delivery
            self.deliveries.on_counts = self.metrics.set_alert_counts
            pipeline.on_alerts = self.deliveries.wake

    async def housekeeping(self) -> None:
        """Forget poll records, and failed links not tried since, older than [service]
        keep_polls; index again stories fingerprinted with an older scheme, a batch an
        hour (after an upgrade that changed monitor.core.fingerprint.SCHEME)."""
        cutoff = self.app.clock() - self.app.config.service.keep_polls

        def prune() -> tuple[int, int]:
            with self.app.sessions.begin() as session:
                return queries.prune_polls(session, cutoff), queries.prune_link_failures(
                    session, cutoff
                )

        def reindex() -> int:
            with self.app.sessions.begin() as session:
                return reindex_outdated(session, limit=REINDEX_BATCH)

        try:  # on the writer's thread: the event loop keeps serving the pass's requests
            pruned, links = await self.pipeline.writer.run(prune)
            reindexed = await self.pipeline.writer.run(reindex)
            await self.pipeline.writer.run(self.pipeline.refresh_topics)
        except Exception:
            log.exception("housekeeping failed; it runs again in an hour")
            return
        if pruned or links:
            log.info("housekeeping: %d old poll records and %d failed links pruned", pruned, links)
        if reindexed:
            log.info("housekeeping: %d stories indexed again for duplicate checks", reindexed)

    async def tick(self) -> None:
        """Start a pass unless one is running. The pass is this service's task, not the
        scheduler's: APScheduler cancels the jobs it runs when it shuts down, and a
        stopping service must let the pass in flight finish."""
        if self.stopping.is_set() or self.busy.locked():
            return
        await self.busy.acquire()
        self.current = asyncio.create_task(self._pass(), name="monitor-pass")

    async def _pass(self) -> None:
        """One pass; a failure is logged and the next tick tries again."""
        try:
            summary = await self.pipeline.run_pass()
        except asyncio.CancelledError:
            log.warning("pass cancelled at the shutdown deadline")
            return
        except Exception:
            log.exception("pass failed; the next tick tries again")
            self.metrics.observe_pass(ok=False)
            return
        finally:
            self.current = None
            self.busy.release()
        release_free_memory()  # the pass's feeds and pages, freed, need not stay resident
        await self._wake_when_due()
        self.metrics.observe_pass(
            ok=True, new=summary.new, changed=summary.changed, duplicates=summary.duplicates
        )
        if summary.sources_polled or summary.rechecked:
            self.passes += 1
            self.told_backed_off = None
            log.info("pass: %s", summary.line())
        else:
            await self._tell_if_backed_off()

    async def _wake_when_due(self) -> None:
        """Start the next pass when the next source falls due, not at the next tick: a
        source is polled within its interval and a few milliseconds (the tick stays, for
        re-checks and for sources other workers changed)."""
        if self.stopping.is_set():
            return

        def read() -> datetime | None:
            with self.app.sessions() as session:
                return queries.next_source_due(session, self.app.clock())

        try:
            due = await self.pipeline.writer.run(read)
        except Exception:
            log.exception("reading the sources' schedule failed")
            return
        if due is None:
            return
        delay = (due - self.app.clock()).total_seconds() + WAKE_MARGIN
        if delay >= self.app.config.tick_interval().total_seconds():
            return
        if self._wake is not None:
            self._wake.cancel()
        loop = asyncio.get_running_loop()
        self._wake = loop.call_later(max(MIN_WAKE, delay), self._wake_up)

    def _wake_up(self) -> None:
        self._wake = None
        task = asyncio.ensure_future(self.tick())
        self._wake_tasks.add(task)
        task.add_done_callback(self._wake_tasks.discard)

    async def _tell_if_backed_off(self) -> None:
        """A service with every source backed off would otherwise say nothing for hours:
        say so once, with the next attempt, and again only when that changes."""

        def read() -> queries.Waiting:
            with self.app.sessions() as session:
                return queries.waiting(session)

        try:
            waiting = await self.pipeline.writer.run(read)
        except Exception:
            log.exception("reading the sources' schedule failed")
            return
        if not waiting.enabled or waiting.backed_off < waiting.enabled:
            return
        if waiting.next_poll == self.told_backed_off:
            return
        self.told_backed_off = waiting.next_poll
        log.warning("%s", views.waiting_line(waiting, self.app.clock()))

    def stop(self) -> None:
        if not self.stopping.is_set():
            log.info("stopping: finishing the pass in flight")
            self.stopping.set()
            self.pipeline.stop_claiming = True
            if self._wake is not None:
                self._wake.cancel()

    async def finish(self, deadline: float) -> None:
        """Let the pass in flight finish; past the deadline, cancel it (what it finished is
        written as it unwinds) and free its leases."""
        current = self.current
        if current is not None:
            done, _ = await asyncio.wait({current}, timeout=deadline)
            if not done:
                current.cancel()
                await asyncio.wait({current})
        with self.app.sessions.begin() as session:
            queries.release_leases(session, self.pipeline.owner)


async def _serve_http(app: App, metrics: Metrics) -> list[RunningServer]:
    """The web view on `[web] listen` when the config sets it (with /healthz and /metrics),
    and /healthz with /metrics alone on `[service] http_port` (unless that is the same
    address)."""
    from monitor.web.app import Health, create_app
    from monitor.web.auth import credentials_for
    from monitor.web.server import start

    judge = ServiceHealth.for_app(app, metrics).verdict
    servers: list[RunningServer] = []
    web = app.config.web
    settings = app.config.service
    try:
        if "listen" in web.model_fields_set:
            host, port = web.address
            site = create_app(app, Health(judge, metrics), credentials=credentials_for(web.auth))
            servers.append(await start(site, host, port))
            log.info("web view on %s", servers[-1].url)
        health_port = settings.http_port
        same = bool(servers) and (settings.http_host, health_port) == web.address
        if health_port is not None and not same:
            servers.append(await serve_health(metrics, settings.http_host, health_port, judge))
            log.info("health and metrics on %s", servers[-1].url)
    except BaseException:
        for server in servers:
            server.close()
            await server.wait_closed()
        raise
    return servers


async def serve(app: App, *, install_signals: bool = True) -> Service:
    loop = asyncio.get_running_loop()
    for index, rule in enumerate(app.config.alerts):  # the secret is set, Apprise knows the URL
        check_rule(rule, index)
    async with app.pipeline() as pipeline:
        service = Service(app, pipeline)
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, service.stop)
        every = app.config.tick_interval()
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
        servers = await _serve_http(app, service.metrics)
        digests = DigestJobs(app.sessions, app.config.digest, app.config.smtp)
        digests.schedule(scheduler)
        scheduler.start()
        delivering: asyncio.Task[None] | None = None
        if service.deliveries is not None:
            delivering = asyncio.create_task(
                service.deliveries.serve(service.stopping), name="monitor-deliveries"
            )
            log.info("alerts: %s", count(len(app.config.alerts), "rule"))
        log.info(
            "monitor running: %s, tick every %s", count(len(app.config.sources), "source"), every
        )
        try:
            await service.stopping.wait()
        finally:
            scheduler.shutdown(wait=False)
            await service.finish(app.config.service.shutdown_timeout.total_seconds())
            if delivering is not None:  # its sends in flight end within [delivery] timeout
                service.stopping.set()
                await delivering
            await digests.wait_idle()
            for server in servers:
                server.close()
            for server in servers:
                await server.wait_closed()
            if install_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
        log.info("monitor stopped after %s", count(service.passes, "pass"))
        return service
