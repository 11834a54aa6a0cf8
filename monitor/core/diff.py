"""Word-level differences between two versions of a story, and their renderings.

Both versions are normalised first (monitor.core.normalize), so whitespace, quote and
invisible-character noise never shows up as a change. The texts are then cut into
tokens (words, numbers, runs of whitespace, single punctuation marks), each distinct
token becomes one character, and diff-match-patch diffs those strings, the way its
``diff_linesToChars`` does for lines: edits are whole words, never a confetti of
letters, and semantic clean-up merges edits separated by a word or two into one.

All renderers treat the text as untrusted: it is sanitised (monitor.core.text: no escape
sequences, controls or bidi overrides), HTML is escaped, and Rich output is built from
plain strings, never from markup.
"""

from __future__ import annotations

import functools
import html
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from diff_match_patch import diff_match_patch
from rich.text import Text

from monitor.core.dates import as_utc
from monitor.core.normalize import normalize_text, normalize_title, word_character_class, words
from monitor.core.text import sanitize

__all__ = [
    "Change",
    "Diff",
    "Segment",
    "VersionText",
    "compute_diff",
    "diff_to_json",
    "render_html",
    "render_plain",
    "render_rich",
]

_T = TypeVar("_T")
SegmentOp = Literal["equal", "insert", "delete"]
ChangeOp = Literal["insert", "delete", "replace"]


@dataclass(frozen=True)
class VersionText:
    """The parts of a stored version that a diff compares."""

    title: str
    text: str
    byline: str | None = None
    published: datetime | None = None


class StoredVersion(Protocol):
    """What `version_text` reads of a stored version (monitor.store.models.Version)."""

    @property
    def title(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def byline(self) -> str | None: ...

    @property
    def published_at(self) -> datetime | None: ...


def version_text(version: StoredVersion) -> VersionText:
    return VersionText(
        title=version.title,
        text=version.text,
        byline=version.byline,
        published=version.published_at,
    )


@dataclass(frozen=True)
class Segment:
    """A run of the normalised text: in both versions, only the new, or only the old."""

    op: SegmentOp
    text: str


@dataclass(frozen=True)
class Change:
    """One edit: ``old`` is "" for an insert, ``new`` is "" for a delete. Both are exact
    slices of the normalised texts, paragraph breaks ("\\n\\n") included."""

    op: ChangeOp
    old: str
    new: str


@dataclass(frozen=True)
class Diff:
    """What changed between two versions. ``segments`` spell out the whole normalised
    text (equal runs included), for rendering changes in their context."""

    title_changed: tuple[str, str] | None
    byline_changed: tuple[str | None, str | None] | None
    published_changed: tuple[datetime | None, datetime | None] | None
    changes: tuple[Change, ...]
    segments: tuple[Segment, ...]
    words_added: int
    words_removed: int

    @property
    def changed(self) -> bool:
        return bool(
            self.title_changed or self.byline_changed or self.published_changed or self.changes
        )


# ---------------------------------------------------------------------------- diffing

# Tokens characters stand for: planes 15-16 (private use), which are neither letters
# nor spaces, so diff-match-patch's cosmetic boundary scoring treats all alike.
_FIRST_CODE = 0xF0000
_MAX_TOKENS = 0x110000 - _FIRST_CODE


# A replacement on both sides of an equality shorter than this many tokens (a word and
# its spaces: "under $6 million" -> "about $5.6 million") is shown as one replacement.
_EDIT_COST = 4


class _TooManyTokens(Exception):
    pass


@functools.cache
def _token_pattern() -> re.Pattern[str]:
    """Numbers with separators ("2,000", "5.6"), words (with inner ' or -), whitespace
    runs, any other single character: together they cover every character of a text."""
    word = f"{word_character_class()}+"
    return re.compile(rf"\d+(?:[.,:/]\d+)+|{word}(?:['-]{word})*|\s+|\S")


def _encode(text: str, vocabulary: dict[str, str], tokens: list[str]) -> str:
    """The text as one character per token, growing the shared vocabulary."""
    chars = []
    for token in _token_pattern().findall(text):
        char = vocabulary.get(token)
        if char is None:
            if len(tokens) == _MAX_TOKENS:
                raise _TooManyTokens
            char = vocabulary[token] = chr(_FIRST_CODE + len(tokens))
            tokens.append(token)
        chars.append(char)
    return "".join(chars)


def _raw_diff(old: str, new: str, timeout: float) -> list[tuple[int, str]]:
    """diff-match-patch at word granularity, or at character granularity for a text
    with more distinct tokens than there are spare characters (megabytes of text)."""
    dmp = diff_match_patch()
    dmp.Diff_Timeout = timeout
    dmp.Diff_EditCost = _EDIT_COST
    vocabulary: dict[str, str] = {}
    tokens: list[str] = []
    try:
        encoded = (_encode(old, vocabulary, tokens), _encode(new, vocabulary, tokens))
    except _TooManyTokens:
        encoded, tokens = (old, new), []
    diffs: list[tuple[int, str]] = dmp.diff_main(*encoded, False)
    dmp.diff_cleanupSemantic(diffs)
    dmp.diff_cleanupEfficiency(diffs)
    if not tokens:
        return diffs
    return [(op, "".join(tokens[ord(c) - _FIRST_CODE] for c in data)) for op, data in diffs]


_OPS: dict[int, SegmentOp] = {
    diff_match_patch.DIFF_EQUAL: "equal",
    diff_match_patch.DIFF_INSERT: "insert",
    diff_match_patch.DIFF_DELETE: "delete",
}


def _segments(old: str, new: str, timeout: float) -> tuple[Segment, ...]:
    """Runs of equal, deleted and inserted text, adjacent runs of one kind merged."""
    merged: list[Segment] = []
    for op, text in _raw_diff(old, new, timeout):
        if not text:
            continue
        if merged and merged[-1].op == _OPS[op]:
            merged[-1] = Segment(_OPS[op], merged[-1].text + text)
        else:
            merged.append(Segment(_OPS[op], text))
    return tuple(merged)


def _changes(segments: Sequence[Segment]) -> tuple[Change, ...]:
    """One change per run of edits between two equal segments."""
    changes: list[Change] = []
    old: list[str] = []
    new: list[str] = []
    for segment in [*segments, Segment("equal", "")]:
        if segment.op == "delete":
            old.append(segment.text)
        elif segment.op == "insert":
            new.append(segment.text)
        elif old or new:
            op: ChangeOp = "replace" if old and new else "delete" if old else "insert"
            changes.append(Change(op, "".join(old), "".join(new)))
            old, new = [], []
    return tuple(changes)


def _count_words(segments: Sequence[Segment], op: SegmentOp) -> int:
    return sum(len(words(segment.text)) for segment in segments if segment.op == op)


def _byline(byline: str | None) -> str | None:
    return (normalize_title(byline) or None) if byline is not None else None


def _pair_if_changed(old: _T, new: _T) -> tuple[_T, _T] | None:
    return None if old == new else (old, new)


def compute_diff(old: VersionText, new: VersionText, *, timeout: float = 1.0) -> Diff:
    """Word-level diff of two versions after normalisation.

    ``timeout`` bounds diff-match-patch in seconds (0 means none); when it runs out,
    the diff is still correct, only coarser.
    """
    segments = _segments(normalize_text(old.text), normalize_text(new.text), timeout)
    return Diff(
        title_changed=_pair_if_changed(normalize_title(old.title), normalize_title(new.title)),
        byline_changed=_pair_if_changed(_byline(old.byline), _byline(new.byline)),
        published_changed=_pair_if_changed(as_utc(old.published), as_utc(new.published)),
        changes=_changes(segments),
        segments=segments,
        words_added=_count_words(segments, "insert"),
        words_removed=_count_words(segments, "delete"),
    )


# ---------------------------------------------------------------------------- rendering

PieceKind = Literal["equal", "insert", "delete", "ellipsis"]
_Piece = tuple[PieceKind, str]


def _paragraphs(segments: Sequence[Segment]) -> list[list[_Piece]]:
    """The segments cut at paragraph breaks. Within a run of edits, the deleted and the
    inserted text are cut alike and paired paragraph by paragraph, so a removed
    paragraph stands on its own and an edit across a break shows as two."""
    paragraphs: list[list[_Piece]] = [[]]
    for _, run in itertools.groupby(segments, key=lambda segment: segment.op == "equal"):
        columns = [(segment.op, segment.text.split("\n\n")) for segment in run]
        for index in range(max(len(parts) for _, parts in columns)):
            if index:
                paragraphs.append([])
            paragraphs[-1] += [(op, parts[index]) for op, parts in columns if index < len(parts)]
    return [[(op, text) for op, text in paragraph if text] for paragraph in paragraphs]


def _elide(text: str, context: int, *, keep_start: bool, keep_end: bool) -> list[_Piece]:
    """Unchanged text cut down to ``context`` words next to each neighbouring change."""
    spans = [match.span() for match in re.finditer(r"\S+", text)]
    if len(spans) <= context * (keep_start + keep_end):
        return [("equal", text)]
    pieces: list[_Piece] = []
    if keep_start and context:
        pieces.append(("equal", text[: spans[context - 1][1]]))
    space_before, space_after = keep_start and context, keep_end and context
    pieces.append(("ellipsis", f"{' ' if space_before else ''}…{' ' if space_after else ''}"))
    if keep_end and context:
        pieces.append(("equal", text[spans[-context][0] :]))
    return pieces


def _hunks(diff: Diff, context: int) -> Iterator[list[_Piece]]:
    """Each changed paragraph, its unchanged stretches elided beyond the context."""
    for paragraph in _paragraphs(diff.segments):
        if all(kind == "equal" for kind, _ in paragraph):
            continue
        last = len(paragraph) - 1
        hunk: list[_Piece] = []
        for index, (kind, text) in enumerate(paragraph):
            if kind == "equal":
                hunk += _elide(text, context, keep_start=index > 0, keep_end=index < last)
            else:
                hunk.append((kind, text))
        yield hunk


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _iso_pair(pair: tuple[datetime | None, datetime | None] | None) -> tuple[Any, Any] | None:
    return None if pair is None else (_iso(pair[0]), _iso(pair[1]))


def _header(diff: Diff) -> Iterator[tuple[str, list[_Piece]]]:
    """Labelled lines for the title (diffed word by word), byline and date that changed."""
    if diff.title_changed:
        old, new = diff.title_changed
        yield "Title", [(s.op, s.text) for s in _segments(old, new, timeout=0.1)]
    for label, pair in (
        ("Byline", diff.byline_changed),
        ("Published", _iso_pair(diff.published_changed)),
    ):
        if pair:
            yield label, [("delete", pair[0] or ""), ("insert", pair[1] or "")]


_PLAIN_MARKERS = {
    "equal": ("", ""),
    "ellipsis": ("", ""),
    "delete": ("[-", "-]"),
    "insert": ("{+", "+}"),
}


def _marked_line(
    pieces: Sequence[_Piece],
    markers: dict[str, tuple[str, str]],
    escape: Callable[[str], str] = str,
) -> str:
    """The pieces joined, each between the opening and closing marker of its kind."""
    return "".join(
        f"{markers[kind][0]}{escape(sanitize(text))}{markers[kind][1]}"
        for kind, text in pieces
        if text
    )


def _plain_line(pieces: Sequence[_Piece]) -> str:
    return _marked_line(pieces, _PLAIN_MARKERS)


def render_plain(diff: Diff, context_words: int = 12) -> str:
    """The changes as plain text, ``[-deleted-]{+inserted+}``, one changed paragraph
    per block with ``context_words`` words of context around each change."""
    lines = [f"{label}: {_plain_line(pieces)}" for label, pieces in _header(diff)]
    hunks = [_plain_line(hunk) for hunk in _hunks(diff, context_words)]
    if not lines and not hunks:
        return "(no changes)"
    return "\n\n".join(filter(None, ["\n".join(lines), *hunks]))


_STYLES: dict[PieceKind, str] = {
    "equal": "",
    "ellipsis": "dim",
    "delete": "red strike",
    "insert": "green",
}


def _rich_line(pieces: Sequence[_Piece], label: str = "") -> Text:
    line = Text()
    if label:
        line.append(f"{label}: ", style="bold")
    for kind, text in pieces:
        if text:
            line.append(sanitize(text), style=_STYLES[kind])  # a plain str: never markup
    return line


def render_rich(diff: Diff, context_words: int = 12) -> Text:
    """The changes for a terminal: deletions red and struck through, insertions green,
    laid out like render_plain. Web text is appended as plain strings, never parsed
    as markup, so "[bold]" in it stays literal."""
    header = Text("\n").join(_rich_line(pieces, label) for label, pieces in _header(diff))
    hunks = [_rich_line(hunk) for hunk in _hunks(diff, context_words)]
    blocks = [header, *hunks] if header else hunks
    if not blocks:
        return Text("(no changes)", style="dim")
    return Text("\n\n").join(blocks)


_HTML_TAGS = {
    "equal": ("", ""),
    "ellipsis": ("", ""),
    "delete": ("<del>", "</del>"),
    "insert": ("<ins>", "</ins>"),
}


def _html_line(pieces: Sequence[_Piece]) -> str:
    return _marked_line(pieces, _HTML_TAGS, html.escape)


def render_html(diff: Diff, context_words: int = 12) -> str:
    """The changes as an HTML fragment with ``<del>``/``<ins>``; all text escaped."""
    parts = ['<div class="diff">']
    for label, pieces in _header(diff):
        parts.append(f'<p class="diff-{label.lower()}"><b>{label}:</b> {_html_line(pieces)}</p>')
    parts += [f"<p>{_html_line(hunk)}</p>" for hunk in _hunks(diff, context_words)]
    parts.append("</div>")
    return "\n".join(parts)


def diff_to_json(diff: Diff, story_id: int, from_version: int, to_version: int) -> dict[str, Any]:
    """The diff as JSON-ready data: the API contract, plus byline and date changes
    (dates as ISO 8601 strings in UTC)."""

    def pair(values: tuple[Any, Any] | None) -> dict[str, Any] | None:
        return None if values is None else {"old": values[0], "new": values[1]}

    return {
        "story_id": story_id,
        "from_version": from_version,
        "to_version": to_version,
        "title_changed": pair(diff.title_changed),
        "changes": [{"op": c.op, "old": c.old, "new": c.new} for c in diff.changes],
        "stats": {"words_added": diff.words_added, "words_removed": diff.words_removed},
        "byline_changed": pair(diff.byline_changed),
        "published_changed": pair(_iso_pair(diff.published_changed)),
    }


def title_pieces(diff: Diff) -> list[_Piece]:
    """The headline change word by word as (op, text) pieces; empty when it did not change
    (the web view shows it first)."""
    return next((pieces for label, pieces in _header(diff) if label == "Title"), [])


def paragraph_pieces(diff: Diff) -> list[list[_Piece]]:
    """The whole text, paragraph by paragraph, as (op, text) pieces with nothing elided:
    op is "equal", "delete" or "insert" (the web view's inline and side-by-side diffs)."""
    return _paragraphs(diff.segments)
