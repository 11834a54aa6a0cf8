"""The [digest] and [smtp] sections of monitor.toml.

Kept apart from monitor.config (which imports these models) so that the digest package
carries its own contract; it imports nothing from monitor for the same reason.
"""

from __future__ import annotations

import datetime as dt
import re
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:  # the header classes load when a digest is written, not with the config
    from email.headerregistry import Address

SMTP_PASSWORD_ENV = "MONITOR_SMTP_PASSWORD"

# Roughly an address: one @, no spaces, quotes, brackets or control characters (so never
# a header line of its own), a dotted or single-label host. ASCII only: the sender
# does not speak SMTPUTF8.
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def check_address(value: str) -> str:
    """A bare address like desk@example.org, or a ValueError saying why not."""
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError(f"{value!r}: an address must not contain line breaks or controls")
    address = value.strip()
    if not _ADDRESS.fullmatch(address) or ".." in address or len(address) > 254:
        raise ValueError(f"{value!r} is not an email address (like desk@example.org)")
    return address


def check_mailbox(value: str) -> str:
    """'Name <addr@host>' or 'addr@host'; no line breaks, so no header injection."""
    if any(char in value for char in "\r\n\0"):
        raise ValueError("an address must be on one line")
    if len(getaddresses([value])) != 1:
        raise ValueError(f"{value!r} is not one address")
    name, address = parseaddr(value)
    check_address(address)
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise ValueError(f"{value!r} has control characters in its name")
    return value.strip()


def mailbox_address(value: str) -> str:
    """The bare address of a checked mailbox: the SMTP envelope sender."""
    return parseaddr(value)[1]


def mailbox_header(value: str) -> Address:
    """A checked mailbox as a header value (the display name quoted as needed)."""
    from email.headerregistry import Address

    name, address = parseaddr(value)
    user, _, domain = address.partition("@")
    return Address(display_name=name, username=user, domain=domain)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecipientConfig(_Section):
    """One reader of the digest and the topics they follow (none listed: all)."""

    email: str
    topics: list[str] = Field(default_factory=list)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_address(value)


class DigestConfig(_Section):
    """When the daily digest goes out, in whose time, and to whom."""

    time: str = "07:00"
    timezone: str = "UTC"
    send_empty: bool = False
    recipients: list[RecipientConfig] = Field(default_factory=list)

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        if not _TIME.fullmatch(value):
            raise ValueError(f"{value!r} is not a time of day as HH:MM (like 07:00)")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (like Europe/London)") from None
        return value

    @field_validator("recipients")
    @classmethod
    def _unique(cls, recipients: list[RecipientConfig]) -> list[RecipientConfig]:
        seen: set[str] = set()
        for recipient in recipients:
            if recipient.email.lower() in seen:
                raise ValueError(f"recipient {recipient.email!r} is listed twice")
            seen.add(recipient.email.lower())
        return recipients

    @property
    def local_time(self) -> dt.time:
        hour, minute = self.time.split(":")
        return dt.time(int(hour), int(minute))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class SmtpConfig(_Section):
    """The mail server. The password is never in the file: see SMTP_PASSWORD_ENV."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    host: str = Field("localhost", min_length=1)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    # PEM certificates to trust for this server instead of the system's (a relay with a
    # certificate from the organisation's own CA); relative to the config file's folder.
    ca_file: Path | None = None
    username: str = ""
    from_: str = Field("monitor <monitor@localhost>", alias="from")

    @field_validator("host", "username")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("from_")
    @classmethod
    def _from(cls, value: str) -> str:
        return check_mailbox(value)
