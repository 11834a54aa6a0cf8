"""dedupe_scale: the cost of a near-duplicate lookup as the store grows, and the index's size.

A fresh database (migrated with monitor.store.db.upgrade) gets synthetic stories: random texts
of about 300 words drawn from a made-up vocabulary of 20,000 words with Zipf-like frequencies,
fingerprinted with monitor.core.fingerprint.fingerprint (in worker processes, before anything is
timed) and inserted in bulk: minimal Story rows, a Version with the text for every 20th story
(the ones near-copies are made of), and their FingerprintBand rows (executemany on SQLite, COPY
on PostgreSQL). With 1,000 stories stored, then with 100,000 (`--quick`: 10,000), two lookups
are timed, each as the pipeline makes it, monitor.store.dedupe.find_duplicate on a session whose
connection is already open:

- **new story**: a fresh random text, duplicate of nothing (checked: the answer is None);
- **near-copy**: a stored story's text with every 20th word dropped and one sentence reworded
  (checked: the answer is that story).

The row's "monitor" is the time per lookup at the larger store, "baseline" the time at 1,000
stories: the ratio is how much slower a lookup gets with 100 times as many stories (1 is
ideal). Each number is the mean over up to LOOKUPS different texts (stopping early once a series
has taken BUDGET seconds), best of --repeat series. "bytes/story" is the size of the
fingerprint_bands table and its indexes divided by the stories stored: SQLite's dbstat virtual
table (or the growth of page_count * page_size without it), PostgreSQL's
pg_total_relation_size.

PostgreSQL runs too when MONITOR_TEST_DATABASE_URL names one: in a schema of its own
(search_path), dropped afterwards, so the public schema the test suite empties is never
touched. There the tables are ANALYZEd after each bulk load, as autovacuum would do; SQLite's
planner gets no statistics, as monitor never runs ANALYZE.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, create_engine, event, insert, text

from bench import Options, Report, Row
from monitor.core import fingerprint as fp
from monitor.core.normalize import content_hash, normalize_text
from monitor.store import db
from monitor.store.dedupe import DuplicateMatch, find_duplicate
from monitor.store.models import FingerprintBand, Story, Version

STORED = 100_000
QUICK_STORED = 10_000
FIRST = 1_000  # the baseline store
WORDS = 300
VOCABULARY = 20_000
VERSIONED_EVERY = 20  # stories with a stored text, the originals of the near-copies
LOOKUPS = 40
QUICK_LOOKUPS = 15
BUDGET = 4.0  # seconds per series of lookups, at least MIN_LOOKUPS are made
MIN_LOOKUPS = 3
REPEAT = 3
QUICK_REPEAT = 1
CHUNK = 2_000  # stories per worker task and per insert transaction
SEED = 20250127
PG_ENV = "MONITOR_TEST_DATABASE_URL"
NOW = datetime(2025, 1, 27, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------- synthetic texts


@cache
def _vocabulary() -> tuple[npt.NDArray[np.str_], npt.NDArray[np.float64]]:
    """VOCABULARY made-up words (2-4 syllables) and the cumulative Zipf-Mandelbrot weights of
    drawing each, most frequent first."""
    rng = np.random.default_rng([SEED, 0])
    onsets = ["", "b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z"]
    onsets += ["br", "ch", "dr", "gr", "kl", "pr", "sh", "st", "th", "tr"]
    syllables = [o + v for o in onsets for v in ("a", "e", "i", "o", "u", "ai", "ou")]
    words: dict[str, None] = {}
    while len(words) < VOCABULARY:
        count = int(rng.integers(1, 4)) if len(words) > 200 else 1  # short words are frequent
        words.setdefault("".join(rng.choice(syllables, size=count)) + rng.choice(["", "n", "s"]))
    weights = 1.0 / (np.arange(VOCABULARY) + 2.7)
    return np.array(list(words)), np.cumsum(weights / weights.sum())


def synthetic_text(index: int) -> str:
    """The index-th story's text: about WORDS words in paragraphs of sentences."""
    rng = np.random.default_rng([SEED, 1, index])
    words, cumulative = _vocabulary()
    count = int(rng.integers(WORDS - 50, WORDS + 51))
    drawn = words[np.minimum(np.searchsorted(cumulative, rng.random(count)), VOCABULARY - 1)]
    paragraphs, sentence, paragraph = [], [], []
    for position, word in enumerate(drawn):
        sentence.append(word)
        if len(sentence) >= 8 and (rng.random() < 0.12 or position == count - 1):
            paragraph.append(" ".join(sentence).capitalize() + ".")
            sentence = []
            if len(paragraph) >= 3 and rng.random() < 0.35:
                paragraphs.append(" ".join(paragraph))
                paragraph = []
    if sentence:
        paragraph.append(" ".join(sentence).capitalize() + ".")
    if paragraph:
        paragraphs.append(" ".join(paragraph))
    return "\n".join(paragraphs)


def near_copy(original: str, index: int) -> str:
    """Every 20th word dropped and one sentence's words reversed: a copy a reader would call
    the same story, Jaccard about 0.6-0.75 to the original."""
    paragraphs = [p.split() for p in original.splitlines()]
    kept = [[w for i, w in enumerate(p) if (i + index) % 20] for p in paragraphs]
    first = kept[0]
    kept[0] = list(reversed(first[:10])) + first[10:]
    return "\n".join(" ".join(p) for p in kept)


@dataclass
class Chunk:
    start: int
    bands: npt.NDArray[np.int64]  # (stories, BANDS)
    hashes: list[str]
    texts: dict[int, str]  # index -> text, for the versioned stories
    cpu_seconds: float  # the worker's, to make the texts and fingerprint them


def fingerprint_chunk(start: int, stop: int) -> Chunk:
    """Texts, text hashes and band hashes of stories start..stop-1 (runs in a worker)."""
    cpu = time.process_time()
    bands = np.empty((stop - start, fp.BANDS), dtype=np.int64)
    hashes, texts = [], {}
    for row, index in enumerate(range(start, stop)):
        body = synthetic_text(index)
        normalized = normalize_text(body)
        hashes.append(content_hash("", normalized))
        bands[row] = fp.fingerprint(normalized).bands
        if index % VERSIONED_EVERY == 0:
            texts[index] = body
    return Chunk(start, bands, hashes, texts, time.process_time() - cpu)


@dataclass
class Corpus:
    """The stories fingerprinted so far, in order."""

    chunks: list[Chunk] = field(default_factory=list)
    seconds: float = 0.0  # wall time of fingerprinting, including the loads it overlapped
    workers: int = max(1, min(os.cpu_count() or 1, 8))

    @property
    def stories(self) -> int:
        return sum(len(chunk.hashes) for chunk in self.chunks)

    def texts(self, below: int) -> dict[int, str]:
        return {i: t for chunk in self.chunks for i, t in chunk.texts.items() if i < below}

    def grow(self, stop: int, size: int = CHUNK) -> Iterator[Chunk]:
        """Fingerprint stories up to `stop` in worker processes, yielding each chunk as it is
        ready (in order) so that the caller can store it meanwhile."""
        start = self.stories
        size = min(size, -(-(stop - start) // self.workers))  # every worker gets some
        bounds = [(lo, min(lo + size, stop)) for lo in range(start, stop, size)]
        started = time.perf_counter()
        with ProcessPoolExecutor(self.workers) as pool:
            for chunk in pool.map(fingerprint_chunk, *zip(*bounds, strict=True)):
                self.chunks.append(chunk)
                yield chunk
        self.seconds += time.perf_counter() - started

    def cpu_per_story(self) -> float:
        return sum(chunk.cpu_seconds for chunk in self.chunks) / self.stories


# ---------------------------------------------------------------- databases


@dataclass
class Backend:
    name: str
    engine: Engine
    copy_bands: bool  # PostgreSQL: COPY instead of executemany
    loader: Engine  # for the bulk inserts: on SQLite, with a larger page cache
    size: Callable[[Engine], dict[str, int]]  # relation -> bytes


def _sqlite_size(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        names = [
            row[0]
            for row in connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE tbl_name = 'fingerprint_bands'"
            )
        ]
        try:
            return {
                name: int(size)
                for name, size in connection.exec_driver_sql(
                    "SELECT name, SUM(pgsize) FROM dbstat WHERE name IN "
                    f"({', '.join('?' * len(names))}) GROUP BY name",
                    tuple(names),
                )
            }
        except Exception:  # no dbstat: the whole file, the caller subtracts the empty one
            pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
            page = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
            return {"(database file)": int(pages) * int(page)}


def _postgres_size(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        table, indexes = connection.execute(
            text("SELECT pg_table_size('fingerprint_bands'), pg_indexes_size('fingerprint_bands')")
        ).one()
    return {"fingerprint_bands (table)": int(table), "its indexes": int(indexes)}


@contextmanager
def sqlite_backend(folder: Path) -> Iterator[Backend]:
    url = f"sqlite:///{folder / 'scale.db'}"
    engine, loader = db.make_engine(url), db.make_engine(url)
    event.listen(loader, "connect", _large_cache)
    try:
        db.upgrade(engine)
        yield Backend("SQLite", engine, False, loader, _sqlite_size)
    finally:
        loader.dispose()
        engine.dispose()


def _large_cache(dbapi_connection: Any, _record: Any) -> None:
    """A 256 MiB page cache for the loading connection only (the lookups get monitor's
    default): the band index is inserted in random order and outgrows the default 2 MiB."""
    dbapi_connection.execute("PRAGMA cache_size = -262144")


@contextmanager
def postgres_backend(url: str) -> Iterator[Backend]:
    schema = f"bench_dedupe_scale_{os.getpid()}"
    admin = create_engine(url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = create_engine(
            url, pool_pre_ping=True, connect_args={"options": f"-csearch_path={schema}"}
        )
        try:
            db.upgrade(engine)
            yield Backend("PostgreSQL", engine, True, engine, _postgres_size)
        finally:
            engine.dispose()
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def insert_stories(backend: Backend, chunks: Iterable[Chunk]) -> float:
    """The chunks' stories (story i gets id i + 1) with their versions and band hashes, in
    bulk; returns the seconds spent inserting."""
    spent = 0.0
    for chunk in chunks:
        started = time.perf_counter()
        lo, hi = chunk.start, chunk.start + len(chunk.hashes)
        stories = [
            {
                "id": index + 1,
                "url": f"https://bench.example/story/{index}",
                "first_seen_at": NOW,
                "status": "active",
                "title": f"Story {index}",
                "version_count": 1 if index in chunk.texts else 0,
                "recheck_step": 0,
                "text_hash": chunk.hashes[index - chunk.start],
            }
            for index in range(lo, hi)
        ]
        versions = [
            {
                "story_id": index + 1,
                "number": 1,
                "fetched_at": NOW,
                "title": f"Story {index}",
                "text": body,
                "content_hash": content_hash(f"Story {index}", body),
            }
            for index, body in chunk.texts.items()
        ]
        with backend.loader.begin() as connection:
            connection.execute(insert(Story), stories)
            if versions:
                connection.execute(insert(Version), versions)
            if backend.copy_bands:
                cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
                with cursor.copy(
                    "COPY fingerprint_bands (band, hash, story_id) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.write(_binary_copy(chunk.bands, lo))
            else:  # the driver's executemany: SQLAlchemy's per-row dicts cost a third more
                story_ids = np.repeat(np.arange(lo + 1, hi + 1), fp.BANDS).tolist()
                band_numbers = np.tile(np.arange(fp.BANDS), hi - lo).tolist()
                connection.exec_driver_sql(
                    f"INSERT INTO {FingerprintBand.__tablename__} (band, hash, story_id) "
                    "VALUES (?, ?, ?)",
                    list(zip(band_numbers, chunk.bands.ravel().tolist(), story_ids, strict=True)),
                )
        spent += time.perf_counter() - started
    if backend.copy_bands:
        started = time.perf_counter()
        with backend.loader.begin() as connection:
            connection.execute(text("ANALYZE stories"))
            connection.execute(text("ANALYZE fingerprint_bands"))
            connection.execute(text("ANALYZE versions"))
        spent += time.perf_counter() - started
    return spent


_COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("band_size", ">i4"),
        ("band", ">i2"),
        ("hash_size", ">i4"),
        ("hash", ">i8"),
        ("story_size", ">i4"),
        ("story_id", ">i4"),
    ]
)


def _binary_copy(bands: npt.NDArray[np.int64], first: int) -> bytes:
    """PostgreSQL's binary COPY format for (band, hash, story_id) rows of stories first.. (ids
    first + 1 ..), built with numpy: the server, not Python, does the per-row work."""
    stories = bands.shape[0]
    rows = np.empty(stories * fp.BANDS, dtype=_COPY_ROW)
    rows["fields"], rows["band_size"], rows["hash_size"], rows["story_size"] = 3, 2, 8, 4
    rows["band"] = np.tile(np.arange(fp.BANDS), stories)
    rows["hash"] = bands.ravel()
    rows["story_id"] = np.repeat(np.arange(first + 1, first + stories + 1), fp.BANDS)
    header = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension
    return header + rows.tobytes() + b"\xff\xff"


# ---------------------------------------------------------------- lookups


@dataclass(frozen=True)
class Lookup:
    normalized: str
    text_hash: str
    print_: fp.Fingerprint
    expected: int | None  # the story id it must find, None for none


def prepare(text_: str, expected: int | None) -> Lookup:
    normalized = normalize_text(text_)
    return Lookup(normalized, content_hash("", normalized), fp.fingerprint(normalized), expected)


def new_texts(count: int) -> list[Lookup]:
    return [prepare(synthetic_text(10_000_000 + i), None) for i in range(count)]


def copies_of_stored(corpus: Corpus, stored: int, count: int) -> list[Lookup]:
    """Near-copies of `count` versioned stories spread over the first `stored`."""
    texts = corpus.texts(stored)
    rng = np.random.default_rng([SEED, 2, stored])
    chosen = sorted(rng.choice(sorted(texts), size=min(count, len(texts)), replace=False))
    return [prepare(near_copy(texts[i], i), i + 1) for i in chosen]


def time_lookups(backend: Backend, lookups: list[Lookup]) -> float:
    """Seconds per find_duplicate, over the lookups (or those done within BUDGET)."""
    sessions = db.session_factory(backend.engine)
    total, done = 0.0, 0
    for lookup in lookups:
        with sessions() as session:
            session.connection()  # the pipeline's session has its connection already
            started = time.perf_counter()
            match = find_duplicate(session, lookup.normalized, lookup.text_hash, lookup.print_)
            total += time.perf_counter() - started
        _check(match, lookup)
        done += 1
        if total > BUDGET and done >= MIN_LOOKUPS:
            break
    return total / done


def _check(match: DuplicateMatch | None, lookup: Lookup) -> None:
    found = None if match is None else (match.kind, match.id)
    wanted = None if lookup.expected is None else ("story", lookup.expected)
    if found != wanted:
        raise RuntimeError(f"dedupe_scale is broken: the lookup found {match}, not {wanted}")


def band_query_plan(backend: Backend, lookup: Lookup) -> str:
    """The database's plan for band_candidates' query, captured from one lookup."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "fingerprint_bands" in statement and "GROUP BY" in statement:
            captured.append((statement, parameters))

    event.listen(backend.engine, "before_cursor_execute", capture)
    try:
        with db.session_factory(backend.engine)() as session:
            find_duplicate(session, lookup.normalized, lookup.text_hash, lookup.print_)
    finally:
        event.remove(backend.engine, "before_cursor_execute", capture)
    if not captured:
        return "(no band query seen)"
    statement, parameters = captured[0]
    with backend.engine.connect() as connection:
        if backend.engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            steps = [str(row[3]) for row in rows if not str(row[3]).startswith("INDEX ")]
        else:
            rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            lines = [str(row[0]) for row in rows]
            steps = [  # plan nodes only, without costs and conditions
                line.strip().removeprefix("->  ").split("  (")[0]
                for index, line in enumerate(lines)
                if index == 0 or "->" in line
            ]
    counted: list[list[Any]] = []  # consecutive equal steps counted once
    for step in steps:
        if counted and counted[-1][0] == step:
            counted[-1][1] += 1
        else:
            counted.append([step, 1])
    return "; ".join(step if n == 1 else f"{step} x{n}" for step, n in counted)


# ---------------------------------------------------------------- the run


@dataclass
class Stage:
    stored: int
    new_story: float  # seconds per lookup
    near_copy: float
    sizes: dict[str, int]


@dataclass
class Measured:
    backend: str
    stages: list[Stage] = field(default_factory=list)
    insert_seconds: float = 0.0
    empty_size: int = 0  # the file size before any story (only without dbstat)
    plan: str = ""


class Measurer:
    """Loads stories into one backend and times lookups at each size."""

    def __init__(self, backend: Backend, lookups: int, repeat: int) -> None:
        self.backend, self.lookups, self.repeat = backend, lookups, repeat
        self.result = Measured(backend.name)
        empty = backend.size(backend.engine)
        self.result.empty_size = empty.get("(database file)", 0)
        self.fresh = new_texts(lookups)

    def load(self, chunks: Iterable[Chunk]) -> None:
        self.result.insert_seconds += insert_stories(self.backend, chunks)

    def stage(self, corpus: Corpus) -> None:
        stored = corpus.stories
        copies = copies_of_stored(corpus, stored, self.lookups)
        time_lookups(self.backend, self.fresh[:2] + copies[:2])  # warm the caches and the pool
        new_story = min(time_lookups(self.backend, self.fresh) for _ in range(self.repeat))
        near = min(time_lookups(self.backend, copies) for _ in range(self.repeat))
        sizes = self.backend.size(self.backend.engine)
        self.result.stages.append(Stage(stored, new_story, near, sizes))

    def finish(self) -> Measured:
        self.result.plan = band_query_plan(self.backend, self.fresh[0])
        return self.result


def run(options: Options) -> Report:
    stories = QUICK_STORED if options.quick else STORED
    lookups = QUICK_LOOKUPS if options.quick else LOOKUPS
    repeat = options.repeat or (QUICK_REPEAT if options.quick else REPEAT)
    corpus = Corpus()
    results = []
    with (
        tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp,
        sqlite_backend(Path(tmp)) as backend,
    ):
        sqlite = Measurer(backend, lookups, repeat)
        sqlite.load(corpus.grow(FIRST))
        sqlite.stage(corpus)  # no worker runs while lookups are timed
        sqlite.load(corpus.grow(stories))  # fingerprinting goes on while chunks are stored
        sqlite.stage(corpus)
        results.append(sqlite.finish())
    url = os.environ.get(PG_ENV)
    if url:
        with postgres_backend(url) as backend:
            postgres = Measurer(backend, lookups, repeat)
            postgres.load(c for c in corpus.chunks if c.start < FIRST)
            postgres.stage(_first(corpus))
            postgres.load(c for c in corpus.chunks if c.start >= FIRST)
            postgres.stage(corpus)
            results.append(postgres.finish())
    return _report(results, corpus, lookups=lookups, repeat=repeat, postgres=bool(url))


def _first(corpus: Corpus) -> Corpus:
    return Corpus([c for c in corpus.chunks if c.start < FIRST], corpus.seconds, corpus.workers)


def _bytes_per_story(result: Measured, stage: Stage) -> float:
    return (sum(stage.sizes.values()) - result.empty_size) / stage.stored


def _report(
    results: list[Measured], corpus: Corpus, *, lookups: int, repeat: int, postgres: bool
) -> Report:
    rows: list[Row] = []
    notes = [
        f"{corpus.stories:,} synthetic stories of {WORDS - 50}-{WORDS + 50} words from a "
        f"{VOCABULARY:,}-word Zipf vocabulary, made and fingerprinted by {corpus.workers} "
        f"worker processes ({corpus.cpu_per_story() * 1000:.1f} ms of CPU per story; "
        f"{corpus.seconds:.0f} s together with the SQLite load they overlapped, never during "
        "a timed lookup), stored in bulk with their "
        f"{fp.BANDS} band hashes each; every {VERSIONED_EVERY}th with its text as version 1",
        f"ms per monitor.store.dedupe.find_duplicate: 'monitor' with {corpus.stories:,} stories "
        f"stored, 'baseline' with {FIRST:,}; ratio = how many times slower at "
        f"{corpus.stories // FIRST}x the stories (1 is ideal); mean over up to {lookups} texts "
        f"(a series stops after {BUDGET:.0f} s), best of {repeat}",
    ]
    if not postgres:
        notes.append(f"PostgreSQL not measured: {PG_ENV} is not set")
    for result in results:
        small, large = result.stages[0], result.stages[-1]
        scale = f"{large.stored // 1000}k vs {small.stored // 1000}k stored, {result.backend}"
        rows += [
            Row(
                f"dedupe lookup, new story ({scale})",
                "ms",
                large.new_story * 1000,
                small.new_story * 1000,
            ),
            Row(
                f"dedupe lookup, near-copy ({scale})",
                "ms",
                large.near_copy * 1000,
                small.near_copy * 1000,
            ),
            Row(
                f"dedupe index ({scale})",
                "bytes/story",
                _bytes_per_story(result, large),
                _bytes_per_story(result, small),
            ),
        ]
        parts = ", ".join(
            f"{name} {size / large.stored:,.0f}" for name, size in sorted(large.sizes.items())
        )
        notes.append(
            f"{result.backend}: bulk insert {corpus.stories / result.insert_seconds:,.0f} "
            f"stories/s; bytes per story at {large.stored:,}: {parts}; band_candidates plan: "
            f"{result.plan}"
        )
    notes.append(f"SQLite {sqlite3.sqlite_version}")
    return Report(rows=rows, notes=notes)
