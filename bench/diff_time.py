"""diff_time: monitor.core.diff.compute_diff on a long article, against difflib on its words.

A 10,000-word news article (the prose of `bench.ingest`, in paragraphs of 1-3 sentences) and
two later versions of it:

- **a handful of edits**: six changes spread over the text, as corrections and updates make
  them: three words replaced, a number changed, a sentence added, a sentence removed;
- **a paragraph moved**: one paragraph of the first tenth moved to the last tenth, unchanged.

monitor: `compute_diff(VersionText(title, old), VersionText(title, new))` with its defaults
(normalisation of both texts, word tokens, diff-match-patch with a 1 s timeout, semantic
clean-up). Baseline: `difflib.SequenceMatcher(None, old.split(), new.split())` (autojunk
on, the default) and its `get_opcodes()`, the split included in the time. Each number is the
median of N runs (N = --repeat, or 15; `--quick`: 5), monitor and baseline interleaved.

Rows are runs per second, so that, as in the rest of the table, a ratio above 1 means monitor
is faster. The notes give the milliseconds and what each side found (words added and removed):
difflib's autojunk treats words that make up more than 1% of a 10,000-word text (the, of, to,
...) as junk, which makes it fast but its matching coarser.
"""

from __future__ import annotations

import difflib
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from bench import Options, Report, Row
from bench.ingest import article_paragraphs, topic_sentence
from monitor.core.diff import Diff, VersionText, compute_diff
from monitor.demo.generated import ADJECTIVES, sentence

WORDS = 10_000
REPEAT = 15
QUICK_REPEAT = 5
TITLE = "Export controls tighten as DeepSeek and Stargate race for chips"
SEED = 2026_11_24


@dataclass(frozen=True)
class Case:
    name: str
    old: str
    new: str
    what: str


def _text(paragraphs: list[str]) -> str:
    return "\n\n".join(paragraphs)


def cases() -> list[Case]:
    rng = random.Random(SEED)
    paragraphs = article_paragraphs(rng, WORDS, ("deepseek", "chip-exports", "stargate"))
    old = _text(paragraphs)

    edited = list(paragraphs)
    spots = sorted(rng.sample(range(1, len(edited) - 1), 6))
    for spot in spots[:3]:  # a word replaced
        words = edited[spot].split()
        index = rng.randrange(1, len(words) - 1)
        words[index] = rng.choice([w for w in ADJECTIVES if w != words[index]])
        edited[spot] = " ".join(words)
    words = edited[spots[3]].split()  # a number changed, or one added
    numbers = [i for i, w in enumerate(words) if any(c.isdigit() for c in w)]
    if numbers:
        words[numbers[0]] = "1,234"
    else:
        words.insert(len(words) // 2, "1,234")
    edited[spots[3]] = " ".join(words)
    edited[spots[4]] += " " + topic_sentence(rng, "chip-exports")  # a sentence added
    sentences = edited[spots[5]].split(". ")  # a sentence removed (or replaced, if only one)
    if len(sentences) > 1:
        del sentences[rng.randrange(len(sentences))]
        edited[spots[5]] = ". ".join(sentences)
    else:
        edited[spots[5]] = sentence(rng)

    moved = list(paragraphs)
    tenth = len(moved) // 10
    longest = max(range(1, tenth), key=lambda i: len(moved[i].split()))
    paragraph = moved.pop(longest)
    moved.insert(len(moved) - rng.randrange(1, tenth), paragraph)

    count = len(old.split())
    return [
        Case(
            f"diff, {count:,} words, 6 edits",
            old,
            _text(edited),
            "3 words replaced, a number changed, a sentence added, a sentence removed",
        ),
        Case(
            f"diff, {count:,} words, paragraph moved",
            old,
            _text(moved),
            f"a paragraph of {len(paragraph.split())} words moved from the first tenth to the last",
        ),
    ]


def monitor_diff(case: Case) -> Diff:
    return compute_diff(VersionText(TITLE, case.old), VersionText(TITLE, case.new))


def baseline_diff(case: Case) -> Sequence[tuple[str, int, int, int, int]]:
    matcher = difflib.SequenceMatcher(None, case.old.split(), case.new.split())
    return matcher.get_opcodes()


def _seconds(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def run(options: Options) -> Report:
    repeat = options.repeat or (QUICK_REPEAT if options.quick else REPEAT)
    rows: list[Row] = []
    notes: list[str] = []
    for case in cases():
        monitor_diff(case)  # warm-up: compiled patterns, imports
        baseline_diff(case)
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(repeat):
            ours.append(_seconds(partial(monitor_diff, case)))
            theirs.append(_seconds(partial(baseline_diff, case)))
        mine, base = statistics.median(ours), statistics.median(theirs)
        rows.append(Row(case.name, "runs/s", 1 / mine, 1 / base))
        result = monitor_diff(case)
        opcodes = baseline_diff(case)
        added = sum(j2 - j1 for tag, _, _, j1, j2 in opcodes if tag in ("insert", "replace"))
        removed = sum(i2 - i1 for tag, i1, i2, _, _ in opcodes if tag in ("delete", "replace"))
        changes = sum(tag != "equal" for tag, *_ in opcodes)
        notes.append(
            f"{case.name} ({case.what}): monitor {mine * 1000:.1f} ms (median of {repeat}, "
            f"{min(ours) * 1000:.1f}-{max(ours) * 1000:.1f}), {len(result.changes)} changes, "
            f"+{result.words_added}/-{result.words_removed} words; difflib "
            f"{base * 1000:.1f} ms ({min(theirs) * 1000:.1f}-{max(theirs) * 1000:.1f}), "
            f"{changes} opcodes, +{added}/-{removed} words"
            + ("; monitor reached its 1 s timeout" if max(ours) >= 1.0 else "")
        )
    notes.append(
        "rows are runs per second (above 1: monitor is faster); monitor = compute_diff with "
        "its defaults (normalisation, word tokens, diff-match-patch, semantic clean-up); "
        "baseline = difflib.SequenceMatcher(None, old.split(), new.split()).get_opcodes(), "
        "autojunk on, the split included"
    )
    return Report(rows=rows, notes=notes)
