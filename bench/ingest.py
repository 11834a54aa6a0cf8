"""ingest: new articles through monitor's whole pipeline, against plain GETs and against
GETs plus extraction in a process pool.

A local news site (`bench.feedserver` in its own process, with `article_page` below as its
page maker) lists 2,000 new article pages (`--quick`: 200) in 100 RSS feeds of 20 items. The
pages are news pages of 600 to 1,200 words dressed like the ones of `bench.storage` (navigation,
critical CSS, inline scripts, JSON-LD, a JSON state blob repeating the text, image srcsets, ad
slots, footer), served gzip-encoded, built once when the server starts. Their words are written
for the default topics of config/monitor.toml (deepseek, chip-exports, stargate), in varied
proportions and densities: a quarter of the pages name their topic in one sentence only, some
name two topics; about a fifth are off topic, a few of them about the excluded "Stargate SG-1";
about 5% are copies of an earlier page at another URL (half word for word, half with every 20th
word dropped and a new headline) and a few are near-copies of a seed of config/seeds, so that
dedupe finds copies both by text hash and by LSH bands.

**monitor**: one `Pipeline.run_pass(recheck=False)` on a fresh database over all the feeds,
with monitor's default fetch.timeout and [processing] processes: claim, fetch and parse each
feed, fetch each new page, decode, extract, normalise and fingerprint it in the process pool,
then on the writer thread match topics, look for a duplicate, cluster it and store it (story,
aliases, topics, version 1 with its zlib-compressed HTML, band hashes). On SQLite (a new
file), and on PostgreSQL when MONITOR_TEST_DATABASE_URL is set: in a database of its own,
`monitor_bench_<pid>`, created through that server URL and dropped afterwards, so the schema
the test suite uses is never touched. The rows are articles per second over the whole pass
(feeds included), the event loop's lateness at the 99th percentile, and the requests that
timed out (the pages they lost are allowed for in the checks, and counted).

**baselines**, 3 runs each (`--repeat N`: N; `--quick`: 1), interleaved with monitor's
passes, medians kept (monitor's passes too, when repeated):
- plain httpx GET: the same article pages GET with an `httpx.AsyncClient`, as many at a time
  as monitor's `concurrency`, bodies read (and gunzipped), nothing parsed or stored;
- GET + extraction pool: the same GETs, each body then handed to `trafilatura.extract` (the
  options monitor gives trafilatura) in a `concurrent.futures.ProcessPoolExecutor` of as many
  processes as monitor's [processing] processes: the work no ingest can avoid. Its event
  loop's lateness is the baseline of monitor's.

**stages**: while monitor runs, the benchmark wraps functions of this process, without
changing monitor/. Extraction and fingerprinting now happen in the pool's worker processes,
where no wrapper reaches: their CPU time is read from /proc for the workers alive at the end of
the pass, and `Pipeline._process` is timed from call to result as the event loop awaits it
(waiting for a free worker included), `ProcessPool._exchange` as a page's time in a worker.
Every database call runs on the writer thread through `Writer.run`: each call is timed there
(wall and the thread's own CPU), with its wait in the queue; inside it `_store_new_story`,
`StoryWriter._find_duplicate` and `_best_cluster`, `match_topics`, `compress_html`, claims,
known-key look-ups and poll records, each stage's own time with the stages it calls
subtracted. On the event loop: feed parsing, the requests (`Fetcher.get` and one request in
its slot, `Fetcher._exchange`); the rest of this process's CPU time is the loop's fetching and
its talk with the pool.

All pages are on one host, so monitor gets per_host_concurrency = concurrency and
per_host_delay 0s (the politeness defaults would measure the delay), and respect_robots off.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import functools
import multiprocessing
import os
import random
import re
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from json import dumps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from unittest import mock

import httpx
import trafilatura
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

import monitor.pipeline.passes as pipeline_module
import monitor.store.blobs as blobs_module
import monitor.store.dedupe as dedupe_module
import monitor.store.queries as queries_module
import monitor.store.writer as stories_module
from bench import (
    Options,
    Report,
    Row,
    environment_without,
    feed_source_name,
    local_host_settings,
    toml_string,
    write_feed_config,
)
from bench.feedserver import RunningServer, article_url, run_server
from bench.topics import KEYWORD_RULES
from monitor.app import App, open_app
from monitor.config import CONFIG_ENV, DATABASE_ENV, load_config
from monitor.demo.generated import (
    ACTIONS,
    FIRST,
    LAST,
    MODALS,
    NOUNS,
    PLACES,
    SUBJECTS,
    TAILS,
    VERBS,
    Article,
    Site,
    image_tag,
    related_links,
    render_article,
    sentence,
    topic_tags,
)
from monitor.fetch import Failed, Fetcher
from monitor.pipeline.passes import PassSummary, Pipeline, Writer
from monitor.pipeline.pool import ProcessPool
from monitor.store import db
from monitor.store.source_state import SourceStateWriter
from monitor.store.writer import StoryWriter

FEEDS, ITEMS = 100, 20  # 2,000 articles
QUICK_FEEDS = 10  # 200 articles
CONCURRENCY = 16  # monitor's default fetch.concurrency
REPEAT = 1  # monitor passes per database (each ~30-60 s); --repeat N for more
BASELINE_REPEAT = 3
PG_ENV = "MONITOR_TEST_DATABASE_URL"
LAG_PERIOD = 0.05  # seconds between two event-loop lag probes
REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO / "config" / "monitor.toml"
SEEDS = REPO / "config" / "seeds"

# ---------------------------------------------------------------- the articles (pure)

# Clauses that name a topic's keywords (config/monitor.toml), with {modal}, {action}, {noun},
# {place} and {subject} filled in; "sg1" names only the excluded "Stargate SG-1".
_TOPIC_CLAUSES: dict[str, tuple[str, ...]] = {
    "deepseek": (
        "DeepSeek {modal} {action} the {noun} {tail}",
        "the DeepSeek-R1 model {modal} undercut the {noun} of {subject}",
        "Liang Wenfeng, the founder of DeepSeek, {modal} {action} the {noun}",
        "High-Flyer, the hedge fund behind DeepSeek, {modal} {action} the {noun} {tail}",
        "the release of DeepSeek-V3 {modal} {action} the {noun} in {place}",
        "engineers who tested DeepSeek {modal} {action} the {noun}",
    ),
    "chip-exports": (
        "the export controls on {noun} {modal} be tightened {tail}",
        "the Bureau of Industry and Security {modal} {action} the {noun}",
        "Nvidia's H20 chips {modal} fall under the AI diffusion rule {tail}",
        "three more suppliers {modal} be added to the Entity List {tail}",
        "a broader chip ban {modal} {action} the {noun} in {place}",
        "chip exports to {place} {modal} {action} the {noun}",
        "older H800 parts {modal} escape the export controls {tail}",
    ),
    "stargate": (
        "the Stargate project {modal} {action} the {noun} {tail}",
        "the first Stargate data centre in {place} {modal} {action} the {noun}",
        "partners in Stargate {modal} {action} the {noun} {tail}",
        "the Stargate AI venture {modal} {action} the {noun}",
    ),
    "sg1": (
        "a Stargate SG-1 marathon {modal} {action} the {noun} {tail}",
        "fans of Stargate SG-1 {modal} {action} the {noun} in {place}",
        "the Stargate SG-1 box set {modal} {action} the {noun}",
    ),
}
# (share of pages, topics named, or "copy"); the rest is off topic.
_MIX: tuple[tuple[float, tuple[str, ...] | str], ...] = (
    (0.05, "copy"),
    (0.27, ("deepseek",)),
    (0.20, ("chip-exports",)),
    (0.12, ("stargate",)),
    (0.08, ("deepseek", "chip-exports")),
    (0.04, ("stargate", "deepseek")),
    (0.02, ("sg1",)),
)
SEED_COPY_EVERY = 400  # article k with k % 400 == 199: a near-copy of a seed
_EPOCH = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Plan:
    """What article k is: its topics (empty: off topic), or a copy of article `original`
    (exact: word for word), or a near-copy of seed file `seed`."""

    topics: tuple[str, ...] = ()
    original: int | None = None
    exact: bool = False
    seed: int | None = None

    @property
    def on_topic(self) -> bool:
        return self.original is not None or self.seed is not None or self._named()

    def _named(self) -> bool:
        return any(topic != "sg1" for topic in self.topics)


@functools.cache
def plan(k: int) -> Plan:
    rng = random.Random(f"plan-{k}")
    if k % SEED_COPY_EVERY == SEED_COPY_EVERY // 2 - 1:
        return Plan(topics=("deepseek",), seed=k // SEED_COPY_EVERY % len(_seed_texts()))
    draw = rng.random()
    for share, kind in _MIX:
        if draw < share:
            if kind != "copy":
                assert isinstance(kind, tuple)
                return Plan(topics=kind)
            for _ in range(20):  # an earlier original that is on topic
                original = rng.randrange(k) if k else 0
                if original < k and plan(original).original is None and plan(original).on_topic:
                    return Plan(original=original, exact=rng.random() < 0.5)
            return Plan(topics=("deepseek",))
        draw -= share
    return Plan()


@functools.cache
def _seed_texts() -> tuple[str, ...]:
    texts = tuple(p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt")))
    return texts or ("DeepSeek seed text missing.",)


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        modal=rng.choice(MODALS),
        action=rng.choice(ACTIONS),
        noun=rng.choice(NOUNS),
        place=rng.choice(PLACES),
        subject=rng.choice(SUBJECTS),
        verb=rng.choice(VERBS),
        n=rng.randrange(2, 950),
        year=rng.randrange(1998, 2025),
        tail=rng.choice(TAILS),
    ).format(
        place=rng.choice(PLACES),
        subject=rng.choice(SUBJECTS),
        verb=rng.choice(VERBS),
        n=rng.randrange(2, 950),
        year=rng.randrange(1998, 2025),
    )


def topic_sentence(rng: random.Random, topic: str) -> str:
    clause = _fill(rng.choice(_TOPIC_CLAUSES[topic]), rng)
    subject = rng.choice(SUBJECTS)
    sentence = f"{subject} {rng.choice(VERBS)} that {clause}"
    return sentence[0].upper() + sentence[1:] + "."


def article_paragraphs(rng: random.Random, words: int, topics: tuple[str, ...]) -> list[str]:
    """About `words` words of news prose in paragraphs of 1-3 sentences; each topic named in
    1 to 8 sentences (the first one early, the others anywhere)."""
    paragraphs: list[list[str]] = []
    count = 0
    while count < words:
        paragraph = [sentence(rng) for _ in range(rng.randrange(1, 4))]
        count += sum(len(sentence.split()) for sentence in paragraph)
        paragraphs.append(paragraph)
    for topic in topics:
        mentions = rng.choice((1, 1, 2, 3, 5, 8))
        spots = [rng.randrange(min(3, len(paragraphs)))]
        spots += [rng.randrange(len(paragraphs)) for _ in range(mentions - 1)]
        for spot in spots:
            paragraph = paragraphs[spot]
            paragraph[rng.randrange(len(paragraph))] = topic_sentence(rng, topic)
    return [" ".join(paragraph) for paragraph in paragraphs]


def _headline(rng: random.Random, topics: tuple[str, ...]) -> str:
    on_topic = topics and rng.random() < 0.7
    title = topic_sentence(rng, topics[0]) if on_topic else sentence(rng)
    return title.rstrip(".")[:110].rstrip(" ,")


@dataclass(frozen=True)
class ArticleContent:
    title: str
    standfirst: str
    author: str
    paragraphs: tuple[str, ...]

    @property
    def words(self) -> int:
        return sum(len(paragraph.split()) for paragraph in self.paragraphs)


@functools.cache
def article_content(k: int) -> ArticleContent:
    """Article k's headline, standfirst, byline and text, as planned."""
    rng = random.Random(f"article-{k}")
    chosen = plan(k)
    author = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    if chosen.original is not None:
        original = article_content(chosen.original)
        paragraphs = list(original.paragraphs)
        if chosen.exact:  # syndicated word for word, under the same headline
            return ArticleContent(original.title, original.standfirst, author, original.paragraphs)
        paragraphs = _drop_every(paragraphs, 20, k)
        return ArticleContent(_headline(rng, ()), sentence(rng), author, tuple(paragraphs))
    if chosen.seed is not None:
        seed = _seed_texts()[chosen.seed]
        paragraphs = _drop_every([p for p in seed.splitlines() if p.strip()], 20, k)
        return ArticleContent(
            _headline(rng, ("deepseek",)), sentence(rng), author, tuple(paragraphs)
        )
    words = rng.randrange(600, 1201)
    paragraphs = article_paragraphs(rng, words, chosen.topics)
    return ArticleContent(_headline(rng, chosen.topics), sentence(rng), author, tuple(paragraphs))


@functools.cache
def _keyword_words() -> frozenset[str]:
    """The words of the topics' keywords and excludes, lower-cased."""
    terms = [term for topic in KEYWORD_RULES for term in (*topic.keywords, *topic.exclude)]
    return frozenset(word.lower() for term in terms for word in term.split())


def _drop_every(paragraphs: list[str], every: int, offset: int) -> list[str]:
    """Every `every`-th word dropped, but for the words of topic keywords (a copy keeps the
    topics of its original): a copy a reader calls the same story (Jaccard ~0.7)."""
    protected = _keyword_words()
    position = offset
    kept = []
    for paragraph in paragraphs:
        words = []
        for word in paragraph.split():
            position += 1
            bare = word.strip(".,;:!?\"'()").lower().removesuffix("'s").removesuffix("’s")
            if position % every or bare in protected:
                words.append(word)
        kept.append(" ".join(words))
    return [paragraph for paragraph in kept if paragraph]


@functools.cache
def _site() -> Site:
    return Site.build()


def article_page(base_url: str, feed: int, item: int) -> bytes:
    """The page of /articles/NNNN/II (a `bench.feedserver.PageMaker`)."""
    k = feed * ITEMS + item
    content = article_content(k)
    url = article_url(base_url, feed, item)
    rng = random.Random(f"page-{k}")
    published = _EPOCH - timedelta(minutes=7 * k)
    ld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": content.title,
        "description": content.standfirst,
        "datePublished": published.isoformat(),
        "dateModified": (published + timedelta(hours=1)).isoformat(),
        "author": [{"@type": "Person", "name": content.author}],
        "publisher": {"@type": "Organization", "name": "The Bench Chronicle"},
        "image": [f"https://static.bench-news.test/og/{feed:04d}-{item:02d}.jpg"],
        "mainEntityOfPage": url,
    }
    head = (
        f"<title>{escape(content.title)} | The Bench Chronicle</title>"
        f'<link rel="canonical" href="{url}">'
        f'<meta name="description" content="{escape(content.standfirst)}">'
        f'<meta property="og:title" content="{escape(content.title)}">'
        f'<meta property="og:url" content="{url}">'
        '<meta property="og:type" content="article">'
        f'<meta property="article:published_time" content="{published.isoformat()}">'
        '<meta name="twitter:card" content="summary_large_image">'
        f'<script type="application/ld+json">{dumps(ld)}</script>'
    )
    related, tags = related_links(rng), topic_tags(rng)
    paragraphs_html = "".join(f"<p>{escape(paragraph)}</p>" for paragraph in content.paragraphs)
    body = (
        f'<h1>{escape(content.title)}</h1><p class="standfirst">{escape(content.standfirst)}</p>'
        f'<figure class="hero">{image_tag(rng, content.title, (320, 640, 960, 1280, 1600))}'
        f"<figcaption>{escape(content.standfirst[:70])}</figcaption></figure>"
        f'<div class="byline">By <a rel="author" href="/profile/{rng.randbytes(4).hex()}">'
        f'{escape(content.author)}</a> <time class="updated">@UPDATED@</time></div>'
        f'<div class="article-body">{paragraphs_html}</div>'
        f'<div class="tags">{tags}</div>'
        f'<section class="related"><h2>Related stories</h2><ul>{related}</ul></section>'
    )
    state = dumps(
        {
            "page": {"id": f"{feed:04d}-{item:02d}", "type": "article", "url": url},
            "article": {
                "headline": content.title,
                "standfirst": content.standfirst,
                "byline": content.author,
                "blocks": [{"type": "paragraph", "text": p} for p in content.paragraphs],
            },
        }
    )
    article = Article((head, head), (body, body), (state, state), content.words)
    return render_article(_site(), article, 0, k)


@dataclass(frozen=True)
class Expected:
    articles: int
    offtopic: int
    copies: int  # of an earlier article or of a seed
    words: list[int]

    @staticmethod
    def of(articles: int) -> Expected:
        plans = [plan(k) for k in range(articles)]
        return Expected(
            articles=articles,
            offtopic=sum(not p.on_topic for p in plans),
            copies=sum(p.original is not None or p.seed is not None for p in plans),
            words=[article_content(k).words for k in range(articles)],
        )


# ---------------------------------------------------------------- stage timers

_P = ParamSpec("_P")
_R = TypeVar("_R")


class StageTimers:
    """Wall and CPU time per wrapped function, inclusive and exclusive of the wrapped
    functions it calls, and each call's inclusive wall time.

    Synchronous functions run on the event loop or on the writer thread: each thread keeps
    its own stack of timed calls, and CPU time is the thread's own (time.thread_time), so the
    writer is not charged for the loop running meanwhile. Coroutines (fetches, the process
    stage) are timed from call to result: their wall time includes waiting for a slot, for a
    worker, for the loop."""

    def __init__(self) -> None:
        self.inclusive: dict[str, float] = defaultdict(float)
        self.exclusive: dict[str, float] = defaultdict(float)
        self.inclusive_cpu: dict[str, float] = defaultdict(float)
        self.exclusive_cpu: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.hits: Counter[str] = Counter()  # calls that returned something other than None
        self.each: dict[str, list[float]] = defaultdict(list)  # inclusive wall, per call
        self.awaited: dict[str, list[float]] = defaultdict(list)  # coroutines, per call
        self.queue_wait: list[float] = []  # writer calls: from Writer.run to their start
        self.timeouts: Counter[str] = Counter()  # requests that timed out, "article"/"feed"
        self._local = threading.local()  # .stack: [children's wall, children's CPU] per frame
        self._lock = threading.Lock()

    def _stack(self) -> list[list[float]]:
        stack: list[list[float]] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def wrap(self, name: str, func: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(func)
        def timed(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            frame = [0.0, 0.0]
            stack = self._stack()
            stack.append(frame)
            start, start_cpu = time.perf_counter(), time.thread_time()
            result = None
            try:
                result = func(*args, **kwargs)
                return result
            finally:
                elapsed = time.perf_counter() - start
                cpu = time.thread_time() - start_cpu
                stack.pop()
                if stack:
                    stack[-1][0] += elapsed
                    stack[-1][1] += cpu
                with self._lock:
                    self.inclusive[name] += elapsed
                    self.exclusive[name] += elapsed - frame[0]
                    self.inclusive_cpu[name] += cpu
                    self.exclusive_cpu[name] += cpu - frame[1]
                    self.calls[name] += 1
                    self.hits[name] += result is not None
                    self.each[name].append(elapsed)

        return timed

    def wrap_async(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        """A coroutine function: wall time from call to result (on the event loop only)."""

        @functools.wraps(func)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await func(*args, **kwargs)
            finally:
                self.awaited[name].append(time.perf_counter() - start)

        return timed

    def wrap_fetch(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        """A fetcher coroutine method whose second argument is the URL."""

        @functools.wraps(func)
        async def timed(fetcher: Fetcher, url: object, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            kind = "article" if "/articles/" in str(url) else "feed"
            try:
                result = await func(fetcher, url, *args, **kwargs)
                if name == "get" and isinstance(result, Failed) and result.kind == "timeout":
                    self.timeouts[kind] += 1
                return result
            finally:
                self.awaited[f"{name} {kind}"].append(time.perf_counter() - start)

        return timed

    def wrap_writer(self, run: Callable[..., Any]) -> Callable[..., Any]:
        """Writer.run: each call it hands the writer thread is timed there as "writer" (its
        children, the named stages, subtracted from it), and its wait in the queue kept."""

        @functools.wraps(run)
        async def timed(writer: Any, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            submitted = time.perf_counter()

            def started(*inner: Any, **named: Any) -> Any:
                self.queue_wait.append(time.perf_counter() - submitted)
                return call(*inner, **named)

            return await run(writer, self.wrap("writer", started), *args, **kwargs)

        return timed


# (label, where, attribute, required): the synchronous functions timed, on the writer thread
# but for "feed parse" (the loop); `required` ones must exist and be called, or the stage
# table would silently be wrong.
_TIMED: tuple[tuple[str, Any, str, bool], ...] = (
    (
        "topics",
        stories_module,
        "match_topics",
        False,
    ),  # in the pool, unless the headline came from the feed
    ("find_duplicate", stories_module, "find_duplicate", True),
    ("confirm", dedupe_module, "_confirm", False),  # one band candidate, checked
    ("feed parse", pipeline_module, "parse_feed", True),
    ("compress", blobs_module, "compress_html", False),
    ("known keys", queries_module, "known_keys", False),
    ("store", Pipeline, "_store_new_story", True),
    ("dedupe", StoryWriter, "_find_duplicate", True),
    ("cluster", StoryWriter, "_best_cluster", True),
    ("poll record", SourceStateWriter, "write", True),
    ("claim", Pipeline, "_claim", True),
)
# The coroutines timed from call to result: the process stage as the loop sees it (waiting
# for a free worker included) and a page's time in a worker (sent, processed, answered).
_AWAITED: tuple[tuple[str, Any, str, bool], ...] = (
    ("process", Pipeline, "_process", True),
    ("in a worker", ProcessPool, "_exchange", True),
)


@contextlib.contextmanager
def timing_stages() -> Iterator[StageTimers]:
    timers = StageTimers()
    with contextlib.ExitStack() as stack:
        for timed, wrapper in ((_TIMED, timers.wrap), (_AWAITED, timers.wrap_async)):
            for label, owner, attribute, required in timed:
                original = getattr(owner, attribute, None)
                if original is None:
                    if required:
                        raise RuntimeError(
                            f"ingest is broken: {owner.__name__}.{attribute} is gone"
                        )
                    continue
                stack.enter_context(mock.patch.object(owner, attribute, wrapper(label, original)))
        stack.enter_context(mock.patch.object(Writer, "run", timers.wrap_writer(Writer.run)))
        stack.enter_context(
            mock.patch.object(Fetcher, "get", timers.wrap_fetch("get", Fetcher.get))
        )
        exchange = getattr(Fetcher, "_exchange", None)  # one request, in a concurrency slot
        if exchange is not None:
            stack.enter_context(
                mock.patch.object(Fetcher, "_exchange", timers.wrap_fetch("exchange", exchange))
            )
        yield timers
    called = {**timers.calls, **{name: len(calls) for name, calls in timers.awaited.items()}}
    missing = [
        label
        for label, _, _, required in (*_TIMED, *_AWAITED)
        if required and not called.get(label)
    ]
    if missing:
        raise RuntimeError(f"ingest is broken: never called: {', '.join(missing)}")


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (/proc/PID/stat), 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Stages:
    """Where one pass spent its time: CPU per stage (the event loop, the writer thread, the
    pool's workers) and the wall time of the process and write stages."""

    wall: float
    cpu: float  # the benchmark process: the event loop, the writer thread, helper threads
    worker_cpu: float  # the pool's workers, together
    workers: int  # worker processes alive at the end of the pass
    replaced: int  # workers that died or were stopped and replaced during the pass
    cpu_seconds: dict[str, float]  # stage: CPU seconds, each stage's own
    thread: dict[str, str]  # stage: where it ran ("loop", "writer", "workers")
    process_wall: list[float]  # per page: Pipeline._process from call to result
    worker_wall: list[float]  # per page: its exchange with a worker
    writer_wall: float  # the writer thread busy, seconds
    writer_calls: int
    queue_wait: list[float]  # per writer call, sorted
    latency: dict[str, float]  # article requests: mean "get" (from call to result) and
    # "exchange" (the request in its slot), p99 and max of the exchange
    timeouts: Counter[str]  # requests timed out, by kind
    on_topic: int  # stories that went through the duplicate check
    candidates: int  # band candidates confirmed (or not) by find_duplicate
    confirmed: int  # of which were near-duplicates
    duplicates: int  # find_duplicate calls that found one (hash or band)
    growth: dict[str, tuple[float, float]]  # stage: mean wall seconds of the first and last
    # tenth of its calls
    lags: list[float] = field(default_factory=list)  # event-loop lag samples, sorted

    @staticmethod
    def of(
        timers: StageTimers, wall: float, cpu: float, worker_cpu: float, workers: int, replaced: int
    ) -> Stages:
        inc, exc = timers.inclusive_cpu, timers.exclusive_cpu
        writer = {
            "store": exc["store"],
            "dedupe": inc["dedupe"],
            "cluster": inc["cluster"],
            "topics": inc["topics"],
            "zlib": inc["compress"],
            "claims": inc["claim"],
            "poll records": inc["poll record"],
            "known keys": inc["known keys"],
            "other writes": exc["writer"],
        }
        loop = {
            "feed parse": inc["feed parse"],
            "fetch+IPC+loop": max(0.0, cpu - inc["writer"] - inc["feed parse"]),
        }
        cpu_seconds = {"extract+fingerprint": worker_cpu, **writer, **loop}
        thread = {"extract+fingerprint": "workers"}
        thread.update(dict.fromkeys(writer, "writer"))
        thread.update(dict.fromkeys(loop, "loop"))
        growth = {}
        for name, calls in (
            ("process", timers.awaited["process"]),
            ("in a worker", timers.awaited["in a worker"]),
            ("dedupe", timers.each["dedupe"]),
            ("cluster", timers.each["cluster"]),
            ("store", timers.each["store"]),
        ):
            tenth = max(1, len(calls) // 10)
            growth[name] = (_mean(calls[:tenth]), _mean(calls[-tenth:]))
        exchanges = sorted(timers.awaited["exchange article"])
        return Stages(
            wall=wall,
            cpu=cpu,
            worker_cpu=worker_cpu,
            workers=workers,
            replaced=replaced,
            cpu_seconds=cpu_seconds,
            thread=thread,
            process_wall=sorted(timers.awaited["process"]),
            worker_wall=sorted(timers.awaited["in a worker"]),
            writer_wall=timers.inclusive["writer"],
            writer_calls=timers.calls["writer"],
            queue_wait=sorted(timers.queue_wait),
            latency={
                "get": _mean(timers.awaited["get article"]),
                "exchange": _mean(exchanges),
                "exchange p99": _quantile(exchanges, 0.99),
                "exchange max": max(exchanges, default=0.0),
            },
            timeouts=timers.timeouts,
            on_topic=timers.calls["dedupe"],
            candidates=timers.calls["confirm"],
            confirmed=timers.hits["confirm"],
            duplicates=timers.hits["find_duplicate"],
            growth=growth,
        )

    @property
    def timed_out(self) -> int:
        return sum(self.timeouts.values())


# ---------------------------------------------------------------- the run


@dataclass
class _Pass:
    database: str  # "SQLite" or "PostgreSQL"
    stages: list[Stages] = field(default_factory=list)
    summary: PassSummary | None = None

    def median(self) -> Stages:
        """The pass of median wall time (the lower middle one of an even count)."""
        ordered = sorted(self.stages, key=lambda s: s.wall)
        return ordered[(len(ordered) - 1) // 2]


@dataclass
class _Baseline:
    """Runs of one baseline: wall and CPU seconds, event-loop lag samples of each."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    lag_p99: list[float] = field(default_factory=list)


@dataclass
class _Results:
    articles: int
    feeds: int
    expected: Expected
    get: _Baseline = field(default_factory=_Baseline)  # plain GETs
    extract: _Baseline = field(default_factory=_Baseline)  # GETs + trafilatura in a pool
    processes: int = 0  # [processing] processes of monitor (and of the extraction baseline)
    timeout: float = 0.0  # fetch.timeout, seconds
    page_bytes: int = 0  # gzipped bytes received, all pages, one run
    plain_bytes: int = 0  # decompressed
    passes: list[_Pass] = field(default_factory=list)
    postgres_note: str | None = None
    profiles: list[Path] = field(default_factory=list)
    server_busy: float = 0.0
    load: list[float] = field(default_factory=list)  # 1-minute load average, start and end


def run(options: Options) -> Report:
    feeds = QUICK_FEEDS if options.quick else FEEDS
    repeat = options.repeat or REPEAT
    baseline_repeat = options.repeat or (1 if options.quick else BASELINE_REPEAT)
    n = feeds * ITEMS
    results = _Results(articles=n, feeds=feeds, expected=Expected.of(n))
    results.load.append(os.getloadavg()[0])
    with (
        run_server(feeds, ITEMS, pages="bench.ingest:article_page") as server,
        tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp,
        environment_without(DATABASE_ENV, CONFIG_ENV),
    ):
        folder = Path(tmp)
        page_urls = [article_url(server.base_url, f, i) for f in range(feeds) for i in range(ITEMS)]
        config = load_config(write_ingest_config(folder, server, f"sqlite:///{folder / 'x.db'}", 1))
        results.processes = config.processing.processes
        results.timeout = config.fetch.timeout.total_seconds()
        asyncio.run(_warm_up(folder, server, page_urls, results))
        for index in range(max(repeat, baseline_repeat)):
            if index < baseline_repeat:
                _baseline_run(server, page_urls, results)
                _extraction_run(server, page_urls, results)
            if index < repeat:
                url = f"sqlite:///{folder / f'monitor-{index}.db'}"
                _monitor_run(folder, server, url, "SQLite", results)
        if os.environ.get(PG_ENV):
            try:
                with _postgres_database(os.environ[PG_ENV]) as url:
                    for _ in range(repeat):
                        _reset_postgres(url)
                        _monitor_run(folder, server, url, "PostgreSQL", results)
            except SQLAlchemyError as exc:
                results.postgres_note = f"PostgreSQL skipped: {_one_line(exc)}"
        else:
            results.postgres_note = f"PostgreSQL skipped: {PG_ENV} is not set"
        if options.profile is not None:
            results.profiles.append(_profile(folder, server, options.profile))
    results.load.append(os.getloadavg()[0])
    return _report(results, server)


def write_ingest_config(folder: Path, server: RunningServer, url: str, feeds: int) -> Path:
    """The bench config: the default topics' keyword lists (bench.topics.KEYWORD_RULES: the
    articles are written to them; the cost of the default queries is bench/topics.py's), the
    default seeds, one source per feed; fetch and processing settings at their defaults but
    for the one-local-host ones."""
    lines = local_host_settings(url, CONCURRENCY, respect_robots=False)  # with the seeds
    for topic in KEYWORD_RULES:
        lines += [
            "[[topics]]",
            f"name = {toml_string(topic.name)}",
            f"keywords = [{', '.join(toml_string(k) for k in topic.keywords)}]",
            f"exclude = [{', '.join(toml_string(k) for k in topic.exclude)}]",
        ]
    return write_feed_config(folder, lines, [server.feed_url(index) for index in range(feeds)])


def _open_app(folder: Path, server: RunningServer, url: str, feeds: int) -> App:
    app = open_app(write_ingest_config(folder, server, url, feeds))
    app.sync()
    return app


async def _warm_up(folder: Path, server: RunningServer, urls: list[str], results: _Results) -> None:
    """One feed through monitor (into a scratch file), a few GETs and extractions, untimed:
    no timed run pays for first-use imports or caches. (Each timed pass starts its own
    pool's workers, as a `monitor poll` does.)"""
    await _get_all(urls[:ITEMS], results.timeout)
    app = _open_app(folder, server, f"sqlite:///{folder / 'warm-up.db'}", 1)
    try:
        async with app.pipeline() as pipeline:
            await pipeline.run_pass(recheck=False)
    finally:
        app.close()
    await _get_and_extract(urls[:ITEMS], results.processes, results.timeout)


def _client(timeout: float) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    return httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False)


async def _get_all(urls: list[str], timeout: float) -> tuple[float, float, int, int]:
    """GET every URL, CONCURRENCY at a time, bodies read: wall and CPU seconds, bytes on the
    wire and decompressed."""
    wire = 0
    async with _client(timeout) as client:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def get(url: str) -> bytes:
            nonlocal wire
            async with gate:
                response = await client.get(url)
                response.raise_for_status()
                wire += response.num_bytes_downloaded
                return response.content

        wall, cpu = time.perf_counter(), time.process_time()
        bodies = await asyncio.gather(*(get(url) for url in urls))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, wire, sum(len(body) for body in bodies)


async def _get_and_extract(
    urls: list[str], processes: int, timeout: float
) -> tuple[float, float, float, list[float]]:
    """GET every URL as `_get_all` does and extract its text with trafilatura in a
    ProcessPoolExecutor of `processes` (each worker imports trafilatura, as monitor's do),
    CONCURRENCY pages between GET and extracted text at once: the work no ingest can skip.
    Wall and CPU seconds (this process, then the workers'), and event-loop lag samples."""
    loop = asyncio.get_running_loop()
    extract = functools.partial(trafilatura.extract, **_TRAFILATURA_OPTIONS)
    lags: list[float] = []
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        async with _client(timeout) as client:
            gate = asyncio.Semaphore(CONCURRENCY)

            async def get_and_extract(url: str) -> int:
                async with gate:
                    response = await client.get(url)
                    response.raise_for_status()
                    text = await loop.run_in_executor(
                        pool, functools.partial(extract, response.content, url=url)
                    )
                    return len(text or "")

            probe = asyncio.create_task(_probe_lag(lags))
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                lengths = await asyncio.gather(*(get_and_extract(url) for url in urls))
            finally:
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                probe.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await probe
        pids = [p.pid for p in getattr(pool, "_processes", {}).values() if p.pid is not None]
        worker_cpu = sum(_cpu_seconds(pid) for pid in pids)
    if not all(lengths):
        raise RuntimeError(f"ingest is broken: trafilatura found no text in {lengths.count(0)}")
    return wall, cpu, worker_cpu, sorted(lags)


# What monitor.core.extract asks trafilatura for (its bare_extraction call), as extract() takes it.
_TRAFILATURA_OPTIONS: dict[str, Any] = {
    "fast": True,
    "include_comments": False,
    "include_tables": True,
    "with_metadata": True,
}


def _baseline_run(server: RunningServer, urls: list[str], results: _Results) -> None:
    before = server.stats()
    wall, cpu, wire, plain = asyncio.run(_get_all(urls, results.timeout))
    served = server.served_since(
        before, "ingest", "baseline", pages_ok=len(urls), requests=len(urls)
    )
    results.get.wall.append(wall)
    results.get.cpu.append(cpu)
    results.page_bytes, results.plain_bytes = wire, plain
    results.server_busy = max(results.server_busy, served.cpu_seconds / wall)


def _extraction_run(server: RunningServer, urls: list[str], results: _Results) -> None:
    before = server.stats()
    wall, cpu, worker_cpu, lags = asyncio.run(
        _get_and_extract(urls, results.processes, results.timeout)
    )
    server.served_since(
        before, "ingest", "extraction baseline", pages_ok=len(urls), requests=len(urls)
    )
    results.extract.wall.append(wall)
    results.extract.cpu.append(cpu + worker_cpu)
    results.extract.lag_p99.append(_quantile(lags, 0.99))


def _monitor_run(
    folder: Path, server: RunningServer, url: str, database: str, results: _Results
) -> None:
    existing = [p for p in results.passes if p.database == database]
    record = existing[0] if existing else _Pass(database)
    if not existing:
        results.passes.append(record)
    app = _open_app(folder, server, url, results.feeds)
    try:
        before = server.stats()
        stages, summary = asyncio.run(_timed_pass(app))
        what = f"monitor on {database}"
        _check(what, summary, results, stages)
        served = server.served_since(before, "ingest", what, feeds_ok=results.feeds, not_found=0)
        if served.pages_ok + stages.timeouts["article"] < results.articles:
            raise RuntimeError(f"ingest is broken: {what}: {served.pages_ok} pages served")
        results.server_busy = max(results.server_busy, served.cpu_seconds / stages.wall)
    finally:
        app.close()
    record.stages.append(stages)
    record.summary = summary


async def _timed_pass(app: App) -> tuple[Stages, PassSummary]:
    lags: list[float] = []
    async with app.pipeline() as pipeline:
        with timing_stages() as timers:
            probe = asyncio.create_task(_probe_lag(lags))
            replaced = pipeline.pool.replaced
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                summary = await pipeline.run_pass(recheck=False)
            finally:
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                probe.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await probe
            # The workers' CPU time, read while they are alive (the pool's workers are new
            # with each pipeline, so it is this pass's alone).
            pids = pipeline.pool.pids()
            worker_cpu = sum(_cpu_seconds(pid) for pid in pids)
            replaced = pipeline.pool.replaced - replaced
    stages = Stages.of(timers, wall, cpu, worker_cpu, len(pids), replaced)
    stages.lags = sorted(lags)
    return stages, summary


async def _probe_lag(lags: list[float]) -> None:
    """How late a coroutine that sleeps LAG_PERIOD wakes: how long the event loop was busy
    with something else (a request in flight waits as long for its next read)."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(LAG_PERIOD)
        lags.append(max(0.0, loop.time() - start - LAG_PERIOD))


def _check(what: str, summary: PassSummary, results: _Results, stages: Stages) -> None:
    """The pass did the work it was meant to: every page stored, but for pages whose
    request timed out (counted and reported; a feed that timed out, or any other failure,
    makes the numbers meaningless)."""
    expected = results.expected
    lost = stages.timeouts["article"]
    stored = summary.new + summary.duplicates + summary.offtopic
    if (
        summary.sources_polled != results.feeds
        or summary.failures != lost
        or stages.timeouts["feed"]
        or summary.aliases
        or stored + lost != results.articles
        or not expected.offtopic - lost <= summary.offtopic <= expected.offtopic
        or not expected.copies * 0.9 - lost <= summary.duplicates <= expected.copies
    ):
        raise RuntimeError(
            f"ingest is broken: {what}: {summary.line()}, {summary.offtopic} off-topic, "
            f"{summary.aliases} aliases, {stages.timed_out} timed out (expected "
            f"{results.feeds} sources, {results.articles} stories, {expected.offtopic} "
            f"off-topic, {expected.copies} copies); first errors: {summary.errors[:3]}"
        )


@contextlib.contextmanager
def _postgres_database(server_url: str) -> Iterator[str]:
    """A new database monitor_bench_<pid> on the server of `server_url`, dropped on exit."""
    base = make_url(server_url)
    name = f"monitor_bench_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _reset_postgres(url: str) -> None:
    """An empty schema at the latest migration (monitor refuses to migrate PostgreSQL itself)."""
    engine = db.make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        db.upgrade(engine)
    finally:
        engine.dispose()


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return re.sub(r"\s+", " ", lines[0]) if lines else type(exc).__name__


def _profile(folder: Path, server: RunningServer, out: Path) -> Path:
    """One more ingest into a new SQLite file, untimed: the first three quarters of the feeds,
    then the last quarter under cProfile, so the profile shows a store that already holds
    most of the stories (the costs that grow with it included). cProfile sees this process
    only (the event loop; the writer thread's calls are not in it, nor the workers')."""
    out.mkdir(parents=True, exist_ok=True)
    app = _open_app(folder, server, f"sqlite:///{folder / 'profile.db'}", server.feeds)
    names = [feed_source_name(index) for index in range(server.feeds)]
    cut = len(names) - max(1, len(names) // 4)
    profiler = cProfile.Profile()

    async def profiled() -> None:
        async with app.pipeline() as pipeline:
            await pipeline.run_pass(names[:cut], recheck=False)
            profiler.enable()
            try:
                await pipeline.run_pass(names[cut:], recheck=False)
            finally:
                profiler.disable()

    try:
        asyncio.run(profiled())
    finally:
        app.close()
    path = out / "ingest.prof"
    profiler.dump_stats(path)
    return path


# ---------------------------------------------------------------- report


def _report(results: _Results, server: RunningServer) -> Report:
    n, expected = results.articles, results.expected
    get_rate = n / _median(results.get.wall)
    extract_rate = n / _median(results.extract.wall)
    extract_lag = _median(results.extract.lag_p99) * 1000
    rows = []
    for p in results.passes:
        stages = p.median()
        rate = n / stages.wall
        rows += [
            Row(f"ingest, new articles ({p.database})", "articles/s", rate, get_rate),
            Row(
                f"ingest, new articles vs GET + extraction pool ({p.database})",
                "articles/s",
                rate,
                extract_rate,
            ),
            Row(
                f"ingest, event-loop lateness p99 ({p.database})",
                "ms",
                _quantile(stages.lags, 0.99) * 1000,
                extract_lag,
            ),
            Row(
                f"ingest, requests timed out at {results.timeout:g}s ({p.database})",
                "requests",
                stages.timed_out,
            ),
        ]
    words = expected.words
    on_topic = n - expected.offtopic
    notes = [
        f"{n:,} new article pages ({min(words):,}-{max(words):,} words, "
        f"{sum(words) / n:,.0f} on average; {results.plain_bytes / n / 1024:.0f} KiB of HTML, "
        f"{results.page_bytes / n / 1024:.0f} KiB gzipped) in {results.feeds} RSS feeds of "
        f"{ITEMS} on {server.base_url} (bench/feedserver.py in its own process, pages built "
        f"before the first request; it was at most {results.server_busy:.0%} busy): "
        f"{on_topic:,} on the default topics, {expected.offtopic:,} off topic, {expected.copies} "
        "copies of an earlier page or a seed",
        f"monitor: Pipeline.run_pass(recheck=False) on a fresh database, concurrency "
        f"{CONCURRENCY}, per_host_concurrency {CONCURRENCY}, per_host_delay 0s (one host), "
        f"respect_robots false, fetch.timeout {results.timeout:g}s and [processing] "
        f"processes {results.processes} (the defaults on this machine); the default topics and "
        "seeds; the rate counts the whole pass (claims, "
        f"{results.feeds} feeds fetched and parsed, every page through the pipeline); "
        f"{_runs(len(results.passes[0].stages), 'pass')} per database; checked: every page "
        "fetched once, no failure but timed-out requests, the off-topic count exact, "
        "duplicates within 10% of the copies",
        f"baseline 'plain httpx GET': httpx.AsyncClient GETs of the {n:,} pages, "
        f"{CONCURRENCY} at a time, bodies read and gunzipped, nothing else; "
        f"{_runs(len(results.get.wall), 'run')}, {_median(results.get.cpu) * 1000 / n:.2f} ms "
        "of CPU per page",
        "baseline 'GET + extraction pool': the same GETs, each body then given to "
        f"trafilatura.extract({', '.join(f'{k}={v}' for k, v in _TRAFILATURA_OPTIONS.items())}"
        f") in a concurrent.futures.ProcessPoolExecutor of {results.processes} processes "
        f"(forkserver), {CONCURRENCY} pages between GET and text at once; "
        f"{_runs(len(results.extract.wall), 'run')}, "
        f"{_median(results.extract.cpu) * 1000 / n:.2f} ms of CPU per page (this process and "
        f"the workers); its event loop woke late by {extract_lag:.0f} ms at the 99th "
        "percentile (the baseline of the lateness rows: ratio = monitor / baseline, lower is "
        "better)",
        f"the machine's load average was {results.load[0]:.1f} at the start and "
        f"{results.load[-1]:.1f} at the end ({os.cpu_count()} CPUs): other work slows every "
        "side",
    ]
    for record in results.passes:
        notes += _stage_notes(record, n, results.processes)
    if results.postgres_note:
        notes.append(results.postgres_note)
    notes += [
        f"cProfile of one more ingest into a new SQLite file, its last quarter of the feeds "
        f"only ({max(1, results.feeds // 4) * ITEMS} articles, the store holding "
        f"the rest already), the event loop's thread only: {path}"
        for path in results.profiles
    ]
    return Report(rows=rows, notes=notes)


def _runs(count: int, what: str) -> str:
    return f"median of {count} runs" if count > 1 else f"one {what}"


def _quantile(values: list[float], q: float) -> float:
    """Of sorted values."""
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


def _writer_cpu(stages: Stages) -> float:
    return sum(cpu for name, cpu in stages.cpu_seconds.items() if stages.thread[name] == "writer")


def _stage_notes(record: _Pass, articles: int, processes: int) -> list[str]:
    stages = record.median()
    summary = record.summary
    assert summary is not None
    total = stages.cpu + stages.worker_cpu

    def ms(seconds: float) -> str:
        return f"{seconds * 1000 / articles:.2f}"

    by_thread: dict[str, list[str]] = defaultdict(list)
    for name, seconds in stages.cpu_seconds.items():
        by_thread[stages.thread[name]].append(f"{name} {ms(seconds)} ({seconds / total:.0%})")
    where = {"workers": "pool workers", "writer": "writer thread", "loop": "event loop"}
    parts = "; ".join(f"{where[thread]}: {', '.join(p)}" for thread, p in by_thread.items())
    growth = ", ".join(
        f"{name} {first * 1000:.1f} -> {last * 1000:.1f}"
        for name, (first, last) in stages.growth.items()
    )
    process, worker = stages.process_wall, stages.worker_wall
    timeouts = (
        f"{stages.timed_out} requests timed out ({stages.timeouts['article']} pages, "
        f"{stages.timeouts['feed']} feeds)"
        if stages.timed_out
        else "no request timed out"
    )
    return [
        f"{record.database}: {summary.new} new on-topic stories, {summary.duplicates} "
        f"duplicates, {summary.offtopic} off-topic, {timeouts}; CPU time per stage in ms per "
        "article (each stage's own, in the thread or processes that ran it; share of all "
        f"CPU time): {parts}; CPU time in all was {total / stages.wall:.0%} of the pass's "
        f"wall time (this process {stages.cpu / stages.wall:.0%}, the {stages.workers} "
        f"workers {stages.worker_cpu / stages.wall:.0%}; {stages.replaced} replaced)",
        f"{record.database} process stage (wall, as the event loop awaits it): "
        f"{_mean(process) * 1000:.0f} ms a page (median {_quantile(process, 0.5) * 1000:.0f}, "
        f"99th percentile {_quantile(process, 0.99) * 1000:.0f}), of which "
        f"{_mean(worker) * 1000:.0f} ms in a worker (sent, processed, answered) and "
        f"{(_mean(process) - _mean(worker)) * 1000:.0f} ms waiting for a free one; the "
        f"{processes} workers were busy {sum(worker) / (processes * stages.wall):.0%} of the "
        "pass",
        f"{record.database} writer thread: busy {stages.writer_wall / stages.wall:.0%} of the "
        f"pass, its own CPU time {_writer_cpu(stages) / max(stages.writer_wall, 1e-9):.0%} of "
        "that busy time (the rest: waiting for the GIL, the disk or the database server) "
        f"({stages.writer_calls:,} calls; a call waited "
        f"{_quantile(stages.queue_wait, 0.5) * 1000:.0f} ms in its queue (median), "
        f"{_quantile(stages.queue_wait, 0.99) * 1000:.0f} ms at the 99th percentile); "
        f"duplicate check and clustering run for on-topic stories only ({stages.on_topic} "
        f"here); find_duplicate checked {stages.candidates:,} LSH band candidates "
        f"({stages.candidates / max(1, stages.on_topic):.1f} per story; {stages.confirmed} "
        f"near-duplicates among them; {stages.duplicates} duplicates found in all, by hash or "
        f"band); ms per call in the first tenth -> the last tenth of the pass, as the store "
        f"fills: {growth}",
        f"{record.database} event loop: a coroutine sleeping {LAG_PERIOD * 1000:.0f} ms woke "
        f"late by {_quantile(stages.lags, 0.5) * 1000:.0f} ms (median), "
        f"{_quantile(stages.lags, 0.99) * 1000:.0f} ms (99th percentile), "
        f"{max(stages.lags, default=0) * 1000:.0f} ms at most; a page's request took "
        f"{stages.latency['exchange'] * 1000:.0f} ms in its slot on average "
        f"({stages.latency['exchange p99']:.1f} s at the 99th percentile, "
        f"{stages.latency['exchange max']:.1f} s at most; "
        f"{stages.latency['get'] * 1000:,.0f} ms from get() to result, waiting for one of "
        f"{CONCURRENCY} slots included)",
    ]
