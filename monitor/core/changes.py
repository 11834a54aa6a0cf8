"""What kind of change a new version is (pure).

The classes, from the most to the least alarming when several apply:

- ``removed``: the page now answers 404 or 410, or redirects to a site's front page.
- ``restored``: the page is back after it was removed.
- ``major``: at least MAJOR_SHARE of the text's words were removed or added.
- ``headline``: the headline changed (beyond case and punctuation).
- ``edit``: the text changed.
- ``minor``: only case or punctuation changed, or a typo was fixed: at most
  MINOR_CHARACTERS characters in at most MINOR_WORDS words, with no digit involved (a
  corrected number is never minor).
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from monitor.core.diff import Diff
from monitor.core.normalize import normalize_text, normalize_title

ChangeClass = Literal["headline", "minor", "edit", "major", "removed", "restored"]
CHANGE_CLASSES: tuple[ChangeClass, ...] = (
    "removed",
    "restored",
    "major",
    "headline",
    "edit",
    "minor",
)

MAJOR_SHARE = 0.5
MINOR_CHARACTERS = 3
MINOR_WORDS = 1
REMOVED_STATUSES = frozenset({404, 410})

_NOT_WORD = re.compile(r"[\W_]+")
_FRONT_PAGE_PATHS = frozenset({"", "/", "/index.html", "/index.htm", "/index.php", "/home"})


def skeleton(text: str) -> str:
    """The text without case, punctuation or spacing: equal skeletons mean a minor change."""
    return _NOT_WORD.sub(" ", normalize_text(text).casefold()).strip()


def classify(diff: Diff, old_title: str, new_title: str, old_text: str) -> ChangeClass:
    """The class of a content change between two fetched versions."""
    old_words = max(1, len(normalize_text(old_text).split()))
    if max(diff.words_added, diff.words_removed) / old_words >= MAJOR_SHARE:
        return "major"
    title_changed = normalize_title(old_title) != normalize_title(new_title)
    if title_changed and skeleton(old_title) != skeleton(new_title):
        return "headline"
    if not diff.changes:
        return "minor"  # only the headline's case or punctuation
    if _is_small(diff) or all(skeleton(c.old) == skeleton(c.new) for c in diff.changes):
        return "minor"
    return "edit"


def _is_small(diff: Diff) -> bool:
    if any(ch.isdigit() for c in diff.changes for ch in c.old + c.new):
        return False
    characters = sum(_edit_distance_bound(c.old, c.new) for c in diff.changes)
    words = max(diff.words_added, diff.words_removed)
    return characters <= MINOR_CHARACTERS and words <= MINOR_WORDS


def _edit_distance_bound(old: str, new: str) -> int:
    """Characters changed, bounded cheaply: what is not shared at the two ends."""
    old, new = old.strip(), new.strip()
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    end = 0
    while end < min(len(old), len(new)) - start and old[-1 - end] == new[-1 - end]:
        end += 1
    return max(len(old), len(new)) - start - end


def is_removal(status: int | None, story_url: str, final_url: str | None = None) -> bool:
    """404/410, or a redirect from an article to the site's front page."""
    if status in REMOVED_STATUSES:
        return True
    if final_url is None or final_url == story_url:
        return False
    story_path = urlsplit(story_url).path
    return urlsplit(final_url).path in _FRONT_PAGE_PATHS and story_path not in _FRONT_PAGE_PATHS
