"""Is this story a copy of a seed or of an earlier story? Lookups by hash and LSH band.

Exact copies (same normalised text) short-circuit; otherwise the stories and seeds that
share an LSH band are confirmed by exact shingle similarity (fingerprint.is_near_duplicate).
A seed wins over a story, and a copy of a copy points at the original.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.core import fingerprint as fp
from monitor.core.decide import Duplicate
from monitor.core.normalize import normalize_text, normalized_content_hash
from monitor.store import queries
from monitor.store.models import Seed, Story

DuplicateMatch = Duplicate  # what a look-up found; the decider's own type


def find_duplicate(
    session: Session,
    normalized_text: str,
    text_hash: str,
    print_: fp.Fingerprint,
    *,
    exclude: int | None = None,
) -> DuplicateMatch | None:
    if not normalized_text.strip():
        return None
    seed_id, story_id = queries.with_text_hash(session, text_hash, exclude)
    if seed_id is not None:
        return DuplicateMatch("seed", seed_id, 1.0)
    if story_id is not None:
        return DuplicateMatch("story", story_id, 1.0)
    candidates = [
        c
        for c in queries.band_candidates(session, print_.bands)
        if c.story_id is None or c.story_id != exclude
    ]
    # The stories' shingles in two queries at most, not two per candidate.
    shingled = _stories_shingles(session, [c.story_id for c in candidates if c.story_id])
    mine = print_.shingles
    best: DuplicateMatch | None = None
    for candidate in candidates:
        match = _confirm(session, candidate, mine, shingled)
        if match is None:
            continue
        if best is None or _rank(match) > _rank(best):
            best = match
    return best


def _rank(match: DuplicateMatch) -> tuple[int, float]:
    return (1 if match.kind == "seed" else 0, match.similarity)


def _confirm(
    session: Session,
    candidate: queries.Candidate,
    mine: frozenset[int],
    shingled: dict[int, _Shingles],
) -> DuplicateMatch | None:
    if candidate.seed_id is not None:
        seed = session.get(Seed, candidate.seed_id)
        if seed is None:
            return None
        sim = _seed_shingles(seed).similarity_to(mine)
        if fp.is_near_duplicate(sim):
            return DuplicateMatch("seed", seed.id, round(fp.score(sim), 4))
        return None
    if candidate.story_id is None:
        return None
    shingles = shingled.get(candidate.story_id)
    if shingles is None:
        return None
    sim = shingles.similarity_to(mine)
    if not fp.is_near_duplicate(sim):
        return None
    original = session.get(Story, candidate.story_id)
    if original is not None and original.duplicate_kind == "seed":
        return DuplicateMatch("seed", str(original.duplicate_of_seed_id), round(fp.score(sim), 4))
    return DuplicateMatch("story", candidate.story_id, round(fp.score(sim), 4))


@dataclass(frozen=True, slots=True)
class _Shingles:
    """A stored story's or seed's shingle set as an array of 64-bit integers: an eighth of
    a frozenset's memory, so the cache holds eight times as many originals. The standard
    library's array, not numpy: the service's own process never needs numpy (its pool's
    workers compute signatures), and the overlap is a membership test per shingle against
    the new story's set, which exists already."""

    values: array[int]

    @staticmethod
    def of(shingles: frozenset[int]) -> _Shingles:
        return _Shingles(array("Q", shingles))

    def similarity_to(self, new: frozenset[int]) -> fp.Similarity:
        """fingerprint.similarity of this set and a new story's."""
        common = len(new.intersection(self.values))
        return fp.overlap(common, len(new), len(self.values))


class _ShingleCache:
    """Shingles of stories' latest texts, by (story, content hash), and of seeds, by
    ("seed:<id>", text hash): the same originals are candidates for many copies in a row,
    and shingling a stored text again is most of the cost of confirming one. A story's
    shingles go in as it is stored (the pool made them). Bounded (about 8 KB an entry);
    the oldest go first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: OrderedDict[tuple[int | str, str], _Shingles] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int | str, str]) -> _Shingles | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: tuple[int | str, str], shingles: _Shingles) -> None:
        with self._lock:
            self._entries[key] = shingles
            while len(self._entries) > self.limit:
                self._entries.popitem(last=False)


_SHINGLES = _ShingleCache(limit=1024)


def remember_shingles(story_id: int, content_hash: str, shingles: frozenset[int]) -> None:
    """A story just stored with this version content hash: its shingles, as the pool made
    them of its text, for the copies of it that come next. (Should the transaction roll
    back, the entry is never asked for, or asked for the same text.)"""
    _SHINGLES.put((story_id, content_hash), _Shingles.of(shingles))


def _seed_shingles(seed: Seed) -> _Shingles:
    key = (f"seed:{seed.id}", seed.text_hash)
    cached = _SHINGLES.get(key)
    if cached is None:
        cached = _Shingles.of(fp.shingles(normalize_text(seed.text)))
        _SHINGLES.put(key, cached)
    return cached


def _stories_shingles(session: Session, story_ids: list[int]) -> dict[int, _Shingles]:
    """The shingles of these stories' latest versions (a story without one is left out):
    one query for the versions' content hashes, one for the texts not in the cache."""
    if not story_ids:
        return {}
    latest = queries.latest_content_hashes(session, story_ids)
    found: dict[int, _Shingles] = {}
    missing: dict[int, tuple[int, str]] = {}
    for story_id, (number, content) in latest.items():
        cached = _SHINGLES.get((story_id, content))
        if cached is not None:
            found[story_id] = cached
        else:
            missing[story_id] = (number, content)
    texts = queries.version_texts(session, [(s, n) for s, (n, _) in missing.items()])
    for story_id, (number, content) in missing.items():
        text = texts.get((story_id, number))
        if text is None:
            continue
        shingles = _Shingles.of(fp.shingles(normalize_text(text)))
        _SHINGLES.put((story_id, content), shingles)
        found[story_id] = shingles
    return found


# ---------------------------------------------------------------- the story index


def index_story(
    session: Session,
    story: Story,
    normalized_text: str,
    print_: fp.Fingerprint | None = None,
    *,
    new: bool = False,
) -> None:
    """Make the story findable by later copies: its text hash and LSH band hashes, with the
    scheme they were made with (`new`: a story stored in this transaction, without bands)."""
    story.text_hash = normalized_content_hash("", normalized_text)
    story.fingerprint_scheme = fp.SCHEME  # before the bands' flush: one UPDATE of the story
    print_ = print_ or fp.fingerprint(normalized_text)
    queries.replace_bands(session, print_.bands, story_id=story.id, new=new)


def reindex_story(session: Session, story: Story) -> bool:
    """Index the story again from its newest text (after re-extraction, or when the scheme
    changed); without a text, it leaves the index (False)."""
    latest = queries.latest_content_version(session, story.id, below=story.version_count + 1)
    if latest is None:
        queries.replace_bands(session, (), story_id=story.id)
        story.fingerprint_scheme = None
        return False
    index_story(session, story, normalize_text(latest.text))
    return True


def reindex_outdated(session: Session, limit: int) -> int:
    """Index again up to `limit` stories whose band hashes were made with another scheme
    than fingerprint.SCHEME (after an upgrade changed it); returns how many."""
    stale = session.scalars(
        select(Story)
        .where(Story.fingerprint_scheme.is_not(None), Story.fingerprint_scheme != fp.SCHEME)
        .order_by(Story.id)
        .limit(limit)
    )
    return sum(reindex_story(session, story) for story in stale)


# ---------------------------------------------------------------- seeds


@dataclass(frozen=True, slots=True)
class SeedFile:
    id: str
    text: str


def read_seed_files(folder: Path) -> list[SeedFile]:
    """Each *.txt file is one seed article; its stem is the seed's id."""
    if not folder.is_dir():
        return []
    return [
        SeedFile(path.stem, path.read_text(encoding="utf-8", errors="replace"))
        for path in sorted(folder.glob("*.txt"))
    ]


def sync_seeds(session: Session, files: list[SeedFile], now: datetime) -> int:
    """Fingerprint new or changed seed files, forget removed ones. Returns how many changed."""
    existing = queries.seeds_by_id(session)
    changed = 0
    for file in files:
        normalized = normalize_text(file.text)
        text_hash = normalized_content_hash("", normalized)
        row = existing.pop(file.id, None)
        if row is not None and row.text_hash == text_hash and row.scheme == fp.SCHEME:
            continue
        if row is None:
            row = Seed(id=file.id, text=file.text, text_hash=text_hash, scheme=fp.SCHEME)
            session.add(row)
        row.text, row.text_hash, row.scheme, row.loaded_at = file.text, text_hash, fp.SCHEME, now
        session.flush()
        queries.replace_bands(session, fp.fingerprint(normalized).bands, seed_id=file.id)
        changed += 1
    for row in existing.values():
        session.delete(row)
        changed += 1
    return changed
