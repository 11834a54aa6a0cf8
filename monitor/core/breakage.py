"""Extractor-breakage alarms (pure): is what extraction returns for a source's pages still
what it usually returns?

When a site changes its template, a consent wall goes up, or a per-source selector stops
matching, extraction goes on returning *something*, and every downstream answer (duplicates,
topics, changes, diffs) silently goes wrong. So each source keeps rolling statistics of what
its pages extract to, in two parts:

- `recent`: the last WINDOW pages (new stories and re-checks), judged together;
- `usual`: running means over the pages before them (about the last BASELINE_MEMORY): text
  length, share with a title, with a date, rejected as "not the article", and of re-checks
  whose text changed.

`judge` compares the two. A source is `extraction degraded` (with one line saying why) when,
with at least MIN_BASELINE pages known before the window and MIN_RECENT in it, of at least
MIN_STORIES different stories (a source of one watched page is never judged: its own edits
would look like a breakage):

- at least NOT_ARTICLE_NOW of the recent pages are rejected as not the article, where
  usually at most NOT_ARTICLE_USUAL were (a consent wall, a paywall stub);
- at least EMPTY_NOW of the recent articles extract to less than EMPTY_LENGTH characters
  (usual length at least MIN_USUAL_LENGTH);
- their median length is under SHORTER of their length before (a re-check's: its story's
  last version; a new page's: the usual mean length);
- at most LOST_NOW of them have a title (or a date), where usually at least USUAL_SHARE did;
- at least CHANGED_NOW of at least MIN_RECHECKS recent re-checks found the text changed,
  alike (the same paragraph added or lost by that share of them), where usually at most
  CHANGED_USUAL changed: every page "changing" at once in the same way is a template change
  (a footer leaking in), not an edit wave (every story edited in its own way).

While a source is degraded its pages still enter `recent` but not `usual` (the baseline is
frozen, so the alarm cannot teach itself that broken is normal); it clears by itself once
the window holds pages that extract as before.

`looks_broken` is the same idea for one re-checked page against its story's last version:
a page that suddenly extracts much shorter, loses its title, or is not the article any more;
so is a changed page that added or lost the same paragraph as a page of another story in the
window (`alike`). Such a page is held back as a suspect (monitor.pipeline.held) even before
the window's verdict, so a breakage writes at most one version before it is seen; if the
window then moves past it without an alarm, the change was the story's own (a story cut to a
line) and it is written. A source whose window holds a single story (a watched page) holds no
suspects: nothing could tell its own edit from a breakage.
"""

from __future__ import annotations

import hashlib
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

WINDOW = 6  # the most recent pages, judged together
MIN_RECENT = 4  # pages in the window before it is judged
MIN_BASELINE = 6  # pages seen before the window, to know what is usual
MIN_STORIES = 3  # different stories in the window: one page re-checked says nothing of a site
BASELINE_MEMORY = 200  # the usual values are running means over about this many pages
SHORTER = 0.4  # median recent length below this share of the usual mean length
MIN_USUAL_LENGTH = 300  # characters: sources of shorter texts are not judged on length
EMPTY_LENGTH = 50  # characters: a text shorter than this counts as empty
EMPTY_NOW = 0.6  # share of recent articles that are empty
USUAL_SHARE = 0.8  # titles (dates) were present in at least this share …
LOST_NOW = 0.25  # … and now in at most this share
NOT_ARTICLE_NOW = 0.5  # share of recent pages rejected as not the article …
NOT_ARTICLE_USUAL = 0.2  # … where usually at most this share were
CHANGED_NOW = 0.8  # share of recent re-checks whose text changed …
CHANGED_USUAL = 0.4  # … where usually at most this share did
MIN_RECHECKS = 4  # recent re-checks needed to judge changes
PAGE_SHORTER = 0.4  # one page: its text below this share of its last version's length


@dataclass(frozen=True, slots=True)
class Page:
    """What extraction returned for one page."""

    length: int  # characters of text
    title: bool
    date: bool
    not_article: bool  # rejected as not the article (a consent wall, a teaser)
    changed: bool | None = None  # a re-check: whether its text changed; None: a first fetch
    story: int = 0  # which story: a window of one story's re-checks is not judged
    before: int | None = None  # a re-check: its story's last version's length
    # A changed re-check: short hashes of the paragraphs it added ("+…") and lost ("-…")
    # (`paragraph_changes`): a template change adds or loses the same ones on every page.
    changes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Usual:
    """Running means over the pages before the window (re-checks' change share apart)."""

    pages: int = 0
    length: float = 0.0
    title: float = 0.0
    date: float = 0.0
    not_article: float = 0.0
    rechecks: int = 0
    changed: float = 0.0


@dataclass(frozen=True, slots=True)
class Stats:
    usual: Usual = field(default_factory=Usual)
    recent: tuple[Page, ...] = ()
    seen: int = 0  # pages observed in all: held checks remember when they were held

    def as_json(self) -> dict[str, Any]:
        return {
            "usual": asdict(self.usual),
            "recent": [asdict(page) for page in self.recent],
            "seen": self.seen,
        }

    @classmethod
    def from_json(cls, data: object) -> Stats:
        """The stored statistics; anything unreadable starts afresh (they are statistics)."""
        if not isinstance(data, dict):
            return cls()
        try:
            return cls(
                Usual(**data.get("usual", {})),
                tuple(_page(page) for page in data.get("recent", [])),
                int(data.get("seen", 0)),
            )
        except (TypeError, ValueError):
            return cls()


def _page(data: dict[str, Any]) -> Page:
    return Page(**{**data, "changes": tuple(data.get("changes", ()))})


def observe(stats: Stats, page: Page, *, frozen: bool = False) -> Stats:
    """`stats` with `page` added to the window; the page leaving it enters the usual means
    unless `frozen` (the source is degraded)."""
    recent = (*stats.recent, page)
    usual = stats.usual
    while len(recent) > WINDOW:
        leaving, recent = recent[0], recent[1:]
        if not frozen:
            usual = _learn(usual, leaving)
    return Stats(usual, recent, stats.seen + 1)


def _learn(usual: Usual, page: Page) -> Usual:
    pages = usual.pages + 1
    weight = 1 / min(pages, BASELINE_MEMORY)

    def mean(old: float, value: float) -> float:
        return old + (value - old) * weight

    learned = replace(
        usual,
        pages=pages,
        not_article=mean(usual.not_article, float(page.not_article)),
    )
    if not page.not_article:  # a consent wall says nothing of how articles extract
        learned = replace(
            learned,
            length=mean(usual.length, page.length),
            title=mean(usual.title, float(page.title)),
            date=mean(usual.date, float(page.date)),
        )
    if page.changed is not None:
        rechecks = usual.rechecks + 1
        share = usual.changed + (float(page.changed) - usual.changed) / min(
            rechecks, BASELINE_MEMORY
        )
        learned = replace(learned, rechecks=rechecks, changed=share)
    return learned


def judge(stats: Stats) -> str | None:
    """Why the source's extraction looks broken now, in one line; None when it does not."""
    usual, recent = stats.usual, stats.recent
    if usual.pages < MIN_BASELINE or len(recent) < MIN_RECENT:
        return None
    if stories(stats) < MIN_STORIES:
        return None
    rejected = sum(page.not_article for page in recent)
    if rejected / len(recent) >= NOT_ARTICLE_NOW and usual.not_article <= NOT_ARTICLE_USUAL:
        return (
            f"most pages are rejected as not the article ({rejected} of {len(recent)}; "
            f"usually {_percent(usual.not_article)})"
        )
    articles = [page for page in recent if not page.not_article]
    if len(articles) >= MIN_RECENT:
        reason = _judge_articles(usual, articles)
        if reason is not None:
            return reason
    rechecks = [page for page in recent if page.changed is not None]
    changed = [page for page in rechecks if page.changed]
    if (
        len(rechecks) >= MIN_RECHECKS
        and len(changed) / len(rechecks) >= CHANGED_NOW
        and usual.changed <= CHANGED_USUAL
    ):
        # Alike: one paragraph added or lost by most of them (leaked furniture, a new
        # boilerplate line); an edit wave changes every story in its own way.
        shared = Counter(change for page in changed for change in set(page.changes))
        alike = max(shared.values(), default=0)
        if alike / len(rechecks) >= CHANGED_NOW:
            return (
                f"every re-check changed at once, alike ({alike} of {len(rechecks)} added or "
                f"lost the same paragraph; usually {_percent(usual.changed)} changed): "
                "a template change, not an edit wave"
            )
    return None


def _judge_articles(usual: Usual, articles: list[Page]) -> str | None:
    n = len(articles)
    if usual.length >= MIN_USUAL_LENGTH:
        empty = sum(page.length < EMPTY_LENGTH for page in articles)
        if empty / n >= EMPTY_NOW:
            return f"pages extract empty ({empty} of {n})"
        ratios = [
            page.length / reference
            for page in articles
            if (reference := page.before or usual.length) >= MIN_USUAL_LENGTH
        ]
        if len(ratios) >= MIN_RECENT and (median := statistics.median(ratios)) < SHORTER:
            return f"pages extract much shorter (median {_percent(median)} of their length before)"
    for name, usual_share in (("titles", usual.title), ("dates", usual.date)):
        present = sum(getattr(page, name[:-1]) for page in articles)
        if usual_share >= USUAL_SHARE and present / n <= LOST_NOW:
            return (
                f"pages lost their {name} ({present} of {n} have one; "
                f"usually {_percent(usual_share)})"
            )
    return None


def stories(stats: Stats) -> int:
    """How many different stories the window holds."""
    return len({page.story for page in stats.recent})


def alike(stats: Stats, page: Page) -> bool:
    """Whether `page` added or lost a paragraph that a page of another story in the window
    added or lost too: the mark of a template change (an edit is a story's own)."""
    mine = set(page.changes)
    return bool(mine) and any(
        mine & set(other.changes) for other in stats.recent if other.story != page.story
    )


def hold_as(*, verdict: str | None, suspect: str | None, stories: int) -> str | None:
    """How a re-check that would write a version is held back, or None to write it:
    'degraded' while its source is, 'suspect' when the page alone `looks_broken` in a
    source whose window holds other stories (with one story nothing tells an edit apart)."""
    if verdict is not None:
        return "degraded"
    if suspect is not None and stories > 1:
        return "suspect"
    return None


def looks_broken(page: Page, *, before_length: int, before_title: bool) -> str | None:
    """Why one re-checked page's text looks like a breakage rather than an edit, against its
    story's last version; None when it does not."""
    if page.not_article:
        return "the page is not the article any more"
    if before_title and not page.title:
        return "the page lost its title"
    if before_length >= MIN_USUAL_LENGTH and page.length < PAGE_SHORTER * before_length:
        return f"the text shrank from {before_length:,} to {page.length:,} characters"
    return None


MAX_CHANGES = 12  # paragraph hashes kept per changed re-check


def paragraph_changes(old: str, new: str) -> tuple[str, ...]:
    """Short hashes of the paragraphs `new` added ("+…") and lost ("-…") against `old`
    (texts with paragraphs separated by blank lines), at most MAX_CHANGES."""
    before = {part.strip() for part in old.split("\n\n") if part.strip()}
    after = {part.strip() for part in new.split("\n\n") if part.strip()}
    changes = sorted(
        [f"+{_short_hash(part)}" for part in after - before]
        + [f"-{_short_hash(part)}" for part in before - after]
    )
    return tuple(changes[:MAX_CHANGES])


def _short_hash(text: str) -> str:
    return hashlib.blake2b(" ".join(text.split()).encode(), digest_size=6).hexdigest()


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%"
