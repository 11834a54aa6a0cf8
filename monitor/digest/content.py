"""The digest as data: a tree of frozen dataclasses that build.py fills and render.py reads.

Pure on purpose: rendering needs no database, so templates are tested (and previewed)
from hand-made trees. Every string from the web is sanitised before it is put in the tree
(monitor.core.text.one_line, in build.py and snippets.py), and is escaped later by the templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

PieceKind = Literal["equal", "insert", "delete", "ellipsis"]


@dataclass(frozen=True, slots=True)
class Piece:
    """A run of a diff snippet: unchanged, inserted, deleted, or an elision mark."""

    kind: PieceKind
    text: str


Snippet = tuple[Piece, ...]


@dataclass(frozen=True, slots=True)
class Link:
    title: str
    url: str
    outlet: str


@dataclass(frozen=True, slots=True)
class NewItem:
    """A new story, the outlets that carried copies of it ("also: a, b, +N"), the first
    sentence or two of its text (what a reader decides on, as in a news alert), the other
    topics it is listed under (so an entry seen twice is not taken for two stories), and why
    it is in the topic when it is there by its likeness to an example."""

    story: Link
    also: tuple[str, ...] = ()
    also_more: int = 0
    snippet: str = ""
    also_under: tuple[str, ...] = ()
    # Why it is in the section's topic when no word of the topic's says so: "similar to
    # seed 000_x (score 0.31)" (monitor.core.topics.explain); "" for a match by its terms.
    why: str = ""


@dataclass(frozen=True, slots=True)
class ChangedItem:
    """A story edited in the period: the class of its biggest change and what changed."""

    story: Link
    change_class: str
    title_diff: Snippet | None = None
    snippets: tuple[Snippet, ...] = ()
    more_snippets: int = 0
    also_under: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RemovedItem:
    """A story taken down, with when it was first seen and when it was found gone: a
    story that came and went within the period is here, not under "new" (its link is dead)."""

    story: Link
    first_seen: datetime | None = None
    removed_at: datetime | None = None
    also_under: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TopicSection:
    topic: str
    new: tuple[NewItem, ...] = ()
    changed: tuple[ChangedItem, ...] = ()
    removed: tuple[RemovedItem, ...] = ()
    omitted: int = 0  # items beyond the per-list limit, left out


@dataclass(frozen=True, slots=True)
class Digest:
    """One recipient's digest for [period_start, period_end). The counts are the stories
    a reader sees, not entries: a story under two topics counts once (its entries say
    "also under"), and a story with its copies and coverage folded into it counts once."""

    recipient: str
    period_start: datetime
    period_end: datetime
    timezone: str
    sections: tuple[TopicSection, ...]
    new_count: int
    changed_count: int
    removed_count: int

    @property
    def empty(self) -> bool:
        return not (self.new_count or self.changed_count or self.removed_count)
