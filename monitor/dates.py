"""Dates as feeds, sitemaps and pages write them, read as aware UTC datetimes (pure).

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


def as_utc(moment: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken to be UTC already."""
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
