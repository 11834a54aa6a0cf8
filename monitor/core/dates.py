"""Dates as feeds, sitemaps, pages and people write them, read as aware UTC datetimes (pure).

Every date monitor reads or stores goes through here: `parse_iso` for ISO 8601 (JSON-LD,
Open Graph, Atom, Dublin Core, sitemaps, `--since`), `parse_rfc2822` for RSS, `parse_date`
for a page or sitemap that may write either, and `as_utc` for one rule on zones: aware UTC
out, a naive datetime taken to be UTC already.

RSS dates are RFC 2822 ("Sun, 22 Nov 2026 20:24:11 +0000"). The standard library's
`email.utils.parsedate_to_datetime` reads every variant of it but takes ~7 µs a date: with
thirty items a feed, a fifth of parsing a feed. Nearly every feed writes the one canonical
form, which a regular expression reads in a fraction of that; anything else still goes to
the standard library, so the result is the same either way (tests/test_dates.py checks).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import overload

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_CANONICAL_RFC2822 = re.compile(
    r"(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2})(?::(\d{2}))?"
    r"\s+(?:([+-])(\d{2})(\d{2})|GMT|UTC|UT|Z)",
    re.ASCII,
)
# ISO 8601 extended format, as the web writes it: the W3C profile (YYYY, YYYY-MM,
# YYYY-MM-DD, then a time to the minute, second or any fraction of it), "T", "t" or a space
# before the time, and an optional zone (Z or ±hh, ±hhmm, ±hh:mm, maybe after a space).
_ISO_8601 = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?)?)?)?",
    re.ASCII,
)
EARLIEST_YEAR = 1900  # a date before this is a CMS placeholder such as 0001-01-01


@lru_cache(maxsize=65536)
def parse_iso(value: str) -> datetime | None:
    """An ISO 8601 date or time as aware UTC; None when it is not one (or is impossible).

    A missing zone is taken as UTC, and a partial date means the start of its period:
    "2026-11" is 1 November 2026, 00:00 UTC. Fractions beyond microseconds are cut.
    Cached, as parse_rfc2822: an Atom feed repeats its entries' dates at every poll."""
    match = _ISO_8601.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    microsecond = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(
            int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
            int(second or 0), microsecond, tzinfo=_zone(zone),
        )  # fmt: skip
        return as_utc(moment)
    except (ValueError, OverflowError):  # 31 February, hour 25, or pushed past year 9999
        return None


def _zone(text: str | None) -> timezone | None:
    """Z or an offset as a zone; None when the time has none."""
    if text is None:
        return None
    if text in ("Z", "z"):
        return UTC
    hours, minutes = int(text[1:3]), int(text[3:].lstrip(":") or 0)
    if minutes >= 60:
        raise ValueError(f"{text}: no such offset")
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if text[0] == "-" else offset)  # ValueError from 24h on


def parse_date(value: str | None) -> datetime | None:
    """A publication date as pages and sitemaps write it, ISO 8601 or RFC 2822, as aware
    UTC; None when it is neither, or is a placeholder from before 1900."""
    if not value:
        return None
    parsed = parse_iso(value) or parse_rfc2822(value)
    return parsed if parsed is not None and parsed.year >= EARLIEST_YEAR else None


@lru_cache(maxsize=65536)
def parse_rfc2822(value: str) -> datetime | None:
    """An RFC 2822 date as aware UTC; None when it is not one. A date without a zone
    ("-0000" or none) is taken as UTC.

    Cached: a feed repeats its items' dates at every poll."""
    value = value.strip()
    if not value:
        return None
    moment = _canonical_rfc2822(value)
    if moment is None:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    try:
        return as_utc(moment)
    except (OverflowError, ValueError):  # year 9999 pushed past the end by its zone
        return None


@overload
def as_utc(moment: datetime) -> datetime: ...
@overload
def as_utc(moment: None) -> None: ...
def as_utc(moment: datetime | None) -> datetime | None:
    """Aware UTC; a naive datetime is taken to be UTC already (the database and old rows
    hold UTC without a zone). None stays None, for optional columns."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _canonical_rfc2822(value: str) -> datetime | None:
    """The common form only; None means "ask email.utils" (also for impossible dates, so
    that its verdict stays the one that counts)."""
    match = _CANONICAL_RFC2822.fullmatch(value)
    if match is None:
        return None
    day, month_name, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
    month = _MONTHS.get(month_name.lower())
    if month is None or int(year) < 100:  # email.utils reads "0099" as 1999
        return None
    zone = UTC
    if sign is not None:
        offset = timedelta(hours=int(zone_h), minutes=int(zone_m))
        if offset >= timedelta(hours=24):
            return None
        if offset:
            zone = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(
            int(year), month, int(day), int(hour), int(minute), int(second or 0), tzinfo=zone
        )
    except ValueError:
        return None
