"""What the service tells the outside: /healthz, /metrics (Prometheus) and JSON log lines.

Served as routes of the web app (monitor.web.app): alone on `[service] http_port`, and
with the web view on `[web] listen`. Whether the service is healthy is one pure function,
`verdict`, of facts the service and `monitor status` gather, so both say the same thing.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from monitor.core.text import error_line

if TYPE_CHECKING:
    import asyncio

    from sqlalchemy.orm import Session, sessionmaker

    from monitor.app import App
    from monitor.clock import Clock
    from monitor.config import Config
    from monitor.store.records import PollHealth
    from monitor.web.server import RunningServer

STALE_TICKS = 3  # a pass, or a successful poll, this many ticks late means something is stuck
POLL_WINDOW = timedelta(hours=1)  # the failure rate is that of the polls of the last hour…
MIN_POLLS = 10  # … when there were at least this many (fewer say little: one flaky source)
FACTS_TTL = 5.0  # seconds /healthz reuses what it read from the database
FACTS_TIMEOUT = 3.0  # seconds /healthz waits for the database before calling it unhealthy

LivenessCheck = Callable[[], str | None]
"""A part of the service that can die: returns why it is dead, or None while it lives."""

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LOG_FIELDS = ("source", "status", "duration", "entries", "new", "bytes", "error")


@dataclass
class Metrics:
    """Counters since the process started, and a histogram of fetch latencies."""

    polls: Counter[str] = field(default_factory=Counter)  # by outcome
    stories: Counter[str] = field(default_factory=Counter)  # new, changed, duplicate
    passes: Counter[str] = field(default_factory=Counter)  # ok, failed
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    latency_sum: float = 0.0
    started: float = field(default_factory=time.time)
    last_pass_ok: float | None = None
    checks: dict[str, LivenessCheck] = field(default_factory=dict)  # see register_check
    deliveries: Counter[str] = field(default_factory=Counter)  # alert attempts, by outcome
    alerts_pending: int | None = None  # the outbox's backlog, as the delivery job last read it
    alerts_failed: int | None = None
    # {source: why} whose extraction is degraded (monitor.core.breakage), as of the last pass
    extraction_degraded: dict[str, str] = field(default_factory=dict)

    def observe_poll(self, outcome: str, seconds: float) -> None:
        self.polls[outcome] += 1
        self.latency_sum += seconds
        index = next((i for i, edge in enumerate(LATENCY_BUCKETS) if seconds <= edge), -1)
        self.latency_counts[index] += 1

    def observe_pass(self, ok: bool, new: int = 0, changed: int = 0, duplicates: int = 0) -> None:
        self.passes["ok" if ok else "failed"] += 1
        self.stories.update({"new": new, "changed": changed, "duplicate": duplicates})
        if ok:
            self.last_pass_ok = time.time()

    def observe_delivery(self, outcome: str) -> None:
        """One alert attempt: 'delivered', 'pending' (retried later) or 'failed' (given up)."""
        self.deliveries[outcome] += 1

    def set_alert_counts(self, counts: Mapping[str, int]) -> None:
        self.alerts_pending = counts.get("pending", 0) + counts.get("batching", 0)
        self.alerts_failed = counts.get("failed", 0)

    def register_check(self, name: str, check: LivenessCheck) -> None:
        """Make /healthz answer 503 "name: reason" while `check()` returns a reason (it is
        called at every request, on the event loop: it must be cheap and not block)."""
        self.checks[name] = check

    def dead_components(self) -> dict[str, str]:
        """The registered parts that are dead, with why; a check that raises counts as dead."""
        dead: dict[str, str] = {}
        for name, check in self.checks.items():
            try:
                reason = check()
            except Exception as exc:
                reason = f"liveness check failed: {error_line(exc)}"
            if reason is not None:
                dead[name] = " ".join(reason.split())  # the verdict is one line
        return dead

    def render(self) -> str:
        """The Prometheus text exposition format."""
        lines = [
            "# HELP monitor_polls_total Source polls by outcome.",
            "# TYPE monitor_polls_total counter",
            *(f'monitor_polls_total{{outcome="{k}"}} {v}' for k, v in sorted(self.polls.items())),
            "# HELP monitor_poll_failures_total Source polls that failed.",
            "# TYPE monitor_poll_failures_total counter",
            f"monitor_poll_failures_total {self.polls['failed']}",
            "# HELP monitor_stories_total Stories found, by kind.",
            "# TYPE monitor_stories_total counter",
            *(
                f'monitor_stories_total{{kind="{k}"}} {self.stories[k]}'
                for k in ("new", "changed", "duplicate")
            ),
            "# HELP monitor_passes_total Passes by result.",
            "# TYPE monitor_passes_total counter",
            *(f'monitor_passes_total{{result="{k}"}} {self.passes[k]}' for k in ("ok", "failed")),
            "# HELP monitor_fetch_seconds Time to fetch a source.",
            "# TYPE monitor_fetch_seconds histogram",
        ]
        cumulative = 0
        for edge, count in zip(LATENCY_BUCKETS, self.latency_counts, strict=False):
            cumulative += count
            lines.append(f'monitor_fetch_seconds_bucket{{le="{edge}"}} {cumulative}')
        total = sum(self.latency_counts)
        lines += [
            f'monitor_fetch_seconds_bucket{{le="+Inf"}} {total}',
            f"monitor_fetch_seconds_sum {self.latency_sum:.6f}",
            f"monitor_fetch_seconds_count {total}",
        ]
        if self.alerts_pending is not None:
            lines += [
                "# HELP monitor_alert_attempts_total Alert delivery attempts, by outcome.",
                "# TYPE monitor_alert_attempts_total counter",
                *(
                    f'monitor_alert_attempts_total{{outcome="{k}"}} {self.deliveries[k]}'
                    for k in ("delivered", "pending", "failed")
                ),
                "# HELP monitor_alerts_pending Alert deliveries not yet delivered (or batching).",
                "# TYPE monitor_alerts_pending gauge",
                f"monitor_alerts_pending {self.alerts_pending}",
                "# HELP monitor_alerts_failed Alert deliveries given up (monitor alerts --failed).",
                "# TYPE monitor_alerts_failed gauge",
                f"monitor_alerts_failed {self.alerts_failed or 0}",
            ]
        lines += [
            "# HELP monitor_sources_extraction_degraded Sources whose extraction is degraded.",
            "# TYPE monitor_sources_extraction_degraded gauge",
            f"monitor_sources_extraction_degraded {len(self.extraction_degraded)}",
            "# HELP monitor_source_extraction_degraded 1 for each source whose extraction is "
            "degraded, with why.",
            "# TYPE monitor_source_extraction_degraded gauge",
            *(
                f'monitor_source_extraction_degraded{{source="{_label(name)}",'
                f'reason="{_label(why)}"}} 1'
                for name, why in sorted(self.extraction_degraded.items())
            ),
        ]
        if self.last_pass_ok is not None:
            lines += [
                "# HELP monitor_last_pass_timestamp_seconds When the last pass succeeded.",
                "# TYPE monitor_last_pass_timestamp_seconds gauge",
                f"monitor_last_pass_timestamp_seconds {self.last_pass_ok:.3f}",
            ]
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    """A Prometheus label value: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# ---------------------------------------------------------------- the verdict


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str  # "ok", or one line saying what is wrong


@dataclass(frozen=True, slots=True)
class Facts:
    """What a verdict is drawn from: plain data, gathered by the service or the CLI."""

    now: datetime
    tick: timedelta  # how often the service looks for due sources
    success_window: timedelta  # a successful poll older than this means polling is broken
    # Since when successful polls are expected: the service's start, or (for the CLI, which
    # cannot see a process) the oldest enabled source's creation; None: nothing to poll.
    polling_since: datetime | None
    last_success: datetime | None  # the newest successful poll, by any worker
    polls: int  # polls in the last POLL_WINDOW, by every worker
    failed: int  # … of which failed
    # The service's own facts; None from the CLI, which then skips the checks needing them.
    process_started: datetime | None = None
    last_pass: datetime | None = None  # when this process last finished a pass
    dead: Mapping[str, str] = field(default_factory=dict)  # dead component → why
    # Sources whose extraction is degraded → why: named in the verdict's line, but the
    # service is not unhealthy for it (it polls; a site changed).
    extraction_degraded: Mapping[str, str] = field(default_factory=dict)


def verdict(facts: Facts) -> Verdict:
    """Unhealthy when a registered component is dead, when the service has had no pass
    without error for STALE_TICKS ticks, when no poll succeeded within the success window
    (counted from the start, so a young process is given the time), or when more than half
    of the last hour's polls failed (judged from MIN_POLLS polls on: fewer say little).
    Every problem found is named, in one line, followed by the sources whose extraction is
    degraded (which leave the verdict healthy: "ok; extraction degraded for …").
    """
    problems = [f"{name}: {why}" for name, why in sorted(facts.dead.items())]
    now = facts.now
    if facts.process_started is not None:
        since = max(facts.last_pass or facts.process_started, facts.process_started)
        if now - since > STALE_TICKS * facts.tick:
            problems.append(
                f"no poll pass has succeeded for {span(now - since)} (a tick is {span(facts.tick)})"
            )
    starving = False
    if facts.polling_since is not None:
        since = max(facts.last_success or facts.polling_since, facts.polling_since)
        if now - since > facts.success_window:
            starving = True
            if facts.last_success is None:
                problems.append(
                    f"no poll has succeeded in the {span(now - since)} since polling began"
                )
            else:
                problems.append(f"no poll has succeeded for {span(now - facts.last_success)}")
    failing = facts.failed * 2 > facts.polls
    if failing and (facts.polls >= MIN_POLLS or starving):
        problems.append(f"{facts.failed} of {facts.polls} polls in the last hour failed")
    notes = [
        f"extraction degraded for {name}: {why}"
        for name, why in sorted(facts.extraction_degraded.items())
    ]
    if problems:
        return Verdict(False, "; ".join([*problems, *notes]))
    return Verdict(True, "; ".join(["ok", *notes]))


def success_window(config: Config) -> timedelta:
    """The longest an enabled source waits between two polls, and STALE_TICKS ticks: with every
    source polled on time, some poll succeeds within that (a failing source is backed off,
    so the other sources' successes are what counts)."""
    tick = config.tick_interval()
    intervals = [config.source_interval(s) for s in config.sources if s.enabled]
    return max(intervals, default=config.polling.interval) + STALE_TICKS * tick


def database_facts(config: Config, polls: PollHealth, now: datetime) -> Facts:
    """The facts `monitor status` has: the database's only."""
    return Facts(
        now=now,
        tick=config.tick_interval(),
        success_window=success_window(config),
        polling_since=polls.first_created,
        last_success=polls.last_success,
        polls=polls.polls,
        failed=polls.failed,
        extraction_degraded=polls.extraction_degraded,
    )


def span(delta: timedelta) -> str:
    """A duration for people: 45s, 12m, 5h, 3d."""
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 120 * 60:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


class ServiceHealth:
    """/healthz's verdict in the service: this process's facts, fresh at every request, and
    the database's, read off the event loop and reused for FACTS_TTL seconds, so that a
    busy prober costs one query and a slow database never holds the loop."""

    def __init__(
        self,
        metrics: Metrics,
        sessions: sessionmaker[Session],
        config: Config,
        clock: Clock,
        *,
        ttl: float = FACTS_TTL,
        timeout: float = FACTS_TIMEOUT,
    ) -> None:
        self.metrics = metrics
        self.sessions = sessions
        self.tick = config.tick_interval()
        self.window = success_window(config)
        self.clock = clock
        self.ttl = ttl
        self.timeout = timeout
        self._facts: PollHealth | None = None
        self._read_at = 0.0
        self._reading: asyncio.Task[PollHealth] | None = None

    @classmethod
    def for_app(cls, app: App, metrics: Metrics) -> ServiceHealth:
        return cls(metrics, app.sessions, app.config, app.clock)

    async def verdict(self) -> Verdict:
        from monitor.store.records import PollHealth

        now = self.clock()
        dead = self.metrics.dead_components()
        try:
            polls = await self._poll_health(now)
        except Exception as exc:
            dead["database"] = error_line(exc)
            polls = PollHealth(enabled=0, first_created=None, last_success=None, polls=0, failed=0)
        started = datetime.fromtimestamp(self.metrics.started, UTC)
        last_pass = self.metrics.last_pass_ok
        return verdict(
            Facts(
                now=now,
                tick=self.tick,
                success_window=self.window,
                polling_since=started if polls.enabled else None,
                last_success=polls.last_success,
                polls=polls.polls,
                failed=polls.failed,
                process_started=started,
                last_pass=datetime.fromtimestamp(last_pass, UTC) if last_pass else None,
                dead=dead,
                extraction_degraded=polls.extraction_degraded,
            )
        )

    async def _poll_health(self, now: datetime) -> PollHealth:
        import asyncio  # here: `monitor status` judges health without an event loop

        if self._facts is not None and time.monotonic() - self._read_at < self.ttl:
            return self._facts
        if self._reading is None:
            self._reading = asyncio.create_task(asyncio.to_thread(self._read, now))
            self._reading.add_done_callback(self._keep)
        try:
            return await asyncio.wait_for(asyncio.shield(self._reading), self.timeout)
        except TimeoutError:
            raise TimeoutError(f"no answer in {self.timeout:g}s") from None

    def _read(self, now: datetime) -> PollHealth:
        from monitor.store.queries import poll_health

        with self.sessions() as session:
            return poll_health(session, now - POLL_WINDOW)

    def _keep(self, task: asyncio.Task[PollHealth]) -> None:
        """Keep what a read found (also one that outlived its request's timeout)."""
        self._reading = None
        if not task.cancelled() and task.exception() is None:
            self._facts, self._read_at = task.result(), time.monotonic()


# ---------------------------------------------------------------- the server


async def serve_health(
    metrics: Metrics, host: str, port: int, judge: Callable[[], Awaitable[Verdict]]
) -> RunningServer:
    """Serve /healthz and /metrics alone (the web app's routes, monitor.web.app) until the
    caller closes the server (`close()`, then `await wait_closed()`)."""
    from monitor.web.app import Health, create_app
    from monitor.web.server import start

    return await start(
        create_app(None, Health(judge, metrics)), host, port, key="service.http_port"
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and a poll's fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in LOG_FIELDS:
            if key in record.__dict__:
                document[key] = record.__dict__[key]
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)
