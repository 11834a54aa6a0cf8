"""The [[alerts]] rules and the [delivery] section of monitor.toml.

Kept apart from monitor.config (which imports these models), like the digest's settings;
nothing heavy is imported here: Apprise loads when a message is sent or a URL is checked.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

EventKind = Literal[
    "new",
    "headline",
    "minor",
    "edit",
    "major",
    "removed",
    "restored",
    "cluster",
    "degraded",
    "recovered",
]
EVENT_KINDS: tuple[str, ...] = (
    "new",
    "headline",
    "minor",
    "edit",
    "major",
    "removed",
    "restored",
    "cluster",
    "degraded",
    "recovered",
)
# Events about a source, not a story: a rule's topics do not filter them.
SOURCE_KINDS = frozenset({"degraded", "recovered"})
CHANGE_KINDS = frozenset(EVENT_KINDS) - {"new", "cluster"} - SOURCE_KINDS

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _duration(value: object) -> timedelta:
    from monitor.config import parse_duration  # one duration syntax for the whole file

    return parse_duration(value)


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class AlertRule(BaseModel):
    """One [[alerts]] table: which events go to which channel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    topics: list[str] = Field(default_factory=list)  # none: every topic
    on: list[EventKind] = Field(default_factory=lambda: list[EventKind](["new"]), min_length=1)
    min_outlets: int = Field(2, ge=1, le=1000)
    apprise: str | None = None
    webhook: str | None = None
    secret_env: str | None = None
    batch: Duration = timedelta(0)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"{name!r} is not a rule name (letters, digits, '-', '_' and '.', "
                "at most 100 characters)"
            )
        return name

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://[^/\s]+\S*$", url):
            raise ValueError(f"{url!r} is not an http(s) URL")
        return url

    @field_validator("apprise")
    @classmethod
    def _apprise(cls, url: str | None) -> str | None:
        if url is not None and not _SCHEME.match(url.strip()):
            raise ValueError("not an Apprise URL (scheme://…, like slack://… or ntfy://…)")
        return url.strip() if url is not None else None

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        if name is not None and not _ENV.fullmatch(name):
            raise ValueError(f"{name!r} is not an environment variable name")
        return name

    @field_validator("batch")
    @classmethod
    def _batch(cls, value: timedelta) -> timedelta:
        if value < timedelta(0) or value > timedelta(days=1):
            raise ValueError("must be between 0s and 1d")
        return value

    @model_validator(mode="after")
    def _one_channel(self) -> AlertRule:
        from monitor.config import _CrossKeyError

        if (self.apprise is None) == (self.webhook is None):
            raise _CrossKeyError("webhook", "a rule needs either webhook or apprise (one of them)")
        if self.secret_env is not None and self.webhook is None:
            raise _CrossKeyError("secret_env", "only webhook rules are signed")
        if len(set(self.on)) != len(self.on):
            raise _CrossKeyError("on", "an event is named twice")
        return self

    @property
    def channel(self) -> str:
        """Where the rule sends, safe to show (no tokens or passwords)."""
        if self.webhook is not None:
            return _redacted(self.webhook)
        scheme = (self.apprise or "").split("://", 1)[0]
        return f"{scheme}://…"  # an Apprise URL's host is often a token

    def wants_source(self, kind: str) -> bool:
        """Whether this rule alerts on a source event ('degraded', 'recovered'): a source
        has no topics, so the rule's `topics` do not filter it."""
        return kind in SOURCE_KINDS and kind in self.on

    def wants(self, kind: str, topics: list[str] | tuple[str, ...]) -> tuple[str, ...] | None:
        """The story's topics this rule alerts on for an event of `kind`, or None when it
        does not (an empty tuple: a rule for every topic and a story with none)."""
        if kind not in self.on or kind in SOURCE_KINDS:
            return None
        if not self.topics:
            return tuple(topics)
        matched = tuple(t for t in topics if t in self.topics)
        return matched or None


class DeliveryConfig(BaseModel):
    """[delivery]: how long a delivery is retried, how long one request may take."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    give_up_after: Duration = timedelta(days=1)
    timeout: Duration = timedelta(seconds=20)

    @field_validator("give_up_after", "timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value


def _redacted(url: str) -> str:
    """scheme://host/… without the path, query or credentials: tokens live in them."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*://)(?:[^@/]*@)?([^/?#]*)", url)
    if not match:
        return "…"
    rest = url[match.end() :]
    return match.group(1) + match.group(2) + ("/…" if rest.strip("/") else "")
