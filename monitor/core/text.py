"""Text from the web made safe to show: in a terminal, in a web page, in a mail (pure).

A headline is written by strangers. Shown as it came, a terminal escape sequence could
recolour, retitle or clear the screen, or hide a link's address behind its words (OSC 8);
a bidi override (U+202E) could make "exe.txt" read "txt.exe"; a carriage return could
overwrite what is already on the line. `sanitize` is the one place that takes all of that
out, for every way monitor shows text: the CLI, the diff renderers and the digest. Escaping
for HTML is not done here: that stays the job of the renderer (Jinja2 autoescaping,
html.escape), after the controls are gone.
"""

from __future__ import annotations

import logging
import re

__all__ = ["SanitizingFormatter", "count", "one_line", "sanitize"]

# Escape sequences, in their 7-bit (ESC + letter) and 8-bit (C1) forms. The string kinds
# (OSC, DCS, SOS, PM, APC) carry a payload, which goes with them: OSC 8's is the hidden URL
# of a hyperlink. Their payload ends at BEL or ST; without either, only the introducer goes
# (the rest is then harmless text, and a stray C1 character from a mis-decoded page does
# not take the rest of a headline with it).
_SEQUENCE = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x9c|\x1b\\)"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, clearing
    r"|\x1b[ -/]*[0-~]"  # every other escape sequence (charsets, resets, ST)
)

_BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_LINE_BREAKS = "\n\x0b\x0c\r\x1c\x1d\x1e\x85"  # where str.splitlines breaks a line
_SPACES = "\t\x1f"  # whitespace controls that are not line breaks

_DROPPED = {
    code: None
    for code in [
        *range(0x00, 0x20),  # C0 controls
        *range(0x7F, 0xA0),  # DEL and C1 controls
        *map(ord, _BIDI_CONTROLS),  # embeddings, overrides, isolates: they reorder text
        *range(0xD800, 0xE000),  # lone surrogates: no character, and no encoding takes them
    ]
}
_ONE_LINE: dict[int, str | None] = {
    **_DROPPED,
    **{ord(char): " " for char in _LINE_BREAKS + _SPACES},
}
_LINES: dict[int, str | None] = {
    **_ONE_LINE,
    **{ord(char): "\n" for char in _LINE_BREAKS},
    ord("\t"): "\t",
}


def sanitize(text: str | None, *, newlines: bool = False) -> str:
    """Text safe to show anywhere: no escape sequence (payload included), no C0 or C1
    control, no bidi embedding, override or isolate, no lone surrogate.

    Whitespace controls become a space, so that words they separated stay apart; with
    ``newlines`` (a terminal showing paragraphs) line breaks become "\\n" and tabs stay.
    Everything else (letters, emoji, joiners, marks) is left as it is."""
    if not text:
        return ""
    if text.isprintable():  # fast path: no control, format or surrogate character at all
        return text
    text = _SEQUENCE.sub("", text).replace("\r\n", "\n")
    return text.translate(_LINES if newlines else _ONE_LINE)


def count(number: int, noun: str, plural: str | None = None) -> str:
    """'1 pass', '3 passes', '0 sources': a count people read without wincing."""
    if number == 1:
        return f"{number} {noun}"
    if plural is None:
        plural = noun + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s")
    return f"{number} {plural}"


def one_line(text: str | None) -> str:
    """Sanitised text for one line (a headline, an outlet): every run of whitespace one
    space, none at the ends."""
    return " ".join(sanitize(text).split())


def error_line(exc: BaseException, limit: int = 200) -> str:
    """An unexpected error as one line for a user (a source's `last_error`, a health reason):
    its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:limit]}" if lines else type(exc).__name__


class SanitizingFormatter(logging.Formatter):
    """Log lines for a terminal or a journal: a warning quotes URLs and servers' error
    messages, which are web text too. Tracebacks keep their lines."""

    def format(self, record: logging.LogRecord) -> str:
        return sanitize(super().format(record), newlines=True)
