"""A process pool worker: pages in over a socket, one at a time, processed pages out.

The pool (monitor.pipeline.pool) starts each worker as `python -c "from
monitor.pipeline.worker import main; main()" FD`: a fresh interpreter that imports only the
extraction code, not the service's database, scheduler or HTTP client (and not `-m`, which
would define this module's classes a second time, as `__main__`, and pickle them under that
name). FD is the worker's end of a socket pair; messages are pickled, framed by
multiprocessing.connection. The worker warms up on a small page (so trafilatura, lxml and
numpy are loaded before its first real page and the page time limit counts extraction only),
says "ready", then answers each PageTask with a ProcessedPage or a PageFailed, until the
socket closes or a None arrives. Idle for a second (the pass has no page for it), it gives
its heap's free memory back (monitor.pipeline.heap): a busy page's trees would otherwise
stay resident in every worker until its next page.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from monitor.core.clusters import cluster_terms
from monitor.core.encoding import decode_html
from monitor.core.extract import Article, extract_article
from monitor.core.fingerprint import Fingerprint, fingerprint
from monitor.core.normalize import normalize_text
from monitor.core.text import one_line
from monitor.core.topics import TopicMatch, TopicRule, match_topics
from monitor.pipeline.heap import release_free_memory
from monitor.store.blobs import compress_html

READY = "ready"  # the worker's first message, once it can take pages
TEST_HOOKS_FLAG = "--test-hooks"  # pages may ask the worker to crash (tests only)
IDLE_TRIM_AFTER = 1.0  # seconds without a page after which the worker frees its heap
_HOOK = b"monitor-test-hook:"
_WARM_UP = (
    b"<html><head><title>Warm-up</title></head><body><article><h1>Warm-up</h1>"
    + b"<p>A paragraph long enough for the extractor to read it as the article's text.</p>" * 4
    + b"</article></body></html>"
)


@dataclass(frozen=True, slots=True)
class PageTask:
    """A fetched page, how its source wants it read, and the topics to match it against."""

    url: str
    body: bytes
    charset: str | None
    title_selector: str | None = None
    text_selector: str | None = None
    topics: tuple[TopicRule, ...] = ()


@dataclass(frozen=True, slots=True)
class ProcessedPage:
    """Everything about a page that needs only the page: the CPU work the writer is spared."""

    article: Article
    normalized: str  # normalize.normalize_text of the article text
    fingerprint: Fingerprint
    topics: tuple[TopicMatch, ...]  # of the article's own headline and text
    cluster_terms: frozenset[str]  # likewise
    compressed_html: bytes  # the body as the store keeps it


@dataclass(frozen=True, slots=True)
class PageFailed:
    """The page could not be processed; `crashed`: it killed or hung a worker."""

    message: str
    crashed: bool
    traceback: str = field(default="", compare=False)  # for the log, when code failed


def process_page(task: PageTask) -> ProcessedPage:
    """Decode, extract, normalise, fingerprint, match and compress one page (CPU work)."""
    html = decode_html(task.body, task.charset)
    article = extract_article(
        html, task.url, title_selector=task.title_selector, text_selector=task.text_selector
    )
    normalized = normalize_text(article.text)
    return ProcessedPage(
        article,
        normalized,
        fingerprint(normalized),
        tuple(
            match_topics(
                task.topics,
                article.title,
                article.text,
                outlet=article.site_name or "",
                url=task.url,
            )
        ),
        cluster_terms(article.title, article.text, article.published),
        compress_html(task.body),
    )


def _run_test_hook(body: bytes) -> None:
    """Lets tests make a worker die the ways real pages have made one die."""
    at = body.find(_HOOK)
    if at < 0:
        return
    action = body[at + len(_HOOK) :].split(maxsplit=1)[0].rstrip(b"-><\"'")
    if action == b"abort":
        os.abort()
    elif action == b"sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == b"hang":
        time.sleep(3600)
    elif action == b"raise":
        raise RuntimeError("test hook: a bug in extraction")


class _OneLineFormatter(logging.Formatter):
    """A worker's log lines without tracebacks: those reach the service's log instead."""

    def formatException(self, ei: object) -> str:
        return ""

    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record))


def _log_one_line_to_stderr() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLineFormatter("monitor extraction: %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.WARNING)


def _handle(task: PageTask, test_hooks: bool) -> ProcessedPage | PageFailed:
    try:
        if test_hooks:
            _run_test_hook(task.body)
        return process_page(task)
    except Exception as exc:  # a bug must cost one page, not the worker
        message = f"processing failed: {type(exc).__name__}: {exc}"
        return PageFailed(message, False, traceback.format_exc())


def serve(conn: Connection, test_hooks: bool) -> None:
    """A worker's life: warm up, say ready, then one page in, one result out, until the
    socket closes."""
    _handle(PageTask("http://warm-up.invalid/", _WARM_UP, "utf-8"), test_hooks=False)
    try:
        conn.send(READY)
    except OSError:
        return
    while True:
        try:
            if not conn.poll(IDLE_TRIM_AFTER):  # idle: not between two pages of a pass
                release_free_memory()
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            conn.send(_handle(task, test_hooks))
        except OSError:
            return


def main() -> None:
    """The worker process's entry point; its arguments: FD [--test-hooks]."""
    # Signals go to the service, which stops in order and then closes the pool; a worker
    # must not die under the page it holds because systemd's SIGTERM reached it (the pool
    # starts it in a session of its own, out of reach of the terminal's Ctrl-C).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _log_one_line_to_stderr()
    conn = Connection(int(sys.argv[1]))
    try:
        serve(conn, test_hooks=TEST_HOOKS_FLAG in sys.argv[2:])
    finally:
        conn.close()
