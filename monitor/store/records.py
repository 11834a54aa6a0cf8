"""The plain records the store's read functions return, on SQLAlchemy's path
(monitor.store.queries) and on the read commands' DB-API path (monitor.store.reads) alike:
defined apart from both so that neither the CLI's read commands nor `monitor.views` import
SQLAlchemy to name them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ListFilter:
    since: datetime | None
    new: bool = True
    changed: bool = True
    removed: bool = False
    topics: Sequence[str] = ()
    include_duplicates: bool = False
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Status:
    last_success: datetime | None
    sources: int
    failing: list[str]
    overdue: list[str]
    stories: int
    awaiting_recheck: int
    links_failing: int  # story links that failed and wait for another attempt
    warning: int = 0  # sources whose feed was last read despite a fault (Source.warning)


@dataclass(frozen=True, slots=True)
class PollHealth:
    """The database's word on polling, the same for every worker and the CLI."""

    enabled: int  # enabled sources
    first_created: datetime | None  # the oldest enabled source: since when polls are expected
    last_success: datetime | None  # the newest successful poll of an enabled source
    polls: int  # polls since the cut-off, by every worker
    failed: int  # … of which failed
    # {source: why} for the enabled sources whose extraction is degraded (monitor.core.breakage)
    extraction_degraded: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Waiting:
    """Why a pass polled nothing: the enabled sources, those backed off after failures, and
    when the next of them is due."""

    enabled: int
    backed_off: int
    next_poll: datetime | None


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """One source's extraction, as `sources`, `status`, /healthz and /metrics show it."""

    state: str  # 'ok', 'degraded', or 'unknown' (no page extracted yet)
    reason: str | None
    since: datetime | None
    held: int
    pages: int
