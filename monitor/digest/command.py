"""`monitor digest`: preview a digest for any window, or send it now, outside the schedule.

A preview sends nothing. A send from here is deliberate and ad hoc: it is not recorded
in the digests table and does not move any recipient's scheduled period.
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from monitor.digest.build import build_digest
from monitor.digest.render import render, to_email
from monitor.digest.run import Sender, default_sender
from monitor.digest.settings import (
    DigestConfig,
    SmtpConfig,
    check_address,
    mailbox_address,
)
from monitor.errors import MonitorError

PREVIEW_SUFFIXES = (".eml", ".html", ".txt")


class UsageError(MonitorError):
    """Arguments that cannot work together (exit 2, like a bad configuration)."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class DigestCommandResult:
    """What the command did: the messages built, whether they were sent, and where a
    preview went (``preview`` holds the .eml text when no file was given)."""

    messages: tuple[EmailMessage, ...]
    sent: bool
    written: Path | None = None
    preview: str | None = None


def _recipients(config: DigestConfig, to: str | None) -> list[tuple[str, list[str]]]:
    """--to (with its configured topics, if it is a configured recipient), else every
    configured recipient."""
    if to is not None:
        try:
            address = check_address(to)
        except ValueError as exc:
            raise UsageError(f"--to: {exc}") from None
        topics = next((r.topics for r in config.recipients if r.email == address), [])
        return [(address, list(topics))]
    if not config.recipients:
        raise UsageError("no recipients: add [[digest.recipients]] to the config or pass --to")
    return [(r.email, list(r.topics)) for r in config.recipients]


def preview_or_send(
    sessions: sessionmaker[Session],
    digest: DigestConfig,
    smtp: SmtpConfig,
    *,
    now: datetime,
    since: datetime,
    to: str | None = None,
    send: bool = False,
    out: Path | None = None,
    sender: Sender | None = None,
) -> DigestCommandResult:
    """The digest of [since, now). Without ``send``: the first recipient's message is
    written to ``out`` (.eml whole, .html or .txt one part) or returned as .eml text.
    With ``send``: one message to each recipient, through SMTP (or ``sender``)."""
    if send and out is not None:
        raise UsageError("--send and --out do not go together")
    if out is not None and out.suffix.lower() not in PREVIEW_SUFFIXES:
        raise UsageError(f"--out: {out.name} should end in .eml, .html or .txt")
    if since >= now:
        raise UsageError("--since must be in the past")
    chosen = _recipients(digest, to)
    if not send:
        chosen = chosen[:1]
    domain = mailbox_address(smtp.from_).rpartition("@")[2] or None
    messages = []
    for address, topics in chosen:
        with sessions() as session:
            content = build_digest(session, address, topics, since, now, digest.timezone)
        message = to_email(
            render(content),
            sender=smtp.from_,
            recipient=address,
            message_id=make_msgid("digest", domain=domain),
            date=now,
        )
        messages.append(message)
    if send:
        deliver = sender or default_sender(smtp)
        for message in messages:
            deliver(message, lambda: None)
        return DigestCommandResult(messages=tuple(messages), sent=True)
    message = messages[0]
    if out is None:
        return DigestCommandResult((message,), sent=False, preview=message.as_string())
    _write(message, out)
    return DigestCommandResult((message,), sent=False, written=out)


def _write(message: EmailMessage, out: Path) -> None:
    suffix = out.suffix.lower()
    try:
        if suffix == ".eml":
            out.write_bytes(message.as_bytes(policy=email.policy.SMTP))
            return
        subtype = "html" if suffix == ".html" else "plain"
        part = message.get_body(preferencelist=(subtype,))
        assert isinstance(part, EmailMessage)
        out.write_text(part.get_content(), encoding="utf-8")
    except OSError as exc:
        raise MonitorError(f"{out}: cannot write: {exc.strerror}") from None
