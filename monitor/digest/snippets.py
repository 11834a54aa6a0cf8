"""The changed sentences of a diff, for an email: short, each change in its sentence.

monitor.core.diff renders whole paragraphs with a fixed number of context words; a digest
reader wants less: only the sentence around each change, a few of them per story, and
long insertions clipped. This works on the public Diff.segments, so it stays independent
of how monitor.core.diff renders for the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from monitor.core.diff import Segment, VersionText, compute_diff
from monitor.core.text import one_line
from monitor.digest.content import Piece, Snippet

CONTEXT_WORDS = 20  # at most this many unchanged words on each side of a change
CHANGE_WORDS = 60  # an insertion or deletion longer than this is clipped
MAX_SNIPPETS = 3  # per story; the rest are counted

# The end of a sentence (punctuation, closing quotes, then space) or of a paragraph.
_BOUNDARY = re.compile(r"[.!?…][\"')\]]*(\s+)|\n\s*\n\s*")


def _boundaries(text: str) -> list[tuple[int, int]]:
    """(end of a sentence, start of the next) for each boundary in the text."""
    return [(m.start(1) if m.group(1) else m.start(), m.end()) for m in _BOUNDARY.finditer(text)]


def _first_words(text: str, count: int) -> str:
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    return text if len(spans) <= count else text[: spans[count - 1][1]]


def _last_words(text: str, count: int) -> str:
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    return text if len(spans) <= count else text[spans[-count][0] :]


def _break_between(left: str, right: str) -> bool:
    """Whether a sentence or a paragraph ends where ``left`` meets ``right``."""
    window = left[-8:] + right[:8]
    junction = len(left[-8:])
    return any(end <= junction <= start for end, start in _boundaries(window))


def _lead_in(text: str, change: str) -> list[Piece]:
    """Unchanged text before a change: the start of its sentence; "…" when the sentence
    is longer than CONTEXT_WORDS."""
    if _break_between(text, change):
        return []
    bounds = _boundaries(text)
    sentence = text[bounds[-1][1] :] if bounds else text
    kept = _last_words(sentence, CONTEXT_WORDS)
    if kept == sentence:
        return [Piece("equal", kept)]
    return [Piece("ellipsis", "… "), Piece("equal", kept.lstrip())]


def _tail(change: str, text: str) -> list[Piece]:
    """Unchanged text after a change: the rest of its sentence; "…" when that is longer
    than CONTEXT_WORDS."""
    if _break_between(change, text):
        return []
    bounds = _boundaries(text)
    sentence = text[: bounds[0][0]] if bounds else text
    kept = _first_words(sentence, CONTEXT_WORDS)
    if kept == sentence:
        return [Piece("equal", kept)]
    return [Piece("equal", kept.rstrip()), Piece("ellipsis", " …")]


def _clip(text: str) -> str:
    """A long insertion or deletion cut to its first words."""
    flat = _fold(text)
    clipped = _first_words(flat, CHANGE_WORDS)
    return flat if clipped == flat else f"{clipped} …"


def _runs(segments: Sequence[Segment]) -> Iterator[list[Piece]]:
    """Snippets: changes that share a sentence stay together, with their context."""
    changed = [i for i, segment in enumerate(segments) if segment.op != "equal"]
    if not changed:
        return
    first, last = changed[0], changed[-1]
    current: list[Piece] = []
    for index, segment in enumerate(segments):
        if segment.op != "equal":
            text = _clip(segment.text)
            if text:
                current.append(Piece(segment.op, text))
            continue
        before = segments[index - 1].text if index > first else ""
        after = segments[index + 1].text if index < last else ""
        if index < first:
            current += _lead_in(segment.text, after)
        elif index > last:
            current += _tail(before, segment.text)
        elif _boundaries(segment.text) or _break_between(before, segment.text):
            current += _tail(before, segment.text)
            yield current
            current = _lead_in(segment.text, after)
        else:
            current.append(Piece("equal", segment.text))
    yield current


def _tidy(pieces: list[Piece]) -> Snippet:
    """Whitespace folded to single spaces (paragraph breaks included), none at the ends."""
    out = [Piece(p.kind, _fold(p.text)) for p in pieces]
    out = [p for p in out if p.text]
    if out:
        out[0] = Piece(out[0].kind, out[0].text.lstrip())
        out[-1] = Piece(out[-1].kind, out[-1].text.rstrip())
    return tuple(p for p in out if p.text)


def _fold(text: str) -> str:
    """one_line, but a leading or trailing space survives (it separates words)."""
    inner = one_line(text)
    if not inner:
        return " " if text[:1].isspace() or text[-1:].isspace() else ""
    lead = " " if text[:1].isspace() else ""
    trail = " " if text[-1:].isspace() else ""
    return f"{lead}{inner}{trail}"


def text_snippets(segments: Sequence[Segment]) -> tuple[tuple[Snippet, ...], int]:
    """At most MAX_SNIPPETS changed sentences, and how many more there were."""
    snippets = [s for s in (_tidy(run) for run in _runs(segments)) if _has_change(s)]
    return tuple(snippets[:MAX_SNIPPETS]), max(0, len(snippets) - MAX_SNIPPETS)


def _has_change(snippet: Snippet) -> bool:
    return any(piece.kind in ("insert", "delete") for piece in snippet)


def title_snippet(old: str, new: str) -> Snippet:
    """The headline change, word by word, in full."""
    segments = compute_diff(VersionText("", old), VersionText("", new)).segments
    return _tidy([Piece(s.op, s.text) for s in segments])


# ---------------------------------------------------------------- the lead of a new story

LEAD_CHARS = 240  # a lead snippet's length at most: about two lines of a phone screen
LEAD_MIN_WORDS = 8  # a shorter paragraph is furniture (a byline, "Updated 5 min ago", a caption)

# Words whose full stop does not end a sentence: titles, months, "Inc." (initials such as
# "U.S." or "J." are recognised by their shape).
_ABBREVIATIONS = frozenset(
    {
        *("mr", "mrs", "ms", "dr", "prof", "sen", "rep", "gov", "gen", "lt", "col", "capt"),
        *("sgt", "st", "jr", "sr", "rev", "hon", "pres", "inc", "corp", "ltd", "co", "no"),
        *("nos", "vs", "etc", "al", "approx", "dept", "est", "fig", "jan", "feb", "mar"),
        *("apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"),
    }
)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9À-Þ])")
_FURNITURE = re.compile(
    r"^(advertisement|sign up|subscribe|read more|related|share (this|on)|listen to|"
    r"click here|we use cookies|follow us|most read|updated|published|posted)\b",
    re.IGNORECASE,
)


def _sentences(paragraph: str) -> list[str]:
    """The paragraph's sentences; a full stop after an abbreviation or an initial is none."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(paragraph):
        word = paragraph[start : match.start() + 1].rsplit(None, 1)[-1].rstrip(".").lower()
        if word in _ABBREVIATIONS or len(word) == 1 or re.fullmatch(r"(\w\.)+\w", word):
            continue
        sentences.append(paragraph[start : match.end()].strip())
        start = match.end()
    rest = paragraph[start:].strip()
    return [*sentences, rest] if rest else sentences


def _prose(paragraph: str, title: str) -> bool:
    """Whether a paragraph is the article's prose, not page furniture left by extraction:
    the headline repeated, a byline, a dateline stamp, a caption, a newsletter plug."""
    words = paragraph.split()
    if len(words) < LEAD_MIN_WORDS or _FURNITURE.match(paragraph):
        return False
    return paragraph.casefold() != title.casefold()


def _shorten(text: str, limit: int) -> str:
    """Cut at the last whole word that fits, with an ellipsis."""
    cut = text[: limit - 1]
    if not text[limit - 1 : limit].isspace():
        cut = cut.rsplit(None, 1)[0] if " " in cut else cut
    return cut.rstrip(" ,;:–—-") + "…"


def lead_snippet(text: str, title: str = "") -> str:
    """The first one or two sentences of a story's stored (extracted) text, at most
    LEAD_CHARS with an ellipsis when cut: what a news alert shows under a headline."""
    paragraphs = [one_line(p) for p in re.split(r"\n\s*\n|\n", text or "")]
    title = one_line(title)
    sentences = [s for p in paragraphs if _prose(p, title) for s in _sentences(p)]
    if not sentences:
        return ""
    first = sentences[0]
    if len(first) > LEAD_CHARS:
        return _shorten(first, LEAD_CHARS)
    if len(sentences) > 1 and len(first) + 1 + len(sentences[1]) <= LEAD_CHARS:
        return f"{first} {sentences[1]}"
    return first
