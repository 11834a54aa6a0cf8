"""robots.txt: parse the rules that apply to us, answer "may we fetch this path?", and cache.

Pure: text in, `RobotsRules` out; the fetcher does the I/O. Parsing follows RFC 9309 and
Google's documented behaviour rather than `urllib.robotparser`, which ignores the `*` and `$`
wildcards and lets the first matching rule win instead of the most specific one:

- records are `key: value`, `#` starts a comment, keys are case-insensitive and a few common
  misspellings ("useragent", "disalow") are accepted;
- consecutive `User-agent` lines open one group; the rules up to the next `User-agent` line that
  follows a rule belong to it; rules before any `User-agent` line are ignored;
- our group is every group naming our product token (compared case-insensitively, all such
  groups combined), or failing that every `*` group, or failing that nothing (allow all);
- a rule's pattern matches a prefix of the URL's path and query; `*` matches any run of
  characters and a final `$` anchors the end; the longest matching pattern wins and an `allow`
  wins a tie; `/robots.txt` itself is always allowed;
- paths and patterns are compared after the same percent-encoding normalisation (non-ASCII and
  unsafe characters encoded as UTF-8, unreserved characters decoded, hex digits upper-cased);
- `Crawl-delay` (not in the RFC, honoured by Bing and Yandex) is read from our group.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "ALLOW_ALL",
    "RobotsCache",
    "RobotsRules",
    "Rule",
    "parse_robots",
    "product_token",
]

Clock = Callable[[], float]
"""Seconds on a monotonic scale; `time.monotonic` unless a test injects its own."""

_USER_AGENT_KEYS = frozenset({"user-agent", "useragent", "user agent"})
_ALLOW_KEYS = frozenset({"allow"})
_DISALLOW_KEYS = frozenset({"disallow", "dissallow", "dissalow", "disalow", "disallaw"})
_CRAWL_DELAY_KEYS = frozenset({"crawl-delay", "crawldelay", "crawl delay"})
_TOKEN = re.compile(r"[A-Za-z_-]+")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Printable ASCII that may stand in a URI path or query as it is (reserved characters included).
_KEPT = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;="
)


@dataclass(frozen=True)
class Rule:
    allow: bool
    pattern: str  # normalised; may contain `*` and a final `$`

    def matches(self, path: str) -> bool:
        return _matches(self.pattern, path)


@dataclass(frozen=True)
class RobotsRules:
    """The rules of one robots.txt that apply to one user agent."""

    rules: tuple[Rule, ...] = ()  # most specific first: longest pattern, `allow` before `disallow`
    crawl_delay: float | None = None  # seconds, when our group sets one

    def allows(self, path: str) -> bool:
        """True when `path` (path and query, as sent in the request line) may be fetched."""
        path = _normalise(path or "/")
        if path == "/robots.txt":
            return True
        for rule in self.rules:
            if rule.matches(path):
                return rule.allow
        return True


ALLOW_ALL = RobotsRules()


def product_token(user_agent: str) -> str:
    """The name robots.txt groups are matched against, lower-cased: "monitor" from
    "Monitor/1.0 (+https://example.org/bot)"; empty when the name has no usable characters."""
    found = _TOKEN.match(user_agent.split("/", 1)[0].strip())
    return found.group().lower() if found else ""


def parse_robots(content: str | bytes, user_agent: str) -> RobotsRules:
    """The rules of robots.txt `content` for `user_agent` (a full User-Agent or its token)."""
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    token = product_token(user_agent)
    ours: list[_Group] = []
    everyone: list[_Group] = []
    group: _Group | None = None
    for key, value in _records(content.removeprefix("\ufeff")):
        if key in _USER_AGENT_KEYS:
            if group is None or group.has_rules:
                group = _Group()
            if value.split(maxsplit=1)[:1] == ["*"]:
                everyone.append(group)
            else:
                found = _TOKEN.match(value)
                if found and token and found.group().lower() == token:
                    ours.append(group)
        elif group is not None:
            group.add(key, value)
    chosen = _unique(ours or everyone)
    rules = [rule for chosen_group in chosen for rule in chosen_group.rules]
    rules.sort(key=lambda rule: (-len(rule.pattern), not rule.allow))
    delays = [g.crawl_delay for g in chosen if g.crawl_delay is not None]
    return RobotsRules(tuple(rules), max(delays) if delays else None)


class _Group:
    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.crawl_delay: float | None = None
        self.has_rules = False  # a rule-like line was seen: the next User-agent opens a group

    def add(self, key: str, value: str) -> None:
        if key in _ALLOW_KEYS or key in _DISALLOW_KEYS:
            self.has_rules = True
            if value:  # an empty Disallow allows everything: no rule at all
                self.rules.append(Rule(key in _ALLOW_KEYS, _normalise(value)))
        elif key in _CRAWL_DELAY_KEYS:
            self.has_rules = True
            self.crawl_delay = _seconds(value)
        # Anything else (Sitemap, Host, unknown keys) neither belongs to nor ends the group.


def _unique(groups: list[_Group]) -> list[_Group]:
    """Each group once, even when it names the same agent on two of its lines."""
    seen: set[int] = set()
    kept = []
    for group in groups:
        if id(group) not in seen:
            seen.add(id(group))
            kept.append(group)
    return kept


def _records(content: str) -> list[tuple[str, str]]:
    """(lower-cased key, value) for every line that has both, comments removed."""
    records = []
    for raw in _LINE_BREAK.split(content):
        line = raw.split("#", 1)[0].strip()
        key, colon, value = line.partition(":")
        if not colon:
            # Tolerate a missing colon when the line is exactly "key value".
            parts = line.split()
            if len(parts) != 2:
                continue
            key, value = parts
        key = " ".join(key.split()).lower()
        if key:
            records.append((key, value.strip()))
    return records


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _normalise(text: str) -> str:
    """One spelling for equivalent paths: non-ASCII and unsafe characters percent-encoded as
    UTF-8, percent-encoded unreserved characters decoded, hex digits upper-cased."""
    out = []
    for char in text:
        if char in _KEPT or char == "%":
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8", errors="replace"))
    return _PERCENT.sub(_decode_unreserved, "".join(out))


def _decode_unreserved(found: re.Match[str]) -> str:
    byte = int(found.group(1), 16)
    return chr(byte) if byte in _UNRESERVED else f"%{byte:02X}"


def _matches(pattern: str, path: str) -> bool:
    """Does `pattern` match a prefix of `path` (the whole of it with a final `$`)?

    Leftmost-first matching of the pieces between `*` is exact for this pattern language and
    linear in the path, unlike a regular expression that can backtrack on many `*`.
    """
    anchored = pattern.endswith("$")
    pieces = (pattern[:-1] if anchored else pattern).split("*")
    first, rest = pieces[0], pieces[1:]
    if not path.startswith(first):
        return False
    position = len(first)
    if not rest:
        return not anchored or position == len(path)
    for piece in rest[:-1]:
        found = path.find(piece, position)
        if found < 0:
            return False
        position = found + len(piece)
    last = rest[-1]
    if anchored:
        return len(path) - len(last) >= position and path.endswith(last)
    return path.find(last, position) >= 0


@dataclass(frozen=True)
class _Entry:
    rules: RobotsRules
    expires: float
    from_file: bool


class RobotsCache:
    """Rules per origin ("https://example.org:8443"), each kept until its own expiry time.

    Bounded: past `max_entries` the least recently used origin is forgotten. Expired entries stay
    (until evicted) so that rules read from a real file can be reused when a later re-read fails.
    """

    def __init__(self, *, clock: Clock = time.monotonic, max_entries: int = 1024) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._clock = clock
        self._max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def get(self, origin: str) -> RobotsRules | None:
        """The rules of `origin` if they have not expired."""
        entry = self._entries.get(origin)
        if entry is None or entry.expires <= self._clock():
            return None
        self._entries.move_to_end(origin)
        return entry.rules

    def last_read(self, origin: str) -> RobotsRules | None:
        """The rules last parsed from `origin`'s actual robots.txt, expired or not."""
        entry = self._entries.get(origin)
        return entry.rules if entry is not None and entry.from_file else None

    def put(self, origin: str, rules: RobotsRules, ttl: float, *, from_file: bool) -> None:
        """Keep `rules` for `ttl` seconds; `from_file` when they come from a 2xx robots.txt."""
        self._entries[origin] = _Entry(rules, self._clock() + ttl, from_file)
        self._entries.move_to_end(origin)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
