"""Text normalisation applied before comparing versions and before fingerprinting.

Pages change in ways no reader would call an edit: curly quotes become straight ones,
a CMS inserts zero-width spaces or soft hyphens, spacing and line wrapping shift.
Everything here maps such variants to one canonical form, so that a "new version" or
a "different text" always means different words.

The canonical text is a sequence of paragraphs separated by exactly ``"\\n\\n"``.
Every line break in the input (``\\n``, ``\\r\\n``, U+2028, ...) ends a paragraph,
because extracted article text puts one paragraph per line; within a paragraph all
whitespace collapses to one ASCII space.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata

__all__ = [
    "content_hash",
    "normalize_text",
    "normalize_title",
    "normalized_content_hash",
    "word_character_class",
    "words",
]

_PUNCTUATION = str.maketrans(
    {
        # single quotes, apostrophes, guillemets
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2039": "'",
        "\u203a": "'",
        # double quotes
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        # hyphens and dashes: hyphen, figure, en, em, horizontal bar, minus, 2-em, 3-em
        "\u2010": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u2e3a": "-",
        "\u2e3b": "-",
    }
)

# As (character, replacement) pairs: a str.replace for each character present costs far less
# than str.translate, which looks every character of a non-ASCII text up in the table.
_PUNCTUATION_PAIRS = tuple((chr(code), ascii_form) for code, ascii_form in _PUNCTUATION.items())


def _ascii_punctuation(text: str) -> str:
    """`text` with the quotes and dashes of _PUNCTUATION in their ASCII form."""
    if text.isascii():
        return text
    for character, ascii_form in _PUNCTUATION_PAIRS:
        if character in text:
            text = text.replace(character, ascii_form)
    return text


# Whitespace control characters (\t, \n, \r, \x0b, \x0c, \x1c-\x1f, \x85) carry layout,
# so they are kept for the whitespace pass; all other controls are noise.
_LAYOUT_CONTROLS = frozenset("\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85")


def _is_noise(char: str) -> bool:
    """Invisible characters: format (Cf), surrogates (Cs) and non-layout controls (Cc)."""
    category = unicodedata.category(char)
    if category == "Cc":
        return char not in _LAYOUT_CONTROLS
    return category in ("Cf", "Cs")


def _drop_noise(line: str) -> str:
    if line.isprintable():  # fast path: no Cc/Cf/Cs (nor any non-ASCII space) at all
        return line
    return "".join(char for char in line if not _is_noise(char))


def _paragraphs(text: str) -> list[str]:
    paragraphs = []
    for line in text.splitlines():
        # Noise goes before NFKC, so that characters it separated can combine now and
        # not on a second pass: this ordering is what makes normalisation idempotent.
        canonical = _ascii_punctuation(unicodedata.normalize("NFKC", _drop_noise(line)))
        paragraph = " ".join(canonical.split())
        if paragraph:
            paragraphs.append(paragraph)
    return paragraphs


def normalize_text(text: str) -> str:
    """Canonical article text: NFKC, ASCII quotes and dashes, no invisible characters,
    one space between words, paragraphs joined by exactly one blank line."""
    return "\n\n".join(_paragraphs(text))


def normalize_title(title: str) -> str:
    """Canonical single-line text (titles, bylines): like normalize_text, one line."""
    return " ".join(_paragraphs(title))


def content_hash(title: str, text: str) -> str:
    """Hex SHA-256 of the normalised title and text: equal iff both normalise equal.

    The title is length-prefixed, so no title/text split can collide with another.
    """
    return normalized_content_hash(title, normalize_text(text))


def normalized_content_hash(title: str, normalized_text: str) -> str:
    """content_hash(title, text) given normalize_text(text): the writer has it from the
    worker, and normalising a long text again would cost its thread more than the hash."""
    title_bytes = normalize_title(title).encode()
    digest = hashlib.sha256(b"%d:" % len(title_bytes))
    digest.update(title_bytes)
    digest.update(normalized_text.encode())
    return digest.hexdigest()


def _is_mark(char: str) -> bool:
    return unicodedata.category(char).startswith("M")


@functools.cache
def word_character_class() -> str:
    """Regex character class of word characters: ``\\w`` plus combining marks.

    Python's ``\\w`` leaves out combining marks, which would cut words in Devanagari,
    Thai, ... apart, so the BMP's marks are added (found once, lazily, in 10-20 ms).
    Marks beyond the BMP (historic scripts) are left out: they would make the character
    class several times slower, and a split word there is harmless.
    """
    marks = "".join(chr(cp) for cp in range(0x300, 0x10000) if _is_mark(chr(cp)))
    return f"[\\w{re.escape(marks)}]"


@functools.cache
def _word_pattern() -> re.Pattern[str]:
    letters = f"{word_character_class()}+"
    return re.compile(f"{letters}(?:'{letters})*")  # an inner apostrophe joins: "it's"


def words(text: str) -> list[str]:
    """Case-folded words of the normalised text, for fingerprints: runs of letters,
    digits and combining marks; punctuation and "_" dropped; "it's" becomes "its"."""
    folded = normalize_text(text).casefold().replace("_", " ")
    return [match.replace("'", "") for match in _word_pattern().findall(folded)]
