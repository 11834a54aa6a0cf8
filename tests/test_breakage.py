"""The extractor-breakage rule (pure): rolling statistics in, a reason (or None) out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import pytest

from monitor.core import breakage
from monitor.core.breakage import Page, Stats, judge, looks_broken, observe

SOUND = Page(length=3000, title=True, date=True, not_article=False)


def feed(pages: Iterable[Page], stats: Stats | None = None) -> Stats:
    """Observe `pages` in turn, freezing the baseline while the verdict says degraded."""
    stats = stats or Stats()
    for page in pages:
        stats = observe(stats, page, frozen=judge(stats) is not None)
    return stats


def stories(page: Page, n: int, *, first: int = 0, **changes: object) -> list[Page]:
    """`n` pages like `page`, each of another story."""
    return [replace(page, story=first + i, **changes) for i in range(n)]  # type: ignore[arg-type]


@pytest.fixture
def usual() -> Stats:
    """A source with a settled baseline: 20 sound new pages, then 20 unchanged re-checks."""
    stats = feed(stories(SOUND, 20))
    stats = feed(stories(SOUND, 20, changed=False, before=3000), stats)
    assert judge(stats) is None
    return stats


def test_a_steady_source_with_an_edit_now_and_then_is_healthy(usual: Stats) -> None:
    edits = stories(SOUND, 6, changed=False, before=3000)
    edits[2] = replace(edits[2], changed=True)
    edits[4] = replace(edits[4], changed=True, length=2400)  # a paragraph cut
    assert judge(feed(edits, usual)) is None


def test_pages_that_suddenly_extract_much_shorter(usual: Stats) -> None:
    broken = stories(SOUND, 4, changed=True, before=3000, length=400)
    assert judge(feed(broken[:3], usual)) is None  # not yet: three of six
    reason = judge(feed(broken, usual))
    assert reason is not None and reason.startswith("pages extract much shorter")
    assert "13%" in reason


def test_a_source_of_long_and_short_stories_is_judged_against_each_storys_own_length(
    usual: Stats,
) -> None:
    # Re-checks of the source's shortest stories, unchanged: no alarm, whatever the mean.
    short = stories(SOUND, 6, first=50, length=800, before=800, changed=False)
    assert judge(feed(short, usual)) is None


def test_pages_that_extract_empty(usual: Stats) -> None:
    reason = judge(feed(stories(SOUND, 4, length=0, changed=True, before=3000), usual))
    assert reason == "pages extract empty (4 of 6)"


def test_pages_that_lose_their_titles(usual: Stats) -> None:
    reason = judge(feed(stories(SOUND, 5, title=False, changed=False, before=3000), usual))
    assert reason == "pages lost their titles (1 of 6 have one; usually 100%)"


def test_pages_rejected_as_not_the_article(usual: Stats) -> None:
    walls = stories(SOUND, 3, length=120, not_article=True, changed=True, before=3000)
    reason = judge(feed(walls, usual))
    assert reason == "most pages are rejected as not the article (3 of 6; usually 0%)"


def test_every_recheck_changing_alike_at_once_is_a_template_change(usual: Stats) -> None:
    # A footer leaks in: every page a little longer, every re-check "changed", the same way.
    footer = breakage.paragraph_changes("A.\n\nB.", "A.\n\nB.\n\nOur Standards: Trust.")
    leaked = stories(SOUND, 5, length=3100, changed=True, before=3000, changes=footer)
    reason = judge(feed(leaked, usual))
    assert reason is not None
    assert reason.startswith(
        "every re-check changed at once, alike (5 of 6 added or lost the same paragraph; "
        "usually 0% changed)"
    )
    assert reason.endswith("a template change, not an edit wave")


def test_an_edit_wave_is_not_a_template_change(usual: Stats) -> None:
    some = stories(SOUND, 6, changed=False, before=3000)
    for i in (0, 2, 4):
        some[i] = replace(some[i], changed=True, length=3200, changes=(f"+{i}",))
    assert judge(feed(some, usual)) is None
    # Every story edited at once, each in its own way: still an edit wave.
    every = [
        replace(page, changed=True, changes=(f"+new{i}", f"-old{i}"))
        for i, page in enumerate(stories(SOUND, 6, before=3000))
    ]
    assert judge(feed(every, usual)) is None


def test_a_page_changed_like_another_storys_is_alike() -> None:
    stats = feed([replace(SOUND, story=1, changed=True, changes=("+f",))])
    assert breakage.alike(stats, replace(SOUND, story=2, changes=("+f", "-x")))
    assert not breakage.alike(stats, replace(SOUND, story=1, changes=("+f",)))  # its own
    assert not breakage.alike(stats, replace(SOUND, story=2, changes=("+g",)))
    assert not breakage.alike(stats, replace(SOUND, story=2))


def test_paragraph_changes_name_what_was_added_and_lost() -> None:
    old = "One.\n\nTwo.\n\nThree."
    assert breakage.paragraph_changes(old, old) == ()
    changes = breakage.paragraph_changes(old, "One.\n\nTwo,  edited.\n\nThree.")
    assert sorted(c[0] for c in changes) == ["+", "-"]
    # The same paragraph added to two different texts gives the same hash.
    first = breakage.paragraph_changes("X.", "X.\n\nFooter line.")
    second = breakage.paragraph_changes("Y.", "Y.\n\nFooter   line.")
    assert first == second


def test_a_young_source_or_one_watched_page_is_not_judged() -> None:
    assert judge(feed(stories(SOUND, 3) + stories(SOUND, 4, length=0))) is None
    one_page = feed([replace(SOUND, story=7, changed=False, before=3000)] * 30)
    cut = feed([replace(SOUND, story=7, length=100, changed=True, before=3000)] * 6, one_page)
    assert judge(cut) is None  # its own edit, not a site's breakage


def test_the_baseline_is_frozen_while_degraded_and_the_alarm_clears_on_recovery(
    usual: Stats,
) -> None:
    broken = feed(stories(SOUND, 30, length=0, changed=True, before=3000), usual)
    assert judge(broken) is not None  # thirty broken pages did not become "usual"
    assert broken.usual == feed(stories(SOUND, 6, length=0, before=3000), usual).usual
    recovered = feed(stories(SOUND, 6, changed=False, before=3000), broken)
    assert judge(recovered) is None


def test_one_page_against_its_last_version() -> None:
    assert looks_broken(replace(SOUND, length=2500), before_length=3000, before_title=True) is None
    assert looks_broken(replace(SOUND, length=900), before_length=3000, before_title=True) == (
        "the text shrank from 3,000 to 900 characters"
    )
    assert looks_broken(replace(SOUND, title=False), before_length=3000, before_title=True) == (
        "the page lost its title"
    )
    assert looks_broken(replace(SOUND, not_article=True), before_length=3000, before_title=True)
    assert looks_broken(replace(SOUND, length=10), before_length=100, before_title=False) is None


def test_what_is_held_back() -> None:
    assert breakage.hold_as(verdict="pages extract empty", suspect=None, stories=5) == "degraded"
    assert breakage.hold_as(verdict=None, suspect="shrank", stories=5) == "suspect"
    assert breakage.hold_as(verdict=None, suspect="shrank", stories=1) is None  # a watched page
    assert breakage.hold_as(verdict=None, suspect=None, stories=5) is None


def test_the_window_counts_its_stories() -> None:
    stats = feed([replace(SOUND, story=1)] * 3)
    assert breakage.stories(stats) == 1
    assert breakage.stories(feed([replace(SOUND, story=2)], stats)) == 2


def test_statistics_survive_json_and_junk_starts_afresh(usual: Stats) -> None:
    import json

    assert Stats.from_json(json.loads(json.dumps(usual.as_json()))) == usual
    assert Stats.from_json({"usual": {"pages": "x", "nope": 1}}) == Stats()
    assert Stats.from_json(None) == Stats()
