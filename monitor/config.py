"""monitor.toml: read once at start, validated completely, refused with one clear line.

The keys here are a contract with users' config files: add to them, never rename.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.core.query import parse as parse_query
from monitor.core.schedule import tick_interval
from monitor.core.selectors import check_selector
from monitor.deliver.rules import AlertRule, DeliveryConfig
from monitor.digest.settings import DigestConfig, SmtpConfig
from monitor.errors import ConfigError

CONFIG_ENV = "MONITOR_CONFIG"
DATABASE_ENV = "MONITOR_DATABASE_URL"
DEFAULT_CONFIG = Path("config/monitor.toml")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> timedelta:
    """'30s', '15m', '1h', '2d', '1h30m' → timedelta. Numbers are not accepted: units are."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        parts = _DURATION_PART.findall(text)
        if parts and _DURATION_PART.sub("", text).strip() == "":
            seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in parts)
            return timedelta(seconds=seconds)
    raise ValueError(f"{value!r} is not a duration (use e.g. 30s, 15m, 1h, 2d)")


def format_duration(value: timedelta) -> str:
    """The inverse of parse_duration for display: 5400 s → '1h30m'."""
    seconds = int(value.total_seconds())
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out) or "0s"


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"{format_duration(value)!r} must be longer than zero")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]


class _CrossKeyError(ValueError):
    """A rule across keys, raised with the key to blame."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Section):
    url: str = "sqlite:///monitor.db"


class FetchConfig(_Section):
    user_agent: str = "monitor/0.1 (+https://example.org/monitor)"
    timeout: PositiveDuration = timedelta(seconds=20)
    concurrency: int = Field(16, ge=1, le=1000)
    per_host_concurrency: int = Field(2, ge=1, le=100)
    per_host_delay: Duration = timedelta(seconds=1)
    max_bytes: int = Field(5_000_000, ge=1024)
    allow_private_addresses: bool = False
    respect_robots: bool = True


class PollingConfig(_Section):
    interval: PositiveDuration = timedelta(minutes=15)
    recheck: list[PositiveDuration] = Field(
        default_factory=lambda: [
            parse_duration(d) for d in ("1h", "3h", "12h", "1d", "2d", "4d", "7d")
        ]
    )
    # New links taken from one source in one poll; the rest wait for the next poll.
    max_new_per_poll: int = Field(200, ge=1, le=100_000)


def _default_processes() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


class ProcessingConfig(_Section):
    """The process pool that extracts and fingerprints pages, off the event loop."""

    processes: int = Field(default_factory=_default_processes, ge=1, le=64)
    page_timeout: PositiveDuration = timedelta(seconds=30)


class ServiceConfig(_Section):
    keep_polls: PositiveDuration = timedelta(days=30)
    shutdown_timeout: PositiveDuration = timedelta(seconds=20)
    lease: PositiveDuration = timedelta(minutes=5)
    log_format: Literal["text", "json"] = "text"
    http_port: int | None = Field(None, ge=1, le=65535)
    http_host: str = "127.0.0.1"


WEB_TOKEN_ENV = "MONITOR_WEB_TOKEN"


class WebAuthConfig(_Section):
    """Who may read the web view: a bearer token from an environment variable, or a user
    name with a hashed password (`monitor web --hash-password` prints a hash)."""

    token_env: str | None = None
    username: str | None = None
    password_hash: str | None = None

    @field_validator("password_hash")
    @classmethod
    def _hash(cls, value: str | None) -> str | None:
        if value is not None:
            from monitor.web.auth import check_hash_format

            check_hash_format(value)
        return value

    @model_validator(mode="after")
    def _one_scheme(self) -> WebAuthConfig:
        basic = self.username is not None or self.password_hash is not None
        if self.token_env is not None and basic:
            raise _CrossKeyError(
                "token_env", "give either token_env (bearer) or username and password_hash"
            )
        if basic and (not self.username or not self.password_hash):
            key = "username" if not self.username else "password_hash"
            raise _CrossKeyError(key, "basic auth needs both username and password_hash")
        if self.token_env is None and not basic:
            raise _CrossKeyError("token_env", "give token_env, or username and password_hash")
        return self


def _listen(value: str) -> str:
    split_listen(value)
    return value


def split_listen(value: str) -> tuple[str, int]:
    """'127.0.0.1:8080' → ('127.0.0.1', 8080); '[::1]:8080' → ('::1', 8080)."""
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:8080)")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Only these addresses keep a server to this machine ('localhost' included)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # any other name may resolve anywhere


class WebConfig(_Section):
    listen: Annotated[str, AfterValidator(_listen)] = "127.0.0.1:8080"
    auth: WebAuthConfig | None = None
    page_size: int = Field(50, ge=1, le=500)

    @model_validator(mode="after")
    def _auth_off_loopback(self) -> WebConfig:
        host, _ = split_listen(self.listen)
        if self.auth is None and not is_loopback(host):
            raise _CrossKeyError(
                "auth",
                f"listening on {self.listen} (not loopback) needs [web.auth]: "
                "a token_env, or username and password_hash",
            )
        return self

    @property
    def address(self) -> tuple[str, int]:
        return split_listen(self.listen)


class ClustersConfig(_Section):
    window: PositiveDuration = timedelta(days=3)
    threshold: float = Field(3.3, gt=0)  # monitor.core.clusters.THRESHOLD


class SeedsConfig(_Section):
    path: Path = Path("seeds")


SEEDS_LIKE = "seeds"  # in a topic's `like`: every seed


class TopicConfig(_Section):
    """A topic: keywords, a query (monitor.core.query) or example articles, or several."""

    name: str = Field(min_length=1)
    keywords: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    query: str | None = None
    # Example articles: "seeds" (every seed), a seed's id, or a text file's path.
    like: list[str] = Field(default_factory=list)
    like_threshold: float = Field(0.3, gt=0, le=1)

    @field_validator("keywords", "exclude", "like")
    @classmethod
    def _no_blank_terms(cls, terms: list[str]) -> list[str]:
        if any(not term.strip() for term in terms):
            raise ValueError("terms must not be blank")
        return terms

    @field_validator("query")
    @classmethod
    def _query_parses(cls, query: str | None) -> str | None:
        if query is not None:
            parse_query(query)  # a QuerySyntaxError is a ValueError naming the column
        return query

    @model_validator(mode="after")
    def _some_rule(self) -> TopicConfig:
        if not (self.keywords or self.query or self.like):
            raise _CrossKeyError("keywords", "a topic needs keywords, a query or like")
        return self

    def rules_hash(self) -> str:
        """Changes when the rules that decide what the topic holds change."""
        rules = [self.keywords, self.exclude, self.query, self.like, self.like_threshold]
        return hashlib.sha256(json.dumps(rules).encode()).hexdigest()[:16]


class MatchingConfig(_Section):
    """Stored stories seen within `reevaluate` are matched again when a topic's rules change."""

    reevaluate: Duration = timedelta(days=30)


SourceKind = Literal["feed", "page", "sitemap", "article"]


class SourceConfig(_Section):
    name: str = Field(min_length=1)
    kind: SourceKind = "feed"
    url: str
    interval: PositiveDuration | None = None
    enabled: bool = True
    # page: which links are articles
    links: str | None = None
    include: str | None = None
    exclude: str | None = None
    # sitemap: how old an entry may be
    max_age: PositiveDuration = timedelta(days=2)
    # any kind: the re-check schedule of its stories, instead of [polling] recheck
    recheck: list[PositiveDuration] | None = None
    # any kind: CSS selectors that override generic extraction of the articles
    title: str | None = None
    text: str | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not re.match(r"^https?://[^/\s]+", url):
            raise ValueError(f"{url!r} is not an http(s) URL")
        return url

    @field_validator("links", "title", "text")
    @classmethod
    def _css_selector(cls, selector: str | None) -> str | None:
        if selector is not None:
            check_selector(selector)
        return selector

    @field_validator("include", "exclude")
    @classmethod
    def _regex(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return pattern

    @model_validator(mode="after")
    def _kind_options(self) -> SourceConfig:
        if self.kind == "page" and not self.links:
            raise _CrossKeyError("links", "a page source needs a CSS selector for its links")
        if self.kind != "page":
            for key in ("links", "include", "exclude"):
                if getattr(self, key) is not None:
                    raise _CrossKeyError(key, f"only page sources take {key!r}")
        return self


class Config(_Section):
    database: DatabaseConfig = DatabaseConfig()
    fetch: FetchConfig = FetchConfig()
    polling: PollingConfig = PollingConfig()
    processing: ProcessingConfig = ProcessingConfig()
    seeds: SeedsConfig = SeedsConfig()
    clusters: ClustersConfig = ClustersConfig()
    service: ServiceConfig = ServiceConfig()
    matching: MatchingConfig = MatchingConfig()
    topics: list[TopicConfig] = Field(default_factory=list)
    sources: list[SourceConfig] = Field(default_factory=list)
    digest: DigestConfig = DigestConfig()
    smtp: SmtpConfig = SmtpConfig()
    alerts: list[AlertRule] = Field(default_factory=list)
    delivery: DeliveryConfig = DeliveryConfig()
    web: WebConfig = WebConfig()
    # Where the file was read from; set by load_config, not by users.
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        for section, names in (
            ("topics", [t.name for t in self.topics]),
            ("sources", [s.name for s in self.sources]),
            ("alerts", [a.name for a in self.alerts]),
        ):
            seen: set[str] = set()
            for index, name in enumerate(names):
                if name in seen:
                    raise _CrossKeyError(f"{section}[{index}].name", f"duplicate name {name!r}")
                seen.add(name)
        return self

    @model_validator(mode="after")
    def _digest_topics(self) -> Config:
        known = {topic.name for topic in self.topics}
        for index, recipient in enumerate(self.digest.recipients):
            for topic in recipient.topics:
                if topic not in known:
                    key = f"digest.recipients[{index}].topics"
                    raise _CrossKeyError(key, f"no topic named {topic!r}")
        for index, rule in enumerate(self.alerts):
            for topic in rule.topics:
                if topic not in known:
                    raise _CrossKeyError(f"alerts[{index}].topics", f"no topic named {topic!r}")
        return self

    def alert_rule(self, name: str) -> AlertRule:
        for rule in self.alerts:
            if rule.name == name:
                return rule
        known = ", ".join(r.name for r in self.alerts) or "none"
        raise ConfigError(f"no alert rule named {name!r} in the configuration (rules: {known})")

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        raise ConfigError(f"no source named {name!r} in the configuration")

    def source_interval(self, source: SourceConfig) -> timedelta:
        return source.interval or self.polling.interval

    def tick_interval(self) -> timedelta:
        """How often the service looks for due sources (see schedule.tick_interval)."""
        intervals = [self.source_interval(s) for s in self.sources if s.enabled]
        return tick_interval(intervals, self.polling.interval)

    @property
    def seeds_dir(self) -> Path:
        return _relative_to(self.base_dir, self.seeds.path)

    def examples(self, topic: TopicConfig) -> list[tuple[str, Path]]:
        """The example articles of a topic's `like`, as (label, file); ConfigError when one
        names neither a seed nor a file."""
        out: dict[str, Path] = {}
        for index, entry in enumerate(topic.like):
            if entry == SEEDS_LIKE:
                for path in sorted(self.seeds_dir.glob("*.txt")):
                    out[f"seed {path.stem}"] = path
                continue
            seed = self.seeds_dir / f"{entry}.txt"
            path = _relative_to(self.base_dir, Path(entry))
            if seed.is_file():
                out[f"seed {entry}"] = seed
            elif path.is_file():
                out[path.name] = path
            else:
                at = self.topics.index(topic)
                raise ConfigError(
                    f"topics[{at}].like[{index}]: {entry!r} is neither a seed id nor a file"
                )
        return list(out.items())


def _relative_to(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else base / path


def resolve_database_url(url: str, base_dir: Path) -> str:
    """A relative SQLite path in the config file is relative to the file's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        rest = url[len(prefix) :]
        path, sep, query = rest.partition("?")
        if path and path != ":memory:":
            return prefix + str((base_dir / path).resolve()) + sep + query
    return url


def config_path(explicit: Path | None) -> Path:
    """--config beats MONITOR_CONFIG beats config/monitor.toml."""
    if explicit is not None:
        return explicit
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else DEFAULT_CONFIG


def load_config(path: Path) -> Config:
    """Read and validate; any problem becomes one ConfigError line naming file and key."""
    name = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    base_dir = path.resolve().parent
    config = _validate(data, name)
    url = os.environ.get(DATABASE_ENV)
    database = DatabaseConfig(url=url) if url else config.database
    resolved = resolve_database_url(database.url, base_dir if not url else Path.cwd())
    update: dict[str, Any] = {"base_dir": base_dir, "database": DatabaseConfig(url=resolved)}
    if config.smtp.ca_file is not None:
        ca_file = _relative_to(base_dir, config.smtp.ca_file)
        if not ca_file.is_file():
            raise ConfigError(f"{name}: smtp.ca_file: no such file: {ca_file}")
        update["smtp"] = config.smtp.model_copy(update={"ca_file": ca_file})
    _check_seeds(_relative_to(base_dir, config.seeds.path), name)
    config = config.model_copy(update=update)
    try:
        for topic in config.topics:
            config.examples(topic)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    return config


def _check_seeds(folder: Path, name: str) -> None:
    """Seeds are what copies are folded against: a mistyped folder would silently fold none."""
    if not folder.is_dir():
        raise ConfigError(f"{name}: seeds.path: no such folder: {folder}")
    if not any(folder.glob("*.txt")):
        raise ConfigError(f"{name}: seeds.path: no seed files (*.txt) in {folder}")


def _validate(data: dict[str, Any], name: str) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, _CrossKeyError):
            prefix = _format_key(first["loc"], data) if first["loc"] else ""
            key = f"{prefix}.{cause.key}" if prefix else cause.key
            raise ConfigError(f"{name}: {key}: {cause}{more}") from None
        key = _format_key(first["loc"], data)
        raise ConfigError(f"{name}: {key}: {_format_message(first)}{more}") from None


def _format_key(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"function-after[_http_url(), str]"}:
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _format_message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    if kind not in {"value_error"}:
        message = f"{message} (got {error.get('input')!r})"
    return message
