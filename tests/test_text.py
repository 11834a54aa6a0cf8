"""The one sanitiser: what a terminal, a web page or a mail shows of text from the web."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.text import SanitizingFormatter, one_line, sanitize

ESC = "\x1b"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
CONTROLS = {chr(code) for code in [*range(0x20), *range(0x7F, 0xA0)]}


def osc8(url: str, label: str) -> str:
    """A terminal hyperlink: ``label`` shown, ``url`` behind it."""
    return f"{ESC}]8;;{url}{ESC}\\{label}{ESC}]8;;{ESC}\\"


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        ("\x1b[31mred\x1b[0m alert", "red alert"),
        ("clear\x1b[2J\x1b[H screen", "clear screen"),
        ("8-bit \x9b31mCSI", "8-bit CSI"),
        ("title\x1b]0;pwned\x07 bar", "title bar"),
        ("title\x1b]2;pwned\x1b\\ bar", "title bar"),
        ("8-bit \x9d0;pwned\x9cOSC", "8-bit OSC"),
        ("device \x1bP1$qm\x1b\\control", "device control"),
        ("app \x1b_payload\x1b\\command", "app command"),
        ("reset\x1bc \x1b(Bcharset", "reset charset"),
        ("see " + osc8("https://evil.example/", "the notes"), "see the notes"),
        ("invoice_\u202egnp.exe", "invoice_gnp.exe"),
        ("\u2066isolated\u2069 \u202aembedded\u202c", "isolated embedded"),
        ("lone \ud800surrogate", "lone surrogate"),
        ("bell\x07 null\x00 del\x7f", "bell null del"),
    ],
)
def test_hostile_text_is_shown_without_its_controls(hostile: str, shown: str) -> None:
    assert sanitize(hostile) == shown
    assert sanitize(hostile, newlines=True) == shown


def test_an_unterminated_sequence_loses_only_its_introducer() -> None:
    """A stray C1 byte from a mis-decoded page must not swallow the rest of a headline."""
    assert sanitize("caf\x9d the rest of the headline") == "caf the rest of the headline"
    assert sanitize("\x1b]8;;no terminator") == "8;;no terminator"


def test_line_breaks_are_kept_only_where_paragraphs_matter() -> None:
    text = "First paragraph.\r\n\r\nSecond\tparagraph;\rthird\x0bline\x85end."
    assert (
        sanitize(text, newlines=True) == "First paragraph.\n\nSecond\tparagraph;\nthird\nline\nend."
    )
    assert sanitize(text) == "First paragraph.  Second paragraph; third line end."
    assert one_line(text) == "First paragraph. Second paragraph; third line end."


def test_letters_marks_joiners_and_emoji_are_left_alone() -> None:
    text = "Zürich 東京 عربي \u200f(rtl mark) Schiff\u00adfahrt 👩\u200d💻 e\u0301"
    assert sanitize(text) == text
    assert one_line(f"  {text}  ") == text


def test_nothing_gives_nothing() -> None:
    assert sanitize(None) == sanitize("") == one_line(None) == ""


# Text as the web might send it: mostly letters, with every kind of control mixed in.
hostile_text = st.lists(
    st.one_of(
        st.characters(),
        st.sampled_from([*CONTROLS, *BIDI, ESC + "[", ESC + "]", ESC + "\\", "\r\n", "8;;"]),
    ),
    max_size=40,
).map("".join)
plain_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=BIDI), max_size=80
)


@given(hostile_text, st.booleans())
def test_output_has_no_escape_control_or_bidi_character(text: str, newlines: bool) -> None:
    allowed = {"\n", "\t"} if newlines else set()
    shown = sanitize(text, newlines=newlines)
    assert ESC not in shown
    assert not (set(shown) & CONTROLS) - allowed
    assert not set(shown) & set(BIDI)
    assert not any("\ud800" <= char <= "\udfff" for char in shown)


@given(hostile_text, st.booleans())
def test_sanitising_twice_changes_nothing(text: str, newlines: bool) -> None:
    once = sanitize(text, newlines=newlines)
    assert sanitize(once, newlines=newlines) == once
    assert one_line(one_line(text)) == one_line(text)


@given(plain_text)
def test_plain_text_passes_unchanged(text: str) -> None:
    assert sanitize(text) == text
    assert sanitize(text, newlines=True) == text


@given(st.lists(plain_text, max_size=5))
def test_paragraphs_pass_unchanged_when_newlines_are_kept(paragraphs: list[str]) -> None:
    text = "\n\n".join(paragraphs)
    assert sanitize(text, newlines=True) == text


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40), plain_text)
def test_a_hyperlink_shows_its_words_and_never_its_address(url: str, label: str) -> None:
    assert sanitize(osc8(url, label)) == sanitize(label)


def test_log_lines_quote_web_text_without_its_controls() -> None:
    record = logging.LogRecord(
        "monitor.pipeline.passes", logging.WARNING, __file__, 1, "source %s: %s", None, None
    )
    record.args = ("wire", "HTTP 500 \x1b]0;pwned\x07\u202eresponse\r\nsecond line")
    line = SanitizingFormatter("%(levelname)s %(message)s").format(record)
    assert line == "WARNING source wire: HTTP 500 response\nsecond line"
