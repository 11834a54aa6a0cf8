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
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from monitor.digest.content import Digest, NewItem, Piece, RemovedItem, Snippet
from monitor.digest.settings import (
    check_address,
    check_mailbox,
    mailbox_address,
    mailbox_header,
)

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_PLAIN = {"equal": "{}", "ellipsis": "{}", "delete": "[-{}-]", "insert": "{{+{}+}}"}
_MARKED = ("insert", "delete")


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
    env.globals.update(
        plain=plain,
        spaced=spaced,
        also=also_line,
        href=safe_href,
        lifetime=lifetime,
        indented=indented,
    )
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
    return "".join(_PLAIN[piece.kind].format(piece.text) for piece in spaced(snippet))


def spaced(snippet: Snippet) -> Snippet:
    """The snippet with every insertion and deletion standing apart: the spaces at their
    edges moved outside the marks, and a space between a deletion and an insertion that
    touch. Without it a client that drops colour shows "widenstightens"; with it, read
    with or without the deleted words, the text has its spaces."""
    out: list[Piece] = []

    def add(piece: Piece) -> None:
        if out and piece.kind == "equal" and out[-1].kind == "equal":
            out[-1] = Piece("equal", (out[-1].text + piece.text).replace("  ", " "))
        elif piece.text:
            out.append(piece)

    for piece in snippet:
        if piece.kind not in _MARKED:
            add(piece)
            continue
        core = piece.text.strip()
        touching = bool(out) and out[-1].kind in _MARKED
        if piece.text[:1].isspace() or (touching and core):
            add(Piece("equal", " "))
        add(Piece(piece.kind, core))
        if piece.text[-1:].isspace():
            add(Piece("equal", " "))
    return tuple(out)


def lifetime(item: RemovedItem, timezone: str) -> str:
    """'first seen Sat 21 Nov 10:02, removed 12:30' in the digest's time zone: a story
    that came and went within the period is told from one that had run for days."""
    zone = ZoneInfo(timezone)
    parts = []
    seen = item.first_seen.astimezone(zone) if item.first_seen else None
    if seen is not None:
        parts.append(f"first seen {_short(seen)}")
    if item.removed_at is not None:
        gone = item.removed_at.astimezone(zone)
        same_day = seen is not None and seen.date() == gone.date()
        parts.append(f"removed {gone:%H:%M}" if same_day else f"removed {_short(gone)}")
    return ", ".join(parts)


def _short(moment: datetime) -> str:
    """'Sat 21 Nov 10:02' (the period line names the year)."""
    day = f"{_WEEKDAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]}"
    return f"{day} {moment:%H:%M}"


def indented(text: str) -> str:
    """A paragraph of the plain-text part: wrapped at 78 columns under its bullet (URLs
    and long words are never broken)."""
    return textwrap.fill(
        text,
        width=78,
        initial_indent="  ",
        subsequent_indent="  ",
        break_long_words=False,
        break_on_hyphens=False,
    )


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
    values["cross_listed"] = any(
        item.also_under
        for section in digest.sections
        for items in (section.new, section.changed, section.removed)
        for item in items
    )
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
