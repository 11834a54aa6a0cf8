"""The process stage: pages are decoded, extracted and fingerprinted in worker processes.

Why processes and not threads: trafilatura and lxml are not safe to run in several threads
of one process (a poll of real pages died with SIGABRT, "double free or corruption"), and
extraction is CPU work that only another process can put on a second core.

Each worker takes one page at a time over a pipe. A worker that dies on a page (a native
crash, the OOM killer) or holds it past the per-page limit costs that page, not the pass: it
is killed if needed and replaced, and the page comes back as `PageFailed(crashed=True)` so
the caller can record it and retry it later. Workers are forked from a forkserver that has
already imported the extraction code, so a replacement starts in milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Self

from monitor.core.clusters import cluster_terms
from monitor.core.encoding import decode_html
from monitor.core.extract import Article, extract_article
from monitor.core.fingerprint import Fingerprint, fingerprint
from monitor.core.normalize import normalize_text
from monitor.core.text import one_line
from monitor.core.topics import TopicMatch, TopicRule, match_topics
from monitor.store.blobs import compress_html

log = logging.getLogger(__name__)

TEST_HOOKS_ENV = "MONITOR_TEST_HOOKS"  # "1": pages may ask a worker to crash (tests only)
_HOOK = b"monitor-test-hook:"
_SPAWN_FAILURES_DEAD = 3  # spawn failures in a row after which the pool reports itself dead


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


def _serve(conn: Connection, test_hooks: bool) -> None:
    """A worker's life: one page in, one result out, until the pipe closes."""
    # Signals go to the service, which stops in order and then closes the pool; a worker
    # must not die under the page it holds because Ctrl-C or systemd's SIGTERM reached it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _log_one_line_to_stderr()
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        result: ProcessedPage | PageFailed
        try:
            if test_hooks:
                _run_test_hook(task.body)
            result = process_page(task)
        except Exception as exc:  # a bug must cost one page, not the worker
            message = f"processing failed: {type(exc).__name__}: {exc}"
            result = PageFailed(message, False, traceback.format_exc())
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


@dataclass(eq=False)  # hashed by identity: kept in a set while busy
class _Worker:
    process: BaseProcess
    conn: Connection

    def stop(self) -> None:
        """Kill the process (if alive), reap it and close the pipe."""
        with contextlib.suppress(OSError, ValueError):
            if self.process.is_alive():
                self.process.kill()
            self.process.join(5)
        self.conn.close()
        with contextlib.suppress(ValueError):
            self.process.close()

    def death(self) -> str:
        code = self.process.exitcode
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return f"the extraction process died ({signal.Signals(-code).name}) on this page"
        return f"the extraction process died (exit code {code}) on this page"


class ProcessPool:
    """At most `processes` workers, started on demand; one page at a time each."""

    def __init__(self, processes: int, page_timeout: float, *, test_hooks: bool = False) -> None:
        self.processes = processes
        self.page_timeout = page_timeout
        self.test_hooks = test_hooks
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload([__name__])
        self._slots = asyncio.Semaphore(processes)
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._spawn_failures = 0
        self._closed = False
        self.replaced = 0  # workers that died or were killed and replaced

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def problem(self) -> str | None:
        """Why the pool cannot work, or None: for the health verdict."""
        if self._spawn_failures >= _SPAWN_FAILURES_DEAD:
            return f"the process pool cannot start workers ({self._spawn_failures} failures)"
        return None

    def pids(self) -> list[int]:
        """The process ids of the live workers (tests kill them from outside)."""
        return [w.process.pid for w in (*self._idle, *self._busy) if w.process.pid is not None]

    async def process(self, task: PageTask) -> ProcessedPage | PageFailed:
        """Process one page in a worker; never raises for what the page does."""
        if self._closed:
            raise RuntimeError("the process pool is closed")
        async with self._slots:
            try:
                worker = self._idle.pop() if self._idle else await self._spawn()
            except OSError as exc:
                return PageFailed(f"the extraction process could not start: {exc}", False)
            self._busy.add(worker)
            healthy = False
            try:
                result = await self._exchange(worker, task)
                healthy = not (isinstance(result, PageFailed) and result.crashed)
                return result
            finally:
                self._busy.discard(worker)
                if healthy and not self._closed:
                    self._idle.append(worker)
                else:  # dead, hung, or cancelled mid-page: a fresh one takes its place
                    self.replaced += 1
                    await asyncio.to_thread(worker.stop)

    async def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_serve, args=(child, self.test_hooks), name="monitor-extract", daemon=True
        )
        try:
            await asyncio.to_thread(process.start)
        except OSError:
            self._spawn_failures += 1
            parent.close()
            raise
        finally:
            child.close()
        self._spawn_failures = 0
        return _Worker(process, parent)

    async def _exchange(self, worker: _Worker, task: PageTask) -> ProcessedPage | PageFailed:
        try:
            worker.conn.send(task)
        except (BrokenPipeError, OSError):
            await asyncio.to_thread(worker.process.join, 5)
            return PageFailed(worker.death(), True)
        try:
            async with asyncio.timeout(self.page_timeout):
                await self._readable(worker)
        except TimeoutError:
            log.warning("extraction of %s passed %.0fs: worker killed", task.url, self.page_timeout)
            return PageFailed(
                f"extraction took longer than {self.page_timeout:g}s (the worker was stopped)",
                True,
            )
        try:
            reply: ProcessedPage | PageFailed = worker.conn.recv()
        except (EOFError, OSError):
            await asyncio.to_thread(worker.process.join, 5)
            log.warning("%s: %s", task.url, worker.death())
            return PageFailed(worker.death(), True)
        if isinstance(reply, PageFailed) and reply.traceback:
            log.warning("processing %s failed:\n%s", task.url, reply.traceback.rstrip())
        return reply

    @staticmethod
    async def _readable(worker: _Worker) -> None:
        """Wait until the worker answers or dies (its pipe or its sentinel is readable)."""
        loop = asyncio.get_running_loop()
        ready = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        fds = (worker.conn.fileno(), worker.process.sentinel)
        for fd in fds:
            loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            for fd in fds:
                loop.remove_reader(fd)

    async def aclose(self) -> None:
        """Ask idle workers to leave, and stop any still busy (the pass is over)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for worker in idle:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        workers = [*idle, *self._busy]
        self._busy.clear()

        def stop_all() -> None:
            deadline = time.monotonic() + 2
            for worker in workers:
                worker.process.join(max(0.0, deadline - time.monotonic()))
                worker.stop()

        if workers:
            await asyncio.to_thread(stop_all)
