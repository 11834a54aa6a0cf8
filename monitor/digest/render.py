"""Digest → subject, plain text and HTML, and → an EmailMessage. Pure: no I/O but the
templates, which ship inside the package.

HTML is autoescaped by Jinja2 (every template ending in .html), and hrefs are limited
to http(s) URLs, so a headline like ``<script>`` is text and a ``javascript:`` link is no
link. Headers are set through the email package's default policy, which refuses line
breaks in any header value: a recipient or sender with CR/LF cannot inject headers.
"""

from __future__ import annotations

import email.policy
import functools
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from monitor.digest.content import Digest, NewItem, Snippet
from monitor.digest.settings import (
    check_address,
    check_mailbox,
    mailbox_address,
    mailbox_header,
)

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_PLAIN = {"equal": "{}", "ellipsis": "{}", "delete": "[-{}-]", "insert": "{{+{}+}}"}


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("monitor.digest", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(plain=plain, also=also_line, href=safe_href)
    return env


def _day(moment: datetime) -> str:
    """'22 Nov 2026', the same in every locale."""
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def _when(moment: datetime) -> str:
    """'Sat 21 Nov 2026 07:00'."""
    return f"{_WEEKDAYS[moment.weekday()]} {_day(moment)} {moment:%H:%M}"


def counts(digest: Digest) -> str:
    """'12 new, 3 changed, 1 removed' (only the lists that have something)."""
    parts = [
        f"{n} {label}"
        for n, label in (
            (digest.new_count, "new"),
            (digest.changed_count, "changed"),
            (digest.removed_count, "removed"),
        )
        if n
    ]
    return ", ".join(parts) if parts else "nothing new"


def subject(digest: Digest) -> str:
    """Counts and the day, never a headline: web text stays out of the headers."""
    end = digest.period_end.astimezone(ZoneInfo(digest.timezone))
    return f"monitor: {counts(digest)} — {_day(end)}"


def period(digest: Digest) -> str:
    zone = ZoneInfo(digest.timezone)
    start = digest.period_start.astimezone(zone)
    end = digest.period_end.astimezone(zone)
    return f"{_when(start)} – {_when(end)} ({digest.timezone})"


def plain(snippet: Snippet) -> str:
    """A snippet with [-deleted-] and {+inserted+} marks, as `monitor diff` prints."""
    return "".join(_PLAIN[piece.kind].format(piece.text) for piece in snippet)


def also_line(item: NewItem) -> str:
    more = [f"+{item.also_more}"] if item.also_more else []
    return ", ".join([*item.also, *more])


def safe_href(url: str) -> str:
    """The URL when it is http(s), else "" (no javascript:, data: or other schemes)."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return ""
    return url if scheme in ("http", "https") else ""


def render(digest: Digest) -> Rendered:
    """The subject and both bodies of a digest."""
    title = subject(digest)
    values = {"digest": digest, "subject": title, "summary": _summary(digest)}
    values["period"] = period(digest)
    env = _environment()
    text = env.get_template("digest.txt").render(values)
    html = env.get_template("digest.html").render(values)
    return Rendered(subject=title, text=text, html=html)


def _summary(digest: Digest) -> str:
    text = counts(digest)
    return text[:1].upper() + text[1:]


def message_id(recipient: str, period_end: datetime, sender: str) -> str:
    """A Message-ID fixed by recipient and period: a retry carries the same one, so a
    mail client that sees a message twice can fold them."""
    stamp = period_end.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
    key = hashlib.sha256(recipient.lower().encode()).hexdigest()[:16]
    domain = mailbox_address(sender).rpartition("@")[2] or "monitor.invalid"
    return f"<digest.{stamp}.{key}@{domain}>"


def to_email(
    rendered: Rendered, *, sender: str, recipient: str, message_id: str, date: datetime
) -> EmailMessage:
    """multipart/alternative: the plain text first, the HTML last (the preferred one)."""
    message = EmailMessage(policy=email.policy.default)
    message["Subject"] = rendered.subject
    message["From"] = mailbox_header(check_mailbox(sender))
    message["To"] = check_address(recipient)
    message["Date"] = format_datetime(date.astimezone(UTC))
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
    message.set_content(rendered.text, subtype="plain", cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    return message
