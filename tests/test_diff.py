"""Word-level diffs between versions, and their renderings."""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from pytest import MonkeyPatch
from rich.console import Console

from monitor.core import diff as diff_module
from monitor.core.diff import (
    Change,
    Diff,
    Segment,
    VersionText,
    compute_diff,
    diff_to_json,
    render_html,
    render_plain,
    render_rich,
)
from monitor.core.normalize import normalize_text, words

SEED = (Path(__file__).resolve().parent.parent / "config/seeds/002_55b491fe1faf6718.txt").read_text(
    encoding="utf-8"
)
TITLE = "DeepSeek overtakes ChatGPT on the App Store"
OLD_SENTENCE = (
    "The Hangzhou-based startup trained its cutting-edge DeepSeek-V3 model for under $6 "
    "million using around 2,000 Nvidia H800 chips."
)
REMOVED_PARAGRAPH = "ChatGPT\u2019s Shift in Position:"


def version(
    text: str,
    title: str = TITLE,
    *,
    byline: str | None = None,
    published: datetime | None = None,
) -> VersionText:
    return VersionText(title=title, text=text, byline=byline, published=published)


def diff_of(old: str, new: str) -> Diff:
    return compute_diff(version(old), version(new))


def test_a_rewritten_sentence_is_exactly_one_replace() -> None:
    new_sentence = "A spokesperson said the figure covered only the final training run."
    diff = diff_of(SEED, SEED.replace(OLD_SENTENCE, new_sentence))
    assert diff.changes == (Change("replace", OLD_SENTENCE[:-1], new_sentence[:-1]),)
    assert diff.title_changed is None
    assert diff.words_removed == len(words(OLD_SENTENCE)) == 22  # "2,000" is two
    assert diff.words_added == len(new_sentence.split())


def test_an_edited_figure_is_one_replace_not_confetti() -> None:
    new = SEED.replace("for under $6 million using", "for about $5.6 million using")
    assert diff_of(SEED, new).changes == (Change("replace", "under $6", "about $5.6"),)


def test_whitespace_quotes_and_invisible_characters_are_no_change() -> None:
    noisy = (
        SEED.replace("\u2019", "'")
        .replace("\u201c", '"')
        .replace("\u201d", '"')
        .replace(" ", "  ")
        .replace("\n", "\r\n\r\n \u00a0\n")
        .replace("DeepSeek", "Deep\u200bSeek")
    )
    old = version(SEED, byline="Ann Lee")
    diff = compute_diff(old, version(noisy, f"  {TITLE}\u200b", byline="Ann\u00a0Lee "))
    assert diff.changes == ()
    assert diff.segments == (Segment("equal", normalize_text(SEED)),)
    assert not diff.changed
    assert render_plain(diff) == "(no changes)"
    assert render_html(diff) == '<div class="diff">\n</div>'
    assert render_rich(diff).plain == "(no changes)"


def test_a_new_headline_is_reported_apart_from_the_text() -> None:
    diff = compute_diff(version(SEED), version(SEED, "DeepSeek dethrones ChatGPT"))
    assert diff.title_changed == (TITLE, "DeepSeek dethrones ChatGPT")
    assert diff.changes == ()
    assert diff.changed
    assert (
        render_plain(diff)
        == "Title: DeepSeek [-overtakes-]{+dethrones+} ChatGPT[- on the App Store-]"
    )


def test_a_removed_paragraph() -> None:
    new = SEED.replace(REMOVED_PARAGRAPH + "\n", "")
    diff = diff_of(SEED, new)
    (change,) = diff.changes
    assert change.op == "delete"
    assert change.new == ""
    assert change.old.strip() == REMOVED_PARAGRAPH.replace("\u2019", "'")
    assert diff.words_removed == 4 and diff.words_added == 0
    assert render_plain(diff) == "[-ChatGPT's Shift in Position:-]"
    assert "<p><del>ChatGPT&#x27;s Shift in Position:</del></p>" in render_html(diff)


def test_context_is_elided_around_changes() -> None:
    words = [f"w{i}" for i in range(100)]
    old = " ".join(words)
    new = " ".join([*words[:50], "NEW", *words[51:]])
    plain = render_plain(diff_of(old, new), context_words=3)
    assert plain == "… w47 w48 w49 [-w50-]{+NEW+} w51 w52 w53 …"
    two = " ".join([*words[:50], "NEW", *words[51:60], "TWO", *words[61:]])
    assert render_plain(diff_of(old, two), context_words=3) == (
        "… w47 w48 w49 [-w50-]{+NEW+} w51 w52 w53 … w57 w58 w59 [-w60-]{+TWO+} w61 w62 w63 …"
    )
    assert render_plain(diff_of(old, new), context_words=60).startswith("w0 w1")
    assert render_plain(diff_of(old, new), context_words=0) == "…[-w50-]{+NEW+}…"


def test_only_changed_paragraphs_are_shown() -> None:
    old = "First paragraph stays.\nSecond one changes here.\nThird stays too."
    new = "First paragraph stays.\nSecond one changed here.\nA new paragraph.\nThird stays too."
    diff = diff_of(old, new)
    assert render_plain(diff) == ("Second one [-changes-]{+changed+} here.\n\n{+A new paragraph.+}")
    html = render_html(diff)
    assert "First" not in html and "<p>{" not in html
    assert "<p><ins>A new paragraph.</ins></p>" in html


def test_html_escapes_everything() -> None:
    old = version("Safe text.", "Old <b>title</b>")
    new = version('Safe text. <script>alert("x")</script> & more', "New <img src=x onerror=y>")
    page = render_html(compute_diff(old, new))
    assert "<script" not in page and "<img" not in page and "<b>title" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in page
    assert "&lt;img src=x onerror=y" in page


def rich_output(text: object) -> str:
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=True, color_system="truecolor", width=200).print(text)
    return buffer.getvalue()


def test_rich_output_never_interprets_web_text() -> None:
    old = version("The [bold]market[/bold] rose.", "Markets today")
    new = version("The [bold]market[/bold] fell \x1b[31m sharply.", "[link=x]Markets[/link] today")
    text = render_rich(compute_diff(old, new))
    assert "[bold]market[/bold]" in text.plain
    assert "[link=x]Markets[/link] today" in text.plain
    assert "\x1b" not in text.plain
    assert "[bold]market[/bold]" in rich_output(text)
    styles = {str(span.style) for span in text.spans}
    assert {"red strike", "green"} <= styles


def test_renderers_strip_escape_sequences_from_any_diff() -> None:
    """A Diff made by other code (not normalised) is still cleaned before display."""
    hostile = Diff(
        title_changed=("A\x1b]0;pwned\x07", "B\u202eevil"),
        byline_changed=None,
        published_changed=None,
        changes=(Change("replace", "x\x1b[2J", "y\x9b31m"),),
        segments=(Segment("delete", "x\x1b[2J"), Segment("insert", "y\x9b31m")),
        words_added=1,
        words_removed=1,
    )
    for rendered in (render_plain(hostile), render_rich(hostile).plain, render_html(hostile)):
        assert not any(char in rendered for char in "\x1b\x07\x9b\u202e")
        assert "pwned" not in rendered  # a sequence goes with its payload
    assert render_plain(hostile) == "Title: [-A-]{+Bevil+}\n\n[-x-]{+y+}"


def test_byline_and_publication_date() -> None:
    naive = datetime(2025, 1, 27, 10, 0)
    aware = datetime(2025, 1, 27, 11, 0, tzinfo=timezone(timedelta(hours=1)))
    same = compute_diff(version(SEED, published=naive), version(SEED, published=aware))
    assert same.published_changed is None
    later = naive + timedelta(hours=2)
    diff = compute_diff(
        version(SEED, byline="Ann Lee", published=naive),
        version(SEED, byline=" Ann  Lee, Bo Chen ", published=later),
    )
    assert diff.byline_changed == ("Ann Lee", "Ann Lee, Bo Chen")
    assert diff.published_changed == (naive.replace(tzinfo=UTC), later.replace(tzinfo=UTC))
    plain = render_plain(diff)
    assert "Byline: [-Ann Lee-]{+Ann Lee, Bo Chen+}" in plain
    assert "Published: [-2025-01-27T10:00:00+00:00-]{+2025-01-27T12:00:00+00:00+}" in plain


def test_json_contract() -> None:
    new = SEED.replace(OLD_SENTENCE, "A spokesperson declined to comment.")
    diff = compute_diff(
        version(SEED, published=datetime(2025, 1, 27, tzinfo=UTC)),
        version(new, "New title", published=datetime(2025, 1, 28, tzinfo=UTC)),
    )
    data = diff_to_json(diff, story_id=7, from_version=1, to_version=2)
    assert json.loads(json.dumps(data)) == data
    assert data["story_id"] == 7 and data["from_version"] == 1 and data["to_version"] == 2
    assert data["title_changed"] == {"old": TITLE, "new": "New title"}
    assert data["changes"] == [
        {"op": "replace", "old": OLD_SENTENCE[:-1], "new": "A spokesperson declined to comment"}
    ]
    assert data["stats"] == {"words_added": diff.words_added, "words_removed": diff.words_removed}
    assert data["byline_changed"] is None
    assert data["published_changed"] == {
        "old": "2025-01-27T00:00:00+00:00",
        "new": "2025-01-28T00:00:00+00:00",
    }
    unchanged = diff_to_json(diff_of(SEED, SEED), 7, 2, 3)
    assert unchanged["title_changed"] is None and unchanged["changes"] == []


def long_article(words: int = 10_000) -> list[str]:
    """Paragraphs of pseudo-random sentences over the seed's vocabulary."""
    rng = random.Random(11)
    vocabulary = sorted(set(SEED.replace("\u2019", "'").split()))
    paragraphs, count = [], 0
    while count < words:
        sentences = [
            " ".join(rng.choices(vocabulary, k=rng.randint(8, 20))).capitalize() + "."
            for _ in range(rng.randint(2, 5))
        ]
        paragraphs.append(" ".join(sentences))
        count += sum(len(sentence.split()) for sentence in sentences)
    return paragraphs


def test_a_long_article_with_a_few_edits() -> None:
    paragraphs = long_article()
    assert sum(len(p.split()) for p in paragraphs) >= 10_000
    edited = list(paragraphs)
    removed = edited.pop(120)
    edited.insert(40, "Update: DeepSeek responded to questions on Tuesday.")
    edited[150] = edited[150].replace(".", ". Liang Wenfeng declined to comment.", 1)
    diff = diff_of("\n".join(paragraphs), "\n".join(edited))
    assert [(c.op, c.old.strip(), c.new.strip()) for c in diff.changes] == [
        ("insert", "", "Update: DeepSeek responded to questions on Tuesday."),
        ("delete", normalize_text(removed), ""),
        ("insert", "", "Liang Wenfeng declined to comment."),
    ]


TEXT = st.lists(
    st.lists(st.sampled_from(["a", "b", "c", "d", "e", "ab", "b!", "'c'", "—"]), max_size=12).map(
        " ".join
    ),
    max_size=5,
).map("\n".join)


@given(TEXT, TEXT)
def test_segments_rebuild_both_versions(old: str, new: str) -> None:
    diff = diff_of(old, new)
    rebuilt_old = "".join(s.text for s in diff.segments if s.op != "insert")
    rebuilt_new = "".join(s.text for s in diff.segments if s.op != "delete")
    assert (rebuilt_old, rebuilt_new) == (normalize_text(old), normalize_text(new))
    assert all(s.text for s in diff.segments)
    assert all(a.op != b.op for a, b in zip(diff.segments, diff.segments[1:], strict=False))
    edits = [s for s in diff.segments if s.op != "equal"]
    assert "".join(c.old for c in diff.changes) == "".join(
        s.text for s in edits if s.op == "delete"
    )
    assert "".join(c.new for c in diff.changes) == "".join(
        s.text for s in edits if s.op == "insert"
    )
    assert diff.changed == (normalize_text(old) != normalize_text(new))
    for change in diff.changes:
        assert (change.op == "insert") == (change.old == "")
        assert (change.op == "delete") == (change.new == "")
    render_plain(diff)
    render_html(diff)
    render_rich(diff)


def test_too_many_distinct_words_falls_back_to_characters(monkeypatch: MonkeyPatch) -> None:
    monkeypatch.setattr(diff_module, "_MAX_TOKENS", 5)
    diff = diff_of("one two three four", "one two tree four")
    assert diff.changes == (Change("delete", "h", ""),)  # still a correct diff
