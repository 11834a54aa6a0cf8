"""Dates from feeds, sitemaps and pages: the quick RFC 2822 reading agrees with email.utils."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime

from hypothesis import given
from hypothesis import strategies as st

from monitor.dates import parse_rfc2822


def _standard_library(value: str) -> datetime | None:
    """What the standard library makes of it, in the same terms (aware UTC or None)."""
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def test_common_forms() -> None:
    expected = datetime(2026, 11, 22, 20, 24, 11, tzinfo=UTC)
    for text in (
        "Sun, 22 Nov 2026 20:24:11 +0000",
        "Sun, 22 Nov 2026 20:24:11 GMT",
        "22 Nov 2026 20:24:11 GMT",
        "Sun, 22 Nov 2026 21:24:11 +0100",
        "Sun, 22 Nov 2026 15:24:11 -0500",
        "  Sun, 22 Nov 2026 20:24:11 -0000  ",
        "Sun, 22 Nov 2026 15:24:11 EST",  # a named zone: read by the standard library
    ):
        assert parse_rfc2822(text) == expected, text
    assert parse_rfc2822("Sun, 22 Nov 2026 20:24 +0000") == expected.replace(second=0)


def test_not_dates() -> None:
    for text in ("", "   ", "yesterday", "Sun, 31 Feb 2026 20:24:11 +0000", "2026-11-22"):
        assert parse_rfc2822(text) is None, text


def test_two_digit_style_years_follow_the_standard_library() -> None:
    assert parse_rfc2822("Sun, 22 Nov 0099 20:24:11 +0000") == _standard_library(
        "Sun, 22 Nov 0099 20:24:11 +0000"
    )


zones = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(
    moment=st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)),
    zone=zones,
    gmt=st.booleans(),
)
def test_agrees_with_the_standard_library_on_generated_dates(
    moment: datetime, zone: timezone, gmt: bool
) -> None:
    aware = moment.replace(microsecond=0, tzinfo=UTC if gmt else zone)
    text = format_datetime(aware, usegmt=gmt)
    assert parse_rfc2822(text) == _standard_library(text) == aware


@given(st.text(alphabet="0123456789 :+-,ACDFGJMNOSTUZadefgjmnostuvy", max_size=40))
def test_agrees_with_the_standard_library_on_any_text(text: str) -> None:
    assert parse_rfc2822(text) == _standard_library(text)
