"""Which digests are due, and sending each exactly once, with several workers or none.

Every period is a row in `digests`, unique per (recipient, period_end), written before
anything is sent; so two workers cannot both create one, and a period missed while the
service was down is created on its return, from the end of the last period to now.

Sending a row takes three conditional UPDATEs, each its own transaction:
  claim      pending/failed, due, lease free → leased to this call (attempts + 1)
  hand over  still leased to us → state 'sending', just before SMTP DATA
  record     still ours → 'sent', or 'failed' with a back-off, or given up
A worker whose lease ran out, or that lost its claim, aborts before DATA; a crash before
DATA leaves a lease that expires and the row is retried; a crash during DATA leaves
'sending', which is never retried (the message may have arrived) but marked 'failed'
with the reason. SMTP has no way to do better: the gap is the milliseconds between
the server's reply to DATA and our commit.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import Update

from monitor.digest.build import build_digest
from monitor.digest.render import message_id, render, to_email
from monitor.digest.send import DeliveryError, send_message
from monitor.digest.settings import SMTP_PASSWORD_ENV, DigestConfig, RecipientConfig, SmtpConfig
from monitor.store.claims import claim, lease_free
from monitor.store.models import DigestRecord

log = logging.getLogger(__name__)

# A sender delivers a message; it calls its second argument just before SMTP DATA.
Sender = Callable[[EmailMessage, Callable[[], None]], None]

FIRST_PERIOD = timedelta(hours=24)  # what a recipient's first digest covers
LEASE = timedelta(minutes=10)  # longer than a whole SMTP conversation can take
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)
MAX_ATTEMPTS = 48  # about two days of hourly retries, then the period is given up
_CLAIMABLE = ("pending", "failed")


@dataclass(frozen=True, slots=True)
class DigestOutcome:
    """What one call did with one period: state is 'sent', 'skipped' (nothing to
    report), 'failed' (retried at next_attempt_at; given up when that is None)."""

    recipient: str
    period_start: datetime
    period_end: datetime
    state: str
    attempts: int
    message_id: str
    error: str | None = None
    next_attempt_at: datetime | None = None


def latest_slot(now: datetime, config: DigestConfig) -> datetime:
    """The most recent [digest] time at or before now, in its time zone, as UTC."""
    zone = config.zone
    local_day = now.astimezone(zone).date()
    for day in (local_day, local_day - timedelta(days=1)):
        slot = datetime.combine(day, config.local_time, tzinfo=zone)
        if slot <= now:
            return slot.astimezone(UTC)
    raise AssertionError("yesterday's slot is always in the past")  # pragma: no cover


def default_sender(smtp: SmtpConfig) -> Sender:
    """SMTP with the password from the environment (read now, never stored)."""
    password = os.environ.get(SMTP_PASSWORD_ENV)
    return lambda message, before_data: send_message(
        smtp, message, password=password, before_data=before_data
    )


def run_due_digests(
    sessions: sessionmaker[Session],
    digest: DigestConfig,
    smtp: SmtpConfig,
    now: datetime,
    *,
    sender: Sender | None = None,
) -> list[DigestOutcome]:
    """Create the periods due by ``now``, then send every due or retry-due one.

    Safe to call at any time, as often as wanted, from several processes: the
    scheduler calls it at [digest] time, and on start and on a short interval it
    catches up on missed periods and retries failures.
    """
    if now.tzinfo is None:
        raise ValueError("run_due_digests needs an aware datetime (UTC)")
    if not digest.recipients:
        return []
    end = latest_slot(now, digest)
    for recipient in digest.recipients:
        _ensure_period(sessions, recipient.email, end, now, smtp.from_)
    _give_up_interrupted(sessions, now)
    deliver = sender or default_sender(smtp)
    owner = f"digest-{uuid.uuid4().hex}"
    recipients = {r.email: r for r in digest.recipients}
    outcomes = []
    for row_id in _due(sessions, now, list(recipients)):
        if not _claim(sessions, row_id, owner, now):
            continue  # another worker took it
        outcome = _deliver(sessions, row_id, owner, recipients, digest, smtp, now, deliver)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def _ensure_period(
    sessions: sessionmaker[Session], recipient: str, end: datetime, now: datetime, sender: str
) -> None:
    """The row for (recipient, end), from the end of the recipient's last period (or a
    day before end). A concurrent creator wins the unique constraint; that is fine."""
    with sessions() as session:
        last = session.scalar(
            select(func.max(DigestRecord.period_end)).where(DigestRecord.recipient == recipient)
        )
    if last is not None and last >= end:
        return
    try:
        with sessions.begin() as session:
            session.add(
                DigestRecord(
                    recipient=recipient,
                    period_start=last or end - FIRST_PERIOD,
                    period_end=end,
                    state="pending",
                    attempts=0,
                    next_attempt_at=end,
                    message_id=message_id(recipient, end, sender),
                    created_at=now,
                )
            )
    except IntegrityError:
        log.debug("digest %s %s was created by another worker", recipient, end)


def _execute(sessions: sessionmaker[Session], statement: Update) -> int:
    """One conditional UPDATE in its own transaction; how many rows it changed."""
    with sessions.begin() as session:
        result = session.execute(statement, execution_options={"synchronize_session": False})
        assert isinstance(result, CursorResult)
        return result.rowcount


def _give_up_interrupted(sessions: sessionmaker[Session], now: datetime) -> None:
    """A row left 'sending' by a worker that died mid-DATA: never resent, but said."""
    count = _execute(
        sessions,
        update(DigestRecord)
        .where(DigestRecord.state == "sending", DigestRecord.lease_expires_at < now)
        .values(
            state="failed",
            next_attempt_at=None,
            last_error="interrupted while the message was handed to the server; "
            "not sent again, as it may have arrived",
        ),
    )
    if count:
        log.warning("%d digest(s) were interrupted while being sent; not resent", count)


def _due(sessions: sessionmaker[Session], now: datetime, recipients: Sequence[str]) -> list[int]:
    with sessions() as session:
        query = (
            select(DigestRecord.id)
            .where(
                DigestRecord.recipient.in_(recipients),
                DigestRecord.state.in_(_CLAIMABLE),
                DigestRecord.next_attempt_at <= now,
                lease_free(DigestRecord, now),
            )
            .order_by(DigestRecord.period_end, DigestRecord.id)
        )
        return list(session.scalars(query))


def _claim(sessions: sessionmaker[Session], row_id: int, owner: str, now: datetime) -> bool:
    """Lease the row to ``owner`` if it is still due and free: exactly one caller wins.
    One row at a time: a period is claimed just before it is sent, so the others wait for
    whichever worker is free first instead of one worker's queue."""
    with sessions.begin() as session:
        won = claim(
            session,
            DigestRecord,
            [
                DigestRecord.id == row_id,
                DigestRecord.state.in_(_CLAIMABLE),
                DigestRecord.next_attempt_at <= now,
            ],
            owner=owner,
            now=now,
            until=now + LEASE,
            values={"attempts": DigestRecord.attempts + 1},
        )
    return bool(won)


class _LeaseLost(Exception):
    """Another worker claimed the row after our lease ran out: it sends, we do not."""


def _ours(row_id: int, owner: str) -> Update:
    return update(DigestRecord).where(DigestRecord.id == row_id, DigestRecord.lease_owner == owner)


def _deliver(
    sessions: sessionmaker[Session],
    row_id: int,
    owner: str,
    recipients: dict[str, RecipientConfig],
    config: DigestConfig,
    smtp: SmtpConfig,
    now: datetime,
    sender: Sender,
) -> DigestOutcome | None:
    """Build, render and send one claimed period, and record how it went."""
    with sessions() as session:
        row = session.get(DigestRecord, row_id)
        assert row is not None
        try:
            content = build_digest(
                session,
                row.recipient,
                recipients[row.recipient].topics,
                row.period_start,
                row.period_end,
                config.timezone,
            )
        except Exception as exc:
            log.exception("digest for %s could not be built", row.recipient)
            return _failed(sessions, row, owner, now, f"could not build the digest: {exc}")
    if content.empty and not config.send_empty:
        _execute(sessions, _ours(row_id, owner).values(state="skipped", lease_expires_at=None))
        log.info("digest for %s: nothing to report, not sent", row.recipient)
        return _outcome(row, "skipped")
    message = to_email(
        render(content),
        sender=smtp.from_,
        recipient=row.recipient,
        message_id=row.message_id,
        date=now,
    )

    def hand_over() -> None:
        claimable = DigestRecord.state.in_(_CLAIMABLE)
        if _execute(sessions, _ours(row_id, owner).where(claimable).values(state="sending")) != 1:
            raise _LeaseLost

    try:
        sender(message, hand_over)
    except _LeaseLost:
        log.info("digest for %s is being sent by another worker", row.recipient)
        return None
    except DeliveryError as exc:
        return _failed(sessions, row, owner, now, str(exc), give_up=exc.may_have_arrived)
    except Exception as exc:
        log.exception("digest for %s: sending failed", row.recipient)
        return _failed(sessions, row, owner, now, f"{type(exc).__name__}: {exc}")
    _execute(
        sessions,
        _ours(row_id, owner).values(
            state="sent", sent_at=now, last_error=None, next_attempt_at=None, lease_expires_at=None
        ),
    )
    log.info("digest for %s sent: %s", row.recipient, message["Subject"])
    return _outcome(row, "sent")


def retry_delay(attempts: int) -> timedelta:
    """1 min after the first failure, doubling, at most an hour."""
    return min(RETRY_MAX, RETRY_FIRST * (1 << min(max(0, attempts - 1), 16)))


def _failed(
    sessions: sessionmaker[Session],
    row: DigestRecord,
    owner: str,
    now: datetime,
    error: str,
    *,
    give_up: bool = False,
) -> DigestOutcome:
    """Record a failed attempt: retried after a back-off, or given up (next_attempt_at
    None) when the message may have arrived or after MAX_ATTEMPTS."""
    give_up = give_up or row.attempts >= MAX_ATTEMPTS
    retry_at = None if give_up else now + retry_delay(row.attempts)
    _execute(
        sessions,
        _ours(row.id, owner).values(
            state="failed", last_error=error, next_attempt_at=retry_at, lease_expires_at=None
        ),
    )
    if retry_at is None:
        log.error(
            "digest for %s given up after %d attempts: %s", row.recipient, row.attempts, error
        )
    else:
        log.warning(
            "digest for %s failed (attempt %d), retry at %s: %s",
            row.recipient,
            row.attempts,
            retry_at.isoformat(),
            error,
        )
    return _outcome(row, "failed", error, retry_at)


def _outcome(
    row: DigestRecord, state: str, error: str | None = None, retry_at: datetime | None = None
) -> DigestOutcome:
    return DigestOutcome(
        recipient=row.recipient,
        period_start=row.period_start,
        period_end=row.period_end,
        state=state,
        attempts=row.attempts,
        message_id=row.message_id,
        error=error,
        next_attempt_at=retry_at,
    )
