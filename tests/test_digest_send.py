"""Digests through a real SMTP server on loopback: sent once, retried, caught up, previewed."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.digest import run as digest_run
from monitor.digest.command import UsageError, preview_or_send
from monitor.digest.run import latest_slot, retry_delay, run_due_digests
from monitor.digest.send import DeliveryError, send_message
from monitor.digest.settings import DigestConfig, RecipientConfig, SmtpConfig
from monitor.store import db
from monitor.store.models import DigestRecord
from tests.support.certificates import Certificate, self_signed
from tests.test_digest_build import BEFORE, CHIPS_V1, CHIPS_V2, DURING, END, Room

pytestmark = pytest.mark.integration

DESK = "desk@example.org"
SENT_AT = END + timedelta(minutes=3)  # the cron job fires a little after 07:00


def free_port() -> int:
    """aiosmtpd's Controller cannot bind port 0, so pick a free port first."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Inbox:
    """What the SMTP server received: envelopes and parsed messages."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse_data: int = 0  # refuse this many DATA commands with a 451 first
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.refuse_data:
                self.refuse_data -= 1
                return "451 4.3.0 try again later"
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 queued"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class SmtpServer:
    def __init__(self, port: int | None = None, **smtp_options: Any) -> None:
        self.port = port or free_port()
        self.inbox = Inbox()
        self.controller = Controller(
            self.inbox, hostname="127.0.0.1", port=self.port, **smtp_options
        )

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def room(db_url: str) -> Iterator[Room]:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    try:
        yield Room(db.session_factory(engine))
    finally:
        engine.dispose()


def smtp_config(port: int, **overrides: Any) -> SmtpConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": "monitor <monitor@example.org>",
    }
    return SmtpConfig.model_validate(values | overrides)


def digest_config(*emails: str, **overrides: Any) -> DigestConfig:
    recipients = [RecipientConfig(email=e) for e in emails or (DESK,)]
    return DigestConfig(time="07:00", timezone="UTC", recipients=recipients, **overrides)


def rows(sessions: sessionmaker[Session]) -> list[DigestRecord]:
    with sessions() as session:
        return list(session.scalars(select(DigestRecord).order_by(DigestRecord.id)))


def newsroom(room: Room) -> None:
    """A day of coverage: a story and two copies, a hostile headline, an edit, a removal."""
    original = room.story("Chip rules widen", outlet="Reuters")
    room.story("Chip rules widen", outlet="The Verge", copy_of=original)
    room.story("Chip rules widen", outlet="Ars Technica", copy_of=original)
    room.story("<script>alert(1)</script>\r\nBcc: spy@evil.example", outlet="Wire")
    edited = room.story("Commerce tightens chip exports", seen=BEFORE, text=CHIPS_V1)
    room.edit(edited, DURING, "US tightens chip exports", CHIPS_V2, "headline")
    gone = room.story("Chipmaker denies report", seen=BEFORE)
    room.edit(gone, DURING, "Chipmaker denies report", "", "removed")


# ---------------------------------------------------------------- sending once


def test_due_digest_is_sent_once_grouped_diffed_and_escaped(
    room: Room, smtp_server: SmtpServer
) -> None:
    newsroom(room)
    smtp = smtp_config(smtp_server.port)

    (outcome,) = run_due_digests(room.sessions, digest_config(), smtp, SENT_AT)

    assert outcome.state == "sent" and outcome.error is None
    assert (outcome.period_start, outcome.period_end) == (END - timedelta(days=1), END)
    (message,) = smtp_server.inbox.messages
    assert smtp_server.inbox.envelopes == [("monitor@example.org", [DESK])]
    assert message["Subject"] == "monitor: 2 new, 1 changed, 1 removed — 22 Nov 2026"
    assert message["Message-ID"] == outcome.message_id
    assert message["Bcc"] is None
    assert message.get_content_type() == "multipart/alternative"
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    assert isinstance(text_part, EmailMessage) and isinstance(html_part, EmailMessage)
    text = text_part.get_content().replace("\r\n", "\n")
    page = html_part.get_content()
    assert "* Chip rules widen\n  Reuters · https://news.example/1\n" in text
    assert "also: The Verge, Ars Technica" in text
    assert "* <script>alert(1)</script> Bcc: spy@evil.example" in text  # one line, literal
    assert "Headline: [-Commerce-] {+US+} tightens chip exports" in text
    assert "[-a longer list of-] {+forty-three+}" in text
    assert "Removed\n* Chipmaker denies report" in text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Bcc: spy@evil.example" in page
    assert ">forty-three</ins>" in page and ">a longer list of</del>" in page
    assert 'href="https://news.example/1"' in page
    (row,) = rows(room.sessions)
    assert (row.state, row.attempts, row.sent_at) == ("sent", 1, SENT_AT)

    # Later ticks, and a restart (a new engine: nothing kept in memory), send nothing more.
    assert run_due_digests(room.sessions, digest_config(), smtp, SENT_AT) == []
    assert run_due_digests(room.sessions, digest_config(), smtp, SENT_AT + timedelta(hours=5)) == []
    engine = db.make_engine(str(room.sessions.kw["bind"].url.render_as_string(False)))
    try:
        again = db.session_factory(engine)
        assert run_due_digests(again, digest_config(), smtp, SENT_AT + timedelta(hours=6)) == []
    finally:
        engine.dispose()
    assert len(smtp_server.inbox.messages) == 1


def test_two_workers_at_once_send_each_period_once(room: Room, smtp_server: SmtpServer) -> None:
    newsroom(room)
    emails = [f"reader{i}@example.org" for i in range(6)]
    config, smtp = digest_config(*emails), smtp_config(smtp_server.port)
    url = room.sessions.kw["bind"].url.render_as_string(False)
    start = threading.Barrier(2)
    results: list[list[Any]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        engine = db.make_engine(url)  # like a second process: its own engine and pool
        try:
            start.wait()
            results.append(run_due_digests(db.session_factory(engine), config, smtp, SENT_AT))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(o.recipient for result in results for o in result) == sorted(emails)
    assert sorted(m["To"] for m in smtp_server.inbox.messages) == sorted(emails)
    assert [(r.state, r.attempts) for r in rows(room.sessions)] == [("sent", 1)] * len(emails)


def test_a_missed_period_is_sent_once_covering_the_gap(room: Room, smtp_server: SmtpServer) -> None:
    smtp = smtp_config(smtp_server.port)
    room.story("Before the outage")
    (first,) = run_due_digests(room.sessions, digest_config(), smtp, SENT_AT)
    assert first.state == "sent"
    # The service is down for three days; stories keep arriving (another worker polls).
    for day in (1, 2, 3):
        room.story(f"Day {day} story", seen=END + timedelta(days=day - 1, hours=5))
    back = END + timedelta(days=3, hours=2, minutes=30)

    (caught_up,) = run_due_digests(room.sessions, digest_config(), smtp, back)

    assert (caught_up.period_start, caught_up.period_end) == (END, END + timedelta(days=3))
    assert run_due_digests(room.sessions, digest_config(), smtp, back + timedelta(hours=1)) == []
    _, gap_message = smtp_server.inbox.messages
    text = gap_message.get_body(preferencelist=("plain",))
    assert isinstance(text, EmailMessage)
    body = text.get_content()
    assert all(f"Day {day} story" in body for day in (1, 2, 3))
    assert "Before the outage" not in body
    assert gap_message["Subject"] == "monitor: 3 new — 25 Nov 2026"


def test_refused_connection_is_retried_with_back_off(room: Room) -> None:
    newsroom(room)
    port = free_port()  # nothing listens there yet
    smtp, config = smtp_config(port), digest_config()

    (failed,) = run_due_digests(room.sessions, config, smtp, SENT_AT)

    assert failed.state == "failed"
    assert failed.error == f"SMTP 127.0.0.1:{port}: connection refused"
    assert failed.next_attempt_at == SENT_AT + timedelta(minutes=1)
    (row,) = rows(room.sessions)
    assert (row.state, row.attempts, row.last_error) == ("failed", 1, failed.error)
    assert run_due_digests(room.sessions, config, smtp, SENT_AT + timedelta(seconds=30)) == []

    (again,) = run_due_digests(room.sessions, config, smtp, SENT_AT + timedelta(minutes=1))
    assert again.next_attempt_at == SENT_AT + timedelta(minutes=3)  # twice as long

    with SmtpServer(port) as server:
        (sent,) = run_due_digests(room.sessions, config, smtp, SENT_AT + timedelta(minutes=3))
        assert run_due_digests(room.sessions, config, smtp, SENT_AT + timedelta(hours=1)) == []
    assert (sent.state, sent.attempts, sent.message_id) == ("sent", 3, failed.message_id)
    assert len(server.inbox.messages) == 1


def test_a_server_refusing_data_is_retried(room: Room, smtp_server: SmtpServer) -> None:
    newsroom(room)
    smtp_server.inbox.refuse_data = 1
    smtp = smtp_config(smtp_server.port)

    (failed,) = run_due_digests(room.sessions, digest_config(), smtp, SENT_AT)
    (sent,) = run_due_digests(room.sessions, digest_config(), smtp, SENT_AT + timedelta(hours=1))

    assert failed.state == "failed" and "451 4.3.0 try again later" in (failed.error or "")
    assert sent.state == "sent"
    assert len(smtp_server.inbox.messages) == 1


def test_nothing_to_report_is_not_sent_unless_asked(room: Room, smtp_server: SmtpServer) -> None:
    smtp = smtp_config(smtp_server.port)

    (skipped,) = run_due_digests(room.sessions, digest_config(), smtp, SENT_AT)
    assert skipped.state == "skipped" and smtp_server.inbox.messages == []

    config = digest_config(send_empty=True)
    (sent,) = run_due_digests(room.sessions, config, smtp, SENT_AT + timedelta(days=1))
    assert sent.state == "sent"
    assert sent.period_start == END  # the skipped period still counts as covered
    (message,) = smtp_server.inbox.messages
    assert message["Subject"] == "monitor: nothing new — 23 Nov 2026"


def test_a_recipient_only_gets_their_topics(room: Room, smtp_server: SmtpServer) -> None:
    room.story("About chips", topics=["chips"])
    room.story("About stargate", topics=["stargate"])
    config = DigestConfig(
        recipients=[
            RecipientConfig(email="chips@example.org", topics=["chips"]),
            RecipientConfig(email="all@example.org"),
        ]
    )

    run_due_digests(room.sessions, config, smtp_config(smtp_server.port), SENT_AT)

    (chips,) = smtp_server.inbox.to("chips@example.org")
    (every,) = smtp_server.inbox.to("all@example.org")
    assert chips["Subject"].startswith("monitor: 1 new")
    assert every["Subject"].startswith("monitor: 2 new")


# ---------------------------------------------------------------- crashes


class Crash(BaseException):
    """A process dying: not an Exception, so nothing on the way records it."""


def crashing_sender(after_handover: bool) -> Callable[[EmailMessage, Callable[[], None]], None]:
    def sender(message: EmailMessage, before_data: Callable[[], None]) -> None:
        if after_handover:
            before_data()
        raise Crash

    return sender


def test_a_crash_before_handing_over_is_retried_after_the_lease(
    room: Room, smtp_server: SmtpServer
) -> None:
    newsroom(room)
    smtp, config = smtp_config(smtp_server.port), digest_config()
    with pytest.raises(Crash):
        run_due_digests(room.sessions, config, smtp, SENT_AT, sender=crashing_sender(False))

    assert run_due_digests(room.sessions, config, smtp, SENT_AT + timedelta(minutes=1)) == []
    later = SENT_AT + digest_run.LEASE + timedelta(seconds=1)
    (sent,) = run_due_digests(room.sessions, config, smtp, later)

    assert (sent.state, sent.attempts) == ("sent", 2)
    assert len(smtp_server.inbox.messages) == 1


def test_a_crash_while_handing_over_is_never_resent(room: Room, smtp_server: SmtpServer) -> None:
    newsroom(room)
    smtp, config = smtp_config(smtp_server.port), digest_config()
    with pytest.raises(Crash):
        run_due_digests(room.sessions, config, smtp, SENT_AT, sender=crashing_sender(True))

    later = SENT_AT + digest_run.LEASE + timedelta(seconds=1)
    assert run_due_digests(room.sessions, config, smtp, later) == []

    (row,) = rows(room.sessions)
    assert (row.state, row.next_attempt_at) == ("failed", None)
    assert "may have arrived" in (row.last_error or "")
    assert smtp_server.inbox.messages == []
    tomorrow = run_due_digests(room.sessions, config, smtp, SENT_AT + timedelta(days=1))
    assert [o.period_start for o in tomorrow] == [END]  # the next period goes on


def test_a_worker_that_lost_its_claim_does_not_send(room: Room, smtp_server: SmtpServer) -> None:
    """A worker slower than its lease finds, just before DATA, that another took over."""
    newsroom(room)
    smtp, config = smtp_config(smtp_server.port), digest_config()
    later = SENT_AT + digest_run.LEASE + timedelta(seconds=1)
    taken: list[Any] = []

    def slow_sender(message: EmailMessage, before_data: Callable[[], None]) -> None:
        taken.extend(run_due_digests(room.sessions, config, smtp, later))  # the other worker
        before_data()
        send_message(smtp, message, before_data=before_data)

    assert run_due_digests(room.sessions, config, smtp, SENT_AT, sender=slow_sender) == []
    assert [o.state for o in taken] == ["sent"]
    assert len(smtp_server.inbox.messages) == 1


# ---------------------------------------------------------------- the SMTP client


def test_starttls_is_required_when_configured(room: Room, smtp_server: SmtpServer) -> None:
    newsroom(room)
    smtp = smtp_config(smtp_server.port, security="starttls")

    (failed,) = run_due_digests(room.sessions, digest_config(), smtp, SENT_AT)

    assert failed.state == "failed"
    assert "does not offer STARTTLS" in (failed.error or "")
    assert smtp_server.inbox.messages == []  # never falls back to plain text


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("tls"), "127.0.0.1", "IP:127.0.0.1")


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_to_a_relay_whose_certificate_the_ca_file_vouches_for(
    certificate: Certificate, security: str
) -> None:
    tls = (
        {"tls_context": certificate.server_context(), "require_starttls": True}
        if security == "starttls"
        else {"ssl_context": certificate.server_context()}
    )
    with SmtpServer(**tls) as server:
        smtp = smtp_config(server.port, security=security, ca_file=certificate.cert)
        send_message(smtp, _message())
        assert [m["Subject"] for m in server.inbox.messages] == ["TLS test"]

        # The system's certificate authorities do not know this one: refused, in one line.
        with pytest.raises(DeliveryError) as refused:
            send_message(smtp_config(server.port, security=security), _message())
        assert str(refused.value).startswith(f"SMTP 127.0.0.1:{server.port}: TLS failed: ")
        assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
        assert len(server.inbox.messages) == 1


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "monitor <monitor@example.org>"
    message["To"] = DESK
    message["Subject"] = "TLS test"
    message.set_content("Sent over TLS.")
    return message


def test_login_with_the_password_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, room: Room
) -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret", handled=False)

    newsroom(room)
    with SmtpServer(authenticator=authenticate, auth_require_tls=False) as server:
        smtp = smtp_config(server.port, username="monitor")
        monkeypatch.delenv("MONITOR_SMTP_PASSWORD", raising=False)
        (missing,) = run_due_digests(room.sessions, digest_config(), smtp, SENT_AT)
        monkeypatch.setenv("MONITOR_SMTP_PASSWORD", "wrong")
        (wrong,) = run_due_digests(
            room.sessions, digest_config(), smtp, SENT_AT + timedelta(hours=1)
        )
        monkeypatch.setenv("MONITOR_SMTP_PASSWORD", "s3cret")
        (sent,) = run_due_digests(
            room.sessions, digest_config(), smtp, SENT_AT + timedelta(hours=2)
        )

    assert "MONITOR_SMTP_PASSWORD is not" in (missing.error or "")
    assert "535" in (wrong.error or "")
    assert sent.state == "sent" and len(server.inbox.messages) == 1
    assert logins[-1] == (b"monitor", b"s3cret")


def test_send_message_reports_a_refused_connection_as_retryable() -> None:
    message = EmailMessage()
    message["To"] = DESK
    message.set_content("x")
    with pytest.raises(DeliveryError, match="connection refused") as caught:
        send_message(smtp_config(free_port()), message, timeout=5)
    assert caught.value.may_have_arrived is False


# ---------------------------------------------------------------- scheduling


def test_latest_slot_in_the_configured_time_zone() -> None:
    london = DigestConfig(time="07:00", timezone="Europe/London")
    summer = datetime(2026, 7, 1, 6, 30, tzinfo=UTC)  # 07:30 BST
    assert latest_slot(summer, london) == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)
    winter = datetime(2026, 12, 1, 6, 59, tzinfo=UTC)  # 06:59 GMT: yesterday's slot
    assert latest_slot(winter, london) == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    exact = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    assert latest_slot(exact, london) == exact


def test_retry_delay_doubles_up_to_an_hour() -> None:
    delays = [retry_delay(n) for n in range(1, 10)]
    assert delays[:4] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert max(delays) == timedelta(hours=1) == retry_delay(10_000)


def test_a_removed_recipient_is_not_sent_a_pending_period(
    room: Room, smtp_server: SmtpServer
) -> None:
    newsroom(room)
    down = smtp_config(free_port())  # nothing listens: the row stays due for a retry
    run_due_digests(room.sessions, digest_config("gone@example.org"), down, SENT_AT)
    smtp = smtp_config(smtp_server.port)

    outcomes = run_due_digests(
        room.sessions, digest_config(DESK), smtp, SENT_AT + timedelta(hours=1)
    )

    assert [o.recipient for o in outcomes] == [DESK]
    assert smtp_server.inbox.to("gone@example.org") == []


# ---------------------------------------------------------------- monitor digest


def test_preview_writes_files_and_sends_nothing(
    room: Room, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    newsroom(room)
    smtp, config = smtp_config(smtp_server.port), digest_config()
    since = END - timedelta(days=1)

    shown = preview_or_send(room.sessions, config, smtp, now=END, since=since)
    eml = tmp_path / "digest.eml"
    preview_or_send(room.sessions, config, smtp, now=END, since=since, out=eml)
    page = tmp_path / "digest.html"
    preview_or_send(room.sessions, config, smtp, now=END, since=since, out=page)

    assert shown.preview is not None and shown.preview.startswith(("Subject:", "Content-Type:"))
    assert "Subject: monitor: 2 new, 1 changed, 1 removed" in shown.preview
    parsed = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert smtp_server.inbox.messages == [] and rows(room.sessions) == []


def test_send_now_goes_to_the_address_given_and_is_not_recorded(
    room: Room, smtp_server: SmtpServer
) -> None:
    newsroom(room)
    smtp, config = smtp_config(smtp_server.port), digest_config()

    result = preview_or_send(
        room.sessions,
        config,
        smtp,
        now=END,
        since=END - timedelta(hours=24),
        to="me@example.org",
        send=True,
    )

    assert result.sent
    assert [m["To"] for m in smtp_server.inbox.messages] == ["me@example.org"]
    assert rows(room.sessions) == []  # the scheduled digest is still due


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"to": "me@example.org\r\nBcc: spy@evil.example"}, "--to"),
        ({"to": "not an address"}, "--to"),
        ({"send": True, "out": Path("x.eml")}, "do not go together"),
        ({"out": Path("x.pdf")}, r"\.eml, \.html or \.txt"),
    ],
)
def test_command_refuses_bad_arguments(
    room: Room, smtp_server: SmtpServer, arguments: dict[str, Any], message: str
) -> None:
    smtp, config = smtp_config(smtp_server.port), digest_config()
    with pytest.raises(UsageError, match=message):
        preview_or_send(
            room.sessions, config, smtp, now=END, since=END - timedelta(days=1), **arguments
        )
    assert smtp_server.inbox.messages == []


# ---------------------------------------------------------------- the service's jobs


def test_service_jobs_fire_at_local_time_and_send_once(room: Room, smtp_server: SmtpServer) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from monitor.digest.jobs import DigestJobs

    config = DigestConfig(
        time="07:00", timezone="America/New_York", recipients=[RecipientConfig(email=DESK)]
    )
    slot = latest_slot(datetime.now(UTC), config)
    room.story("Fresh story", seen=slot - timedelta(hours=1))
    jobs = DigestJobs(room.sessions, config, smtp_config(smtp_server.port))

    async def main() -> datetime:
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=UTC)
        jobs.schedule(scheduler)
        assert {job.id for job in scheduler.get_jobs()} == {"digest", "digest-catch-up"}
        await asyncio.gather(jobs.tick(), jobs.tick())  # both jobs firing together
        await jobs.tick()
        fire: datetime = scheduler.get_job("digest").trigger.get_next_fire_time(
            None, datetime.now(UTC)
        )
        return fire

    fire = asyncio.run(main())

    local = fire.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (7, 0)
    (message,) = smtp_server.inbox.messages
    assert message["Subject"].startswith("monitor: 1 new")
