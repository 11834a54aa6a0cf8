"""Hand a message to the SMTP server: STARTTLS, implicit TLS or plain, with timeouts.

The conversation is spelled out (MAIL, RCPT, then DATA) instead of smtplib's sendmail so
that the caller can record "about to hand over" just before DATA. A failure before DATA
never delivered anything and may be retried; a failure after it without the server's
refusal is ambiguous (the message may have arrived), and DeliveryError says so.
"""

from __future__ import annotations

import email.policy
import smtplib
import socket
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import getaddresses

from monitor.digest.settings import SMTP_PASSWORD_ENV, SmtpConfig, mailbox_address
from monitor.errors import MonitorError

SMTP_TIMEOUT = 30.0  # seconds, for the connection and for every reply


class DeliveryError(MonitorError):
    """The server did not take the message. ``may_have_arrived``: the failure came while
    the message was being handed over, so sending it again could deliver it twice."""

    def __init__(self, message: str, *, may_have_arrived: bool = False) -> None:
        super().__init__(message)
        self.may_have_arrived = may_have_arrived


def _nothing() -> None:
    return None


def send_message(
    smtp: SmtpConfig,
    message: EmailMessage,
    *,
    password: str | None = None,
    before_data: Callable[[], None] = _nothing,
    timeout: float = SMTP_TIMEOUT,
) -> None:
    """Deliver to the message's To addresses, or raise DeliveryError.

    ``before_data`` runs after the server accepted sender and recipients, just before
    the message itself is sent; whatever it raises aborts the delivery unsent.
    """
    if smtp.username and not password:
        raise DeliveryError(f"smtp.username is set but {SMTP_PASSWORD_ENV} is not")
    sender = mailbox_address(smtp.from_)
    recipients = [address for _, address in getaddresses(message.get_all("To", []))]
    body = message.as_bytes(policy=email.policy.SMTP)
    handed_over = False
    client: smtplib.SMTP | None = None
    try:
        client = _connect(smtp, timeout)
        if smtp.username:
            client.login(smtp.username, password or "")
        _envelope(client, sender, recipients)
        before_data()
        handed_over = True
        code, reply = client.data(body)  # raises SMTPDataError only for a refused DATA
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
    except (smtplib.SMTPException, OSError) as exc:
        refused = isinstance(exc, smtplib.SMTPResponseException)
        ambiguous = handed_over and not refused
        raise DeliveryError(_reason(smtp, exc, timeout), may_have_arrived=ambiguous) from None
    finally:
        if client is not None:
            _quit(client)


def _connect(smtp: SmtpConfig, timeout: float) -> smtplib.SMTP:
    """A greeted connection, encrypted unless security = "none". STARTTLS that the
    server does not offer is an error, never a quiet fall-back to plain text."""
    context = ssl.create_default_context(cafile=smtp.ca_file)
    if smtp.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=timeout, context=context
        )
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
    try:
        client.ehlo()
        if smtp.security == "starttls":
            client.starttls(context=context)
            client.ehlo()
    except BaseException:
        _quit(client)
        raise
    return client


def _envelope(client: smtplib.SMTP, sender: str, recipients: list[str]) -> None:
    code, reply = client.mail(sender)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused = {}
    for recipient in recipients:
        code, reply = client.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, reply)
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)


def _quit(client: smtplib.SMTP) -> None:
    """Say goodbye; a server that hangs up rudely after taking the message is no failure."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _reason(smtp: SmtpConfig, exc: BaseException, timeout: float) -> str:
    """One line a person understands, naming the server."""
    where = f"SMTP {smtp.host}:{smtp.port}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        first = next(iter(exc.recipients.items()), None)
        if first is not None:
            address, (code, reply) = first
            return f"{where}: recipient {address} refused: {code} {_text(reply)}"
    if isinstance(exc, smtplib.SMTPNotSupportedError) or (
        isinstance(exc, smtplib.SMTPException) and "STARTTLS" in str(exc)
    ):
        return f"{where}: the server does not offer STARTTLS (set smtp.security)"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{where}: {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where}: connection refused"
    if isinstance(exc, socket.timeout | TimeoutError):
        return f"{where}: no answer within {timeout:g} s"
    if isinstance(exc, ssl.SSLError):
        return f"{where}: TLS failed: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror):
        return f"{where}: cannot resolve the host: {exc.strerror}"
    return f"{where}: {type(exc).__name__}: {exc}".rstrip(": ")


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())
