"""Near-duplicate quality, measured on the labelled set in tests/data/dedupe/ (see its README).

Copies of the seeds and of twelve articles, each with one kind of perturbation, must be found
(recall 1.0), and distinct articles on the same events, with the same names, numbers and quotes,
must not (precision 1.0): first on monitor's decision path (a shared LSH band, then
fingerprint.is_near_duplicate), then through the database, with dedupe.find_duplicate against
the seeds and stories stored as the pipeline stores them, on SQLite and on PostgreSQL.

The files are read as stored; bench/dedupe_quality.py generated the copies and the labels.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from monitor.core import fingerprint as fp
from monitor.core.normalize import content_hash, normalize_text
from monitor.store import db, dedupe, queries
from monitor.store.models import Seed, Story, Version

DATA = Path(__file__).resolve().parent / "data" / "dedupe"
PAIRS: list[dict[str, object]] = json.loads((DATA / "pairs.json").read_text(encoding="utf-8"))
HEADLINES: dict[str, str] = json.loads((DATA / "headlines.json").read_text(encoding="utf-8"))
LABELS: dict[tuple[str, str], bool] = {
    (str(p["a"]), str(p["b"])): bool(p["duplicate"]) for p in PAIRS
}
A_SIDES = sorted({a for a, _ in LABELS})
B_SIDES = sorted({b for _, b in LABELS})
SEED_PATHS = sorted(f"seeds/{path.name}" for path in (DATA / "seeds").glob("*.txt"))
ARTICLE_PATHS = sorted(f"articles/{path.name}" for path in (DATA / "articles").glob("*.txt"))
DUPLICATE_KINDS = {
    "headline_changed",  # another headline, the same text
    "headline_in_text",  # another headline and a byline line kept in the text
    "disclaimer_added",
    "disclaimer_removed",
    "furniture_added",  # nav, cookie notice, promos between paragraphs, most-read, footer
    "furniture_removed",
    "sentences_edited",
    "sentences_dropped",
    "paragraphs_reordered",
    "first_half",
    "retyped",  # curly quotes, dashes, no-break spaces, soft hyphens, blank lines
    "syndicated",  # another headline, furniture, a disclaimer, an edit and a cut together
}
NOT_DUPLICATE_KINDS = {
    "same_event",
    "shared_quotes",
    "same_disclaimer",
    "boilerplate_mostly",
    "same_furniture",
    "quotes_lead",
}


def text(path: str) -> str:
    return (DATA / path).read_text(encoding="utf-8")


@functools.cache
def print_of(path: str) -> fp.Fingerprint:
    return fp.fingerprint(normalize_text(text(path)))


def decide(a: str, b: str) -> tuple[bool, fp.Similarity, int]:
    """monitor's decision for two texts: a shared LSH band, confirmed by is_near_duplicate."""
    x, y = print_of(a), print_of(b)
    shared = sum(p == q for p, q in zip(x.bands, y.bands, strict=True))
    sim = fp.similarity(x.shingles, y.shingles)
    return shared > 0 and fp.is_near_duplicate(sim), sim, shared


def precision_recall(predicted: dict[tuple[str, str], bool]) -> tuple[float, float]:
    tp = sum(predicted[k] and LABELS[k] for k in LABELS)
    fp_ = sum(predicted[k] and not LABELS[k] for k in LABELS)
    fn = sum(not predicted[k] and LABELS[k] for k in LABELS)
    return (tp / (tp + fp_) if tp + fp_ else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def test_the_set_is_as_described() -> None:
    assert len(LABELS) == len(PAIRS), "a pair is labelled twice"
    for path in [*A_SIDES, *B_SIDES]:
        assert (DATA / path).is_file(), path
    assert len(SEED_PATHS) == 2
    assert len(ARTICLE_PATHS) >= 10
    for path in ARTICLE_PATHS:
        assert 300 <= len(text(path).split()) <= 800, path
    assert set(A_SIDES) == {*SEED_PATHS, *ARTICLE_PATHS}
    kinds: dict[bool, set[str]] = defaultdict(set)
    for pair in PAIRS:
        kinds[bool(pair["duplicate"])].add(str(pair["kind"]))
    assert kinds[True] == DUPLICATE_KINDS
    assert kinds[False] >= NOT_DUPLICATE_KINDS
    for a, b in LABELS:
        if b.startswith("copies/"):  # a copy's name says what it is a copy of
            original = b.removeprefix("copies/").split("--")[0]
            assert LABELS[a, b] == (Path(a).stem == original), (a, b)
    # Every seed and article is labelled against every other one: none is a copy of another.
    for i, a in enumerate(A_SIDES):
        for b in A_SIDES[i + 1 :]:
            assert LABELS.get((a, b)) is False or LABELS.get((b, a)) is False, (a, b)
    assert set(HEADLINES) >= {*ARTICLE_PATHS, *(b for b in B_SIDES if not b.startswith("seeds/"))}


def test_precision_and_recall_are_one_on_the_decision_path() -> None:
    predicted: dict[tuple[str, str], bool] = {}
    wrong = []
    for (a, b), duplicate in LABELS.items():
        said, sim, shared = decide(a, b)
        predicted[a, b] = said
        if said != duplicate:
            wrong.append(f"{a} / {b}: labelled {duplicate}, {sim}, {shared} shared bands")
    assert precision_recall(predicted) == (1.0, 1.0), "\n".join(wrong)


def test_no_unlabelled_pair_is_a_duplicate() -> None:
    """The labels are complete: any stored text against any other text of the set that is not
    labelled is not a duplicate either (copies of one article against another article, ...)."""
    found = [
        (a, b)
        for a in A_SIDES
        for b in [*A_SIDES, *B_SIDES]
        if a != b and (a, b) not in LABELS and (b, a) not in LABELS and decide(a, b)[0]
    ]
    assert found == []


def test_copies_keep_most_of_their_lsh_bands_and_distinct_texts_share_none() -> None:
    """Not a threshold: where the set sits, so a change of banding shows up here first."""
    for (a, b), duplicate in LABELS.items():
        _, _, shared = decide(a, b)
        if duplicate:
            assert shared >= 3, (a, b, shared)
        else:
            assert shared <= 1, (a, b, shared)


# ---------------------------------------------------------------- the database path

NOW = datetime(2025, 1, 28, 9, 0, tzinfo=UTC)


def _store_articles(session: Session) -> dict[int, str]:
    """Each article as the pipeline leaves a new, non-duplicate story: a Story with its text
    hash, version 1, and its LSH bands."""
    stored = {}
    for path in ARTICLE_PATHS:
        body = text(path)
        normalized = normalize_text(body)
        title = HEADLINES[path]
        story = Story(
            url=f"https://news.example.org/{Path(path).stem}",
            first_seen_at=NOW,
            status="active",
            title=title,
            version_count=1,
            recheck_step=0,
            text_hash=content_hash("", normalized),
        )
        session.add(story)
        session.flush()
        session.add(
            Version(
                story_id=story.id,
                number=1,
                fetched_at=NOW,
                title=title,
                text=body,
                content_hash=content_hash(title, body),
            )
        )
        queries.replace_bands(session, fp.fingerprint(normalized).bands, story_id=story.id)
        stored[story.id] = path
    return stored


def _look_up(session: Session, path: str, stories: dict[str, int]) -> dedupe.DuplicateMatch | None:
    """find_duplicate for a text arriving as a new story, as the pipeline calls it. A text
    that is itself stored is looked up without itself: a story through `exclude`, a seed by
    deleting it in a transaction that is rolled back."""
    normalized = normalize_text(text(path))
    arguments = (session, normalized, content_hash("", normalized), print_of(path))
    if not path.startswith("seeds/"):
        return dedupe.find_duplicate(*arguments, exclude=stories.get(path))
    session.execute(delete(Seed).where(Seed.id == Path(path).stem))
    try:
        return dedupe.find_duplicate(*arguments)
    finally:
        session.rollback()


def test_find_duplicate_in_the_database(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine)
        sessions = db.session_factory(engine)
        with sessions.begin() as session:
            assert dedupe.sync_seeds(session, dedupe.read_seed_files(DATA / "seeds"), NOW) == 2
            stored = _store_articles(session)
        stories = {path: story_id for story_id, path in stored.items()}

        originals = defaultdict(set)
        for (a, b), duplicate in LABELS.items():
            if duplicate:
                originals[b].add(a)
        predicted: dict[tuple[str, str], bool] = {}
        wrong = []
        for b in sorted(B_SIDES, key=lambda path: not path.startswith("seeds/")):
            with sessions() as session:
                match = _look_up(session, b, stories)
            found = None
            if match is not None:
                found = f"seeds/{match.id}.txt" if match.kind == "seed" else stored[int(match.id)]
                assert fp.JACCARD_MIN <= match.similarity <= 1.0, match
            if (found is None and originals[b]) or (
                found is not None and found not in originals[b]
            ):
                wrong.append(f"{b}: found {found} ({match}), expected {sorted(originals[b])}")
            for a in A_SIDES:
                if (a, b) in LABELS:
                    predicted[a, b] = found == a
        assert wrong == []
        assert precision_recall(predicted) == (1.0, 1.0)
        with sessions() as session:  # the seeds deleted for their own look-ups are back
            assert sorted(session.scalars(select(Seed.id))) == [Path(p).stem for p in SEED_PATHS]
    finally:
        engine.dispose()
