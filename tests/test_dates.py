"""Dates from feeds, sitemaps, pages and the command line: the quick RFC 2822 reading agrees
with email.utils, the ISO 8601 reading with datetime.fromisoformat, and every date comes out
as aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.dates import as_utc, parse_date, parse_iso, parse_rfc2822


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


# --- ISO 8601 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T20:24:11Z", datetime(2026, 11, 22, 20, 24, 11, tzinfo=UTC)),
        ("2026-11-22t20:24:11z", datetime(2026, 11, 22, 20, 24, 11, tzinfo=UTC)),
        ("2026-11-22T21:24:11+01:00", datetime(2026, 11, 22, 20, 24, 11, tzinfo=UTC)),
        ("2026-11-22T15:24:11-0500", datetime(2026, 11, 22, 20, 24, 11, tzinfo=UTC)),
        ("2026-11-23T01:54:11+05:30", datetime(2026, 11, 22, 20, 24, 11, tzinfo=UTC)),
        ("2026-11-22 21:24:11 +01", datetime(2026, 11, 22, 20, 24, 11, tzinfo=UTC)),
        ("2026-11-22T20:24:11", datetime(2026, 11, 22, 20, 24, 11, tzinfo=UTC)),  # no zone
        ("2026-11-22T20:24", datetime(2026, 11, 22, 20, 24, tzinfo=UTC)),
        ("2026-11-22T20:24:11.5Z", datetime(2026, 11, 22, 20, 24, 11, 500000, tzinfo=UTC)),
        ("2026-11-22T20:24:11,25Z", datetime(2026, 11, 22, 20, 24, 11, 250000, tzinfo=UTC)),
        ("2026-11-22T20:24:11.123456789Z", datetime(2026, 11, 22, 20, 24, 11, 123456, tzinfo=UTC)),
        ("2026-11-22", datetime(2026, 11, 22, tzinfo=UTC)),
        ("2026-11", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026", datetime(2026, 1, 1, tzinfo=UTC)),
        ("  2026-11-22\n", datetime(2026, 11, 22, tzinfo=UTC)),
    ],
)
def test_iso_forms(text: str, expected: datetime) -> None:
    parsed = parse_iso(text)
    assert parsed == expected
    assert parsed is not None and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2026-13-01",
        "2026-02-30",
        "2026-11-22T25:00Z",
        "2026-11-22T24:00:00",
        "2026-11-22T20:24+24:00",
        "2026-11-22T20:24+05:99",
        "0000-01-01",
        "9999-12-31T23:00-05:00",  # past the last representable moment once in UTC
        "Sun, 22 Nov 2026 20:24:11 +0000",
        "2026-11-22T20:24:11Z trailing",
    ],
)
def test_not_iso(text: str) -> None:
    assert parse_iso(text) is None


def _from_iso_format(text: str) -> datetime | None:
    """What the standard library makes of it, in the same terms (aware UTC or None)."""
    try:
        return as_utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        return None


@given(
    moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    zone=st.none() | zones,
    timespec=st.sampled_from(["minutes", "seconds", "milliseconds", "microseconds"]),
    sep=st.sampled_from(["T", " "]),
    zulu=st.booleans(),
)
def test_agrees_with_fromisoformat_on_generated_times(
    moment: datetime, zone: timezone | None, timespec: str, sep: str, zulu: bool
) -> None:
    text = moment.replace(tzinfo=zone).isoformat(sep=sep, timespec=timespec)
    if zulu and zone is not None and zone.utcoffset(None) == timedelta(0):
        text = text.replace("+00:00", "Z")
    assert parse_iso(text) == _from_iso_format(text)
    assert parse_iso(text[:10]) == _from_iso_format(text[:10])  # the date alone


def _digits(count: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=count, max_size=count)


@st.composite
def iso_like(draw: st.DrawFn) -> str:
    """ISO-like text: the year, then as many more pieces as drawn, numbers mostly in range
    (now and then one past it), odd separators and zones, and now and then a piece missing."""

    def number(highest: int, lowest: int = 0) -> str:
        return f"{draw(st.integers(lowest, highest + 1)):02d}"

    pieces = [
        f"{draw(st.integers(0, 9999)):04d}",
        "-" + number(12, lowest=1),
        "-" + number(31, lowest=1),
        draw(st.sampled_from("Tt ")) + number(23) + ":" + number(59),
        ":" + number(59),
        draw(st.sampled_from(".,")) + draw(st.integers(1, 9).flatmap(_digits)),
    ]
    if draw(st.integers(0, 7)) == 0:  # now and then a piece goes missing
        del pieces[draw(st.integers(1, len(pieces) - 1))]
    text = "".join(pieces[: draw(st.integers(1, len(pieces)))])
    sign = draw(st.sampled_from(["+", "-", " +"]))
    colon = draw(st.sampled_from(["", ":"]))
    minutes = draw(st.sampled_from(["", number(59)]))
    zone = draw(st.sampled_from(["", "Z", "z", sign + number(23) + colon + minutes]))
    return text + zone


@given(st.text(alphabet="0123456789-:.,+TZ ", max_size=32) | iso_like())
def test_agrees_with_fromisoformat_wherever_both_read_the_text(text: str) -> None:
    ours, theirs = parse_iso(text), _from_iso_format(text)
    if ours is not None and theirs is not None:
        assert ours == theirs
    assert ours is None or ours.tzinfo is UTC


def test_publication_dates_are_iso_or_rfc_2822_and_never_placeholders() -> None:
    expected = datetime(2026, 11, 22, 20, 24, 11, tzinfo=UTC)
    assert parse_date("2026-11-22T21:24:11+01:00") == expected
    assert parse_date("Sun, 22 Nov 2026 20:24:11 GMT") == expected
    for text in (None, "", "  ", "0001-01-01T00:00:00Z", "1899-12-31", "soon"):
        assert parse_date(text) is None, text


def test_as_utc_takes_naive_times_as_utc() -> None:
    naive = datetime(2026, 11, 22, 20, 24)
    paris = datetime(2026, 11, 22, 21, 24, tzinfo=timezone(timedelta(hours=1)))
    assert as_utc(naive) == as_utc(paris) == naive.replace(tzinfo=UTC)
    assert as_utc(naive).tzinfo is UTC and as_utc(paris).tzinfo is UTC
    assert as_utc(None) is None
