"""Read documents that both the CLI's `--json` and the web API answer with, built once here
so the two cannot drift apart (`monitor sources --json` = `/api/sources`, `monitor status
--json` = `/api/status`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor import views

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from monitor.config import Config
    from monitor.health import Verdict
    from monitor.store.reads import Reader
    from monitor.store.records import PollHealth, SourceHealth, Status


def source_rows(session: Session, config: Config) -> list[dict[str, Any]]:
    """Every source of the database, and the configured ones not in it yet, by name."""
    from monitor.store import extraction, queries

    configured = {s.name for s in config.sources}
    health = extraction.by_source(session)
    rows = [
        views.source_summary(s, n, configured=s.name in configured, extraction=health.get(s.id))
        for s, n in queries.sources_with_story_counts(session)
    ]
    stored = {row["name"] for row in rows}
    rows += [views.unsynced_source_summary(s) for s in config.sources if s.name not in stored]
    rows.sort(key=lambda row: row["name"])
    return rows


def cluster_rows(groups: dict[int, list[Any]]) -> list[dict[str, Any]]:
    """The `monitor list --clusters --json` rows: the biggest events first."""
    rows = [views.cluster_summary(cluster_id, members) for cluster_id, members in groups.items()]
    rows.sort(key=lambda row: (-row["count"], row["lead"]["first_seen"] or ""))
    return rows


@dataclass(frozen=True, slots=True)
class StatusFacts:
    """What `monitor status` reports: the counts, the verdict, alert deliveries, degraded
    extraction, the database's size."""

    report: Status
    judged: Verdict
    alerts: dict[str, int]  # monitor.deliver.outbox.counts
    degraded: list[dict[str, Any]]  # {source, state, reason, since, held, pages}
    size: int | None


def status_facts(session: Session, engine: Engine, config: Config, now: Any) -> StatusFacts:
    """The facts through SQLAlchemy (the web API, the service's view)."""
    from monitor import health
    from monitor.deliver.outbox import counts as alert_counts
    from monitor.store import extraction, queries
    from monitor.store.db import database_size

    return _judged(
        config,
        now,
        report=queries.status(session, now, config.polling.interval),
        polls=queries.poll_health(session, now - health.POLL_WINDOW),
        alerts=alert_counts(session),
        degraded=extraction.degraded_details(session),
        size=database_size(engine),
    )


def read_status_facts(reader: Reader, config: Config, now: Any) -> StatusFacts:
    """The same facts on the read commands' path (monitor.store.reads: no SQLAlchemy)."""
    from monitor import health

    return _judged(
        config,
        now,
        report=reader.status(now, config.polling.interval),
        polls=reader.poll_health(now - health.POLL_WINDOW),
        alerts=reader.alert_counts(),
        degraded=reader.degraded(),
        size=reader.database_size(),
    )


def _judged(
    config: Config,
    now: Any,
    *,
    report: Status,
    polls: PollHealth,
    alerts: dict[str, int],
    degraded: list[tuple[str, SourceHealth]],
    size: int | None,
) -> StatusFacts:
    from monitor import health

    return StatusFacts(
        report=report,
        judged=health.verdict(health.database_facts(config, polls, now)),
        alerts=alerts,
        degraded=[{"source": name, **views.extraction_summary(state)} for name, state in degraded],
        size=size,
    )


def status_document(facts: StatusFacts) -> dict[str, Any]:
    """The `monitor status --json` contract."""
    report, judged = facts.report, facts.judged
    return {
        "healthy": judged.ok,
        "health": judged.reason,
        "last_success": views.iso(report.last_success),
        "sources": report.sources,
        "sources_failing": report.failing,
        "sources_overdue": report.overdue,
        "sources_warning": report.warning,
        "stories": report.stories,
        "awaiting_recheck": report.awaiting_recheck,
        "links_failing": report.links_failing,
        "alerts_pending": facts.alerts["pending"] + facts.alerts["batching"],
        "alerts_failed": facts.alerts["failed"],
        "database_bytes": facts.size,
        "extraction": {
            "degraded": facts.degraded,
            "held": sum(row["held"] for row in facts.degraded),
        },
    }
