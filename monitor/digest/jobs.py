"""The service's digest jobs: one at [digest] time in its time zone, one every few
minutes that catches up on missed periods and retries failed sends.

Both call run_due_digests, which keeps all state in the database, so the scheduler's
own state never matters: a tick that fires twice, late, or in two processes sends
nothing twice. SMTP and the database are blocking, so a tick runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.orm import Session, sessionmaker

from monitor.digest.run import Sender, run_due_digests
from monitor.digest.settings import DigestConfig, SmtpConfig

log = logging.getLogger(__name__)

CATCH_UP_EVERY = timedelta(minutes=5)


class DigestJobs:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        digest: DigestConfig,
        smtp: SmtpConfig,
        *,
        sender: Sender | None = None,
    ) -> None:
        self.sessions = sessions
        self.digest = digest
        self.smtp = smtp
        self.sender = sender
        self.busy = asyncio.Lock()

    async def tick(self) -> None:
        """Send what is due; a failure is logged and the next tick tries again."""
        if self.busy.locked():
            return  # the other job is at it
        async with self.busy:
            try:
                await asyncio.to_thread(
                    run_due_digests,
                    self.sessions,
                    self.digest,
                    self.smtp,
                    datetime.now(UTC),
                    sender=self.sender,
                )
            except Exception:
                log.exception("digest tick failed; the next tick tries again")

    def schedule(self, scheduler: Any) -> None:
        """Add both jobs to an APScheduler 3 scheduler (nothing without recipients)."""
        if not self.digest.recipients:
            return
        at = self.digest.local_time
        scheduler.add_job(
            self.tick,
            CronTrigger(hour=at.hour, minute=at.minute, timezone=self.digest.zone),
            id="digest",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,  # late is better than never: run_due_digests catches up
        )
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=CATCH_UP_EVERY.total_seconds(),
            next_run_time=datetime.now(UTC),  # at start: a period missed while down
            id="digest-catch-up",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(CATCH_UP_EVERY.total_seconds()),
        )

    async def wait_idle(self) -> None:
        """For a clean stop: the digest being sent is finished, not cut off mid-DATA."""
        async with self.busy:
            return
