"""Normalisation: what counts as the same text."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from monitor.core.normalize import (
    content_hash,
    normalize_text,
    normalize_title,
    normalized_content_hash,
    words,
)


def test_typography_becomes_ascii() -> None:
    text = (
        "\u201cIt\u2019s \u2018big\u2019\u201d \u2014 \u00abvery\u00bb big\u2026 \u22123 \u2013 4"
    )
    assert normalize_text(text) == '"It\'s \'big\'" - "very" big... -3 - 4'


def test_invisible_characters_are_removed() -> None:
    text = "\ufeffDeep\u200bSeek\u00ad\u2019s app\u200d\x1b[31m\x00"
    assert normalize_text(text) == "DeepSeek's app[31m"


def test_spaces_collapse_and_paragraphs_are_separated_by_one_blank_line() -> None:
    text = (
        "  First\u00a0\u00a0para\tgraph \u2009 here. \r\n\r\n\n \u3000\n\u2028Second one.\nThird "
    )
    assert normalize_text(text) == "First para graph here.\n\nSecond one.\n\nThird"


def test_case_and_letters_are_kept() -> None:
    text = "Liang Wenfeng NAÏVE cafe\u0301 ﬁne ２０２５"
    assert normalize_text(text) == "Liang Wenfeng NAÏVE café fine 2025"


def test_title_is_one_line() -> None:
    assert normalize_title("  DeepSeek\ntops the\r\n\u201cApp Store\u201d ") == (
        'DeepSeek tops the "App Store"'
    )
    assert normalize_title("\u200b \n ") == ""


def test_content_hash() -> None:
    assert content_hash("A title", "Some text.") == content_hash(" A  title", "Some\u00a0text. ")
    assert content_hash("A title", "Some text.") != content_hash("A title", "Some text!")
    assert content_hash("A title", "Some text.") != content_hash("A Title", "Some text.")
    # The separator is unambiguous: moving words between title and text changes the hash.
    assert content_hash("a b", "c") != content_hash("a", "b c")
    assert content_hash("", "a\n\nb") != content_hash("a", "b")
    assert len(content_hash("", "")) == 64


def test_words() -> None:
    text = "DeepSeek\u2019s R1 \u2014 \u201cH800\u201d chips, $6 million; snake_case. Stra\u00dfe"
    expected = ["deepseeks", "r1", "h800", "chips", "6", "million", "snake", "case", "strasse"]
    assert words(text) == expected
    assert words("हिन्दी समाचार, ข่าวไทย") == ["हिन्दी", "समाचार", "ข่าวไทย"]
    assert words(" -- ... ") == []


@given(st.text())
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert normalize_title(normalize_title(text)) == normalize_title(text)
    assert normalize_title(once) == normalize_title(text)


@given(st.text())
def test_normal_form_invariants(text: str) -> None:
    normal = normalize_text(text)
    assert normal == normal.strip()
    for paragraph in normal.split("\n\n") if normal else []:
        assert paragraph
        assert paragraph == " ".join(paragraph.split())
        assert unicodedata.is_normalized("NFKC", paragraph)
        categories = {unicodedata.category(char) for char in paragraph.replace(" ", "")}
        assert not categories & {"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"}


WORD = st.text(alphabet="abcdefghijDEF0123'\u2019\u00e9", min_size=1, max_size=8)
SPACE = st.sampled_from([" ", "  ", "\t", "\u00a0", "\u2009", "\u202f", " \u200b ", "\u3000"])
INVISIBLE = st.sampled_from(["", "\u200b", "\u00ad", "\ufeff", "\u200c", "\u2060"])
QUOTES = str.maketrans({"'": "\u2019", '"': "\u201d"})


@st.composite
def noisy_copy(draw: st.DrawFn) -> tuple[str, str]:
    """A plain text and a copy with noisy spacing, invisible characters and curly quotes."""
    paragraphs = draw(st.lists(st.lists(WORD, min_size=1, max_size=6), max_size=4))
    plain = "\n".join(" ".join(paragraph) for paragraph in paragraphs)
    noisy_paragraphs = []
    for paragraph in paragraphs:
        noisy_words = [draw(INVISIBLE).join(word.translate(QUOTES)) for word in paragraph]
        spaced = "".join(draw(SPACE) + word for word in noisy_words) + draw(SPACE)
        noisy_paragraphs.append(spaced)
    separator = draw(st.sampled_from(["\n", "\r\n", "\n\n\n", "\n \u00a0\n", "\u2029"]))
    return plain, separator.join(noisy_paragraphs)


@given(noisy_copy(), noisy_copy())
def test_hash_ignores_noise(text: tuple[str, str], title: tuple[str, str]) -> None:
    (plain_text, noisy_text), (plain_title, noisy_title) = text, title
    assert normalize_text(noisy_text) == normalize_text(plain_text)
    assert content_hash(noisy_title, noisy_text) == content_hash(plain_title, plain_text)
    assert words(noisy_text) == words(plain_text)


TYPOGRAPHIC = "\u2018\u2019\u201a\u201b\u2039\u203a\u201c\u201d\u201e\u201f\u00ab\u00bb"
DASHES = "\u2010\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b"


@given(st.text(alphabet=st.characters() | st.sampled_from(TYPOGRAPHIC + DASHES)))
def test_every_typographic_quote_and_dash_becomes_ascii(text: str) -> None:
    """Whatever surrounds them (non-ASCII text takes a path of its own)."""
    normal = normalize_text(text)
    assert not set(normal) & set(TYPOGRAPHIC + DASHES)


def test_quotes_and_dashes_map_as_stored_hashes_expect() -> None:
    """Content hashes of stored versions were made with this mapping: it must not move."""
    assert normalize_text(
        "\u201eZitat\u201c \u2014 \u00abcit\u00e9\u00bb \u2039x\u203a \u2212 5"
    ) == ('"Zitat" - "cit\u00e9" \'x\' - 5')
    assert content_hash("T", "\u201cq\u201d") == content_hash("T", '"q"')


@given(st.text(max_size=40), st.text())
def test_the_hash_of_a_text_normalised_already_is_its_content_hash(title: str, text: str) -> None:
    """The writer hashes the text the worker normalised: the same hash as from the raw text."""
    assert normalized_content_hash(title, normalize_text(text)) == content_hash(title, text)
