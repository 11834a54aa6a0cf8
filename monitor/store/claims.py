"""Leases: how workers share sources, stories, digest periods and alert deliveries without
doing one twice.

A row is leased when `lease_owner` names a worker and `lease_expires_at` is in the future.
Claiming is one conditional UPDATE … RETURNING: it sets the lease only where the lease is free
(none, or expired) and the row is still wanted (due, pending…) at the moment it runs, and
returns the rows it changed, which are the rows won. Two workers racing for a row cannot both
change it: SQLite runs each UPDATE under its write lock, PostgreSQL re-checks the condition on
the newest version of a row another transaction updated. The SELECT that picks candidates
first decides nothing; on PostgreSQL it takes them with FOR UPDATE SKIP LOCKED, so concurrent
workers pick different rows instead of queueing behind each other's locks.

Whoever holds a lease ends it when the work is written (see source_state.py, the pipeline's
re-checks, the digest's runs), extends it while work takes long (`renew_leases`), or loses it
when it expires: another worker may then claim the row again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ColumnExpressionArgument, Row, or_, select, update
from sqlalchemy.orm import Session

from monitor.store.models import AlertDelivery, DigestRecord, Source, Story

Leased = type[Source] | type[Story] | type[DigestRecord] | type[AlertDelivery]
"""The tables whose rows are leased: each has `id`, `lease_owner`, `lease_expires_at`."""

ATTEMPTS = 5  # candidate picks a claim tries when others keep winning what it picked


def lease_free(model: Leased, now: datetime) -> ColumnElement[bool]:
    """No worker holds the row at `now`: never leased, released, or its lease ran out."""
    return or_(model.lease_expires_at.is_(None), model.lease_expires_at < now)


def claim(
    session: Session,
    model: Leased,
    wanted: Sequence[ColumnElement[bool]],
    *,
    owner: str,
    now: datetime,
    until: datetime,
    order_by: Sequence[ColumnExpressionArgument[Any]] = (),
    limit: int | None = None,
    returning: Sequence[ColumnExpressionArgument[Any]] = (),
    values: Mapping[str, Any] | None = None,
) -> list[Row[Any]]:
    """Lease to `owner` until `until` up to `limit` rows that match `wanted` and are free at
    `now`, first in `order_by`; set `values` on them too. Returns one row per row won, in
    that order: its id, then the `returning` columns as the UPDATE left them.

    Only rows this call's UPDATE changed are returned, so a row another worker won in the
    meantime is never in two workers' hands. If others won every candidate, fresh ones are
    picked (a few times at most): an empty answer means nothing was left to claim, as far
    as this worker could tell, and the caller's pass may end.
    """
    for _ in range(ATTEMPTS):
        candidates = select(model.id).where(lease_free(model, now), *wanted).order_by(*order_by)
        if limit is not None:
            candidates = candidates.limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        ids = list(session.scalars(candidates))
        if not ids:
            return []
        won = session.execute(
            update(model)
            .where(model.id.in_(ids), lease_free(model, now), *wanted)
            .values(lease_owner=owner, lease_expires_at=until, **(values or {}))
            .returning(model.id, *returning)
            .execution_options(synchronize_session=False)
        ).all()
        if won:
            order = {row_id: position for position, row_id in enumerate(ids)}
            return sorted(won, key=lambda row: order[row[0]])
    return []


def renew_leases(
    session: Session, model: Leased, owner: str, ids: Iterable[int], until: datetime
) -> set[int]:
    """Extend to `until` the leases `owner` still holds on these rows; returns their ids.

    Work that outlasts its lease (a slow source with many articles) renews it instead of
    letting another worker take the row over. A row missing from the answer was taken over
    (or released): its work should stop without writing. A lease that ran out but that no one
    took over yet is still the owner's and is renewed; a claim racing with the renewal re-checks
    the lease in its UPDATE, so only one of them wins.
    """
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return set()
    held = session.scalars(
        update(model)
        .where(model.id.in_(wanted), model.lease_owner == owner)
        .values(lease_expires_at=until)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    return set(held)
