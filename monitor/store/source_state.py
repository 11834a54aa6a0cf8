"""Polled sources' new state and poll records, written a batch at a time.

A poll pass finishes hundreds of sources a second on a quiet day (feeds unchanged, or
changed with nothing new). One transaction per source was most of the pass's own cost:
a commit, an ORM flush and two statements for a few bytes. The writer keeps the finished
sources in memory and writes them together: one INSERT of the poll records and one UPDATE
per shape of new state, in one transaction.

What waits in the buffer is never lost to anything but a crash: the pipeline flushes at the
end of every pass, cancelled or not. After a crash, the unwritten sources keep their lease
until it expires and are then polled again, exactly as if the crash had come mid-poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Update, bindparam, case, insert, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.store.models import Poll, Source

BATCH = 64  # sources per transaction
MAX_DELAY = 1.0  # seconds a finished source may wait to be written (checked as others finish)

_ID = "source_id_"  # bind name of the source id (column names are taken by the values)


@dataclass(slots=True)
class PollRecord:
    """What one fetch of a source gave: a row of `polls` once written."""

    started_at: datetime
    status: int | None = None
    duration: float = 0.0
    bytes: int = 0
    entries: int = 0
    new_stories: int = 0
    error: str | None = None

    def row(self, source_id: int) -> dict[str, Any]:
        return {
            "source_id": source_id,
            "started_at": self.started_at,
            "status": self.status,
            "duration": self.duration,
            "bytes": self.bytes,
            "entries": self.entries,
            "new_stories": self.new_stories,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class FinishedSource:
    """One poll's record, and the source's columns to set (their names are Source's)."""

    source_id: int
    poll: PollRecord
    state: dict[str, Any]


class SourceStateWriter:
    """Buffers finished sources; writes them when BATCH are waiting, when the oldest has
    waited MAX_DELAY, or on `flush`. Ends `owner`'s lease on each source it writes."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        owner: str,
        *,
        batch: int = BATCH,
        max_delay: float = MAX_DELAY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.owner = owner
        self.batch = batch
        self.max_delay = max_delay
        self._monotonic = monotonic
        self._pending: list[FinishedSource] = []
        self._oldest = 0.0

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, finished: FinishedSource) -> bool:
        """Keep a finished source; True when a batch is due to be written (`take`, `write`)."""
        if not self._pending:
            self._oldest = self._monotonic()
        self._pending.append(finished)
        return (
            len(self._pending) >= self.batch or self._monotonic() - self._oldest >= self.max_delay
        )

    def take(self) -> list[FinishedSource]:
        """Everything waiting, handed over for `write` (on the writer's thread)."""
        pending, self._pending = self._pending, []
        return pending

    def flush(self) -> None:
        self.write(self.take())

    def write(self, pending: list[FinishedSource]) -> None:
        """Write a batch in one transaction. On failure nothing is kept: the sources' leases
        expire and they are polled again."""
        if not pending:
            return
        with self.sessions.begin() as session:
            session.execute(insert(Poll), [f.poll.row(f.source_id) for f in pending])
            statement = _update_statement(self.owner)
            for group in _by_shape(pending):
                session.connection().execute(
                    statement, [{_ID: f.source_id, **f.state} for f in group]
                )


def _by_shape(pending: list[FinishedSource]) -> list[list[FinishedSource]]:
    """Sources grouped by which columns they set: one executemany UPDATE per group."""
    groups: dict[tuple[str, ...], list[FinishedSource]] = {}
    for finished in pending:
        groups.setdefault(tuple(sorted(finished.state)), []).append(finished)
    return list(groups.values())


def _update_statement(owner: str) -> Update:
    """UPDATE sources WHERE id = :source_id_, ending the lease if `owner` still holds it; the
    columns to SET are the other keys of the parameters it is executed with."""
    ours = Source.lease_owner == owner
    return (
        update(Source)
        .where(Source.id == bindparam(_ID))
        .values(
            lease_owner=case((ours, None), else_=Source.lease_owner),
            lease_expires_at=case((ours, None), else_=Source.lease_expires_at),
        )
    )
