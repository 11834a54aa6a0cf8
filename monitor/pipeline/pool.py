"""The process stage: pages are decoded, extracted and fingerprinted in worker processes.

Why processes and not threads: trafilatura and lxml are not safe to run in several threads
of one process (a poll of real pages died with SIGABRT, "double free or corruption"), and
extraction is CPU work that only another process can put on a second core.

Each worker takes one page at a time over a socket. A worker that dies on a page (a native
crash, the OOM killer) or holds it past the per-page limit costs that page, not the pass: it
is killed if needed and replaced, and the page comes back as `PageFailed(crashed=True)` so
the caller can record it and retry it later.

Each worker is a fresh interpreter running monitor.pipeline.worker, which imports only the
extraction code: the service's own process never loads trafilatura, lxml or numpy, and no
third process (a forkserver, multiprocessing's resource tracker) stays resident to fork the
workers from. What that costs: a new or replacement worker takes its imports' time (a
fraction of a second) before its first page; the per-page limit starts once it is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

import monitor
from monitor.pipeline.worker import (
    READY,
    TEST_HOOKS_FLAG,
    PageFailed,
    PageTask,
    ProcessedPage,
    process_page,
)

if TYPE_CHECKING:
    from monitor.config import ProcessingConfig

__all__ = [
    "TEST_HOOKS_ENV",
    "PageFailed",
    "PageTask",
    "ProcessPool",
    "ProcessedPage",
    "process_page",
]

log = logging.getLogger(__name__)

TEST_HOOKS_ENV = "MONITOR_TEST_HOOKS"  # "1": pages may ask a worker to crash (tests only)
_SPAWN_FAILURES_DEAD = 3  # spawn failures in a row after which the pool reports itself dead
_START_TIMEOUT = 60.0  # seconds a new worker may take to import and warm up
_WORKER = "from monitor.pipeline.worker import main; main()"


def _worker_command(fd: int, test_hooks: bool) -> list[str]:
    # -P: the current folder is not put on the worker's path, so it cannot shadow monitor.
    return [
        sys.executable,
        "-P",
        "-c",
        _WORKER,
        str(fd),
        *([TEST_HOOKS_FLAG] if test_hooks else []),
    ]


def _worker_environment() -> dict[str, str]:
    """The service's environment, the folder its monitor package came from first on the
    path: the worker runs the same code as the service (a checkout run from its folder too)."""
    root = str(Path(monitor.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root}


@dataclass(eq=False)  # hashed by identity: kept in a set while busy
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection

    def reap(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the process to end (it has closed its socket)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)

    def stop(self) -> None:
        """Kill the process (if alive), reap it and close the socket."""
        with contextlib.suppress(OSError):
            if self.process.poll() is None:
                self.process.kill()
        self.reap(5)
        self.conn.close()

    def ending(self) -> str:
        """How the process ended: the signal's name, or its exit code."""
        code = self.process.returncode
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return signal.Signals(-code).name
        return f"exit code {code}"

    def death(self) -> str:
        return f"the extraction process died ({self.ending()}) on this page"


class ProcessPool:
    """At most `processes` workers, started on demand; one page at a time each."""

    def __init__(self, processes: int, page_timeout: float, *, test_hooks: bool = False) -> None:
        self.processes = processes
        self.page_timeout = page_timeout
        self.test_hooks = test_hooks
        self._slots = asyncio.Semaphore(processes)
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._spawn_failures = 0
        self._closed = False
        self.replaced = 0  # workers that died or were killed and replaced

    @classmethod
    def configured(cls, processing: ProcessingConfig) -> ProcessPool:
        """The pool `[processing]` describes, as every command that extracts builds it (the
        service's passes, `monitor reextract`); test hooks on when TEST_HOOKS_ENV is "1"."""
        return cls(
            processing.processes,
            processing.page_timeout.total_seconds(),
            test_hooks=os.environ.get(TEST_HOOKS_ENV) == "1",
        )

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
        """Start a worker and wait until it is ready; OSError if it cannot start."""
        parent, child = socket.socketpair()
        try:
            process = subprocess.Popen(
                _worker_command(child.fileno(), self.test_hooks),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # stdout is the command's (`monitor poll --json`)
                pass_fds=(child.fileno(),),
                start_new_session=True,  # the terminal's Ctrl-C is for the service
                env=_worker_environment(),
            )
        except OSError:
            self._spawn_failures += 1
            parent.close()
            raise
        finally:
            child.close()
        worker = _Worker(process, Connection(parent.detach()))
        try:
            async with asyncio.timeout(_START_TIMEOUT):
                await self._readable(worker)
            greeting = worker.conn.recv()
        except BaseException as exc:
            worker.stop()  # killed first: the wait for its end is short
            if not isinstance(exc, EOFError | OSError):  # cancelled: not the worker's fault
                raise
            self._spawn_failures += 1
            if isinstance(exc, TimeoutError):
                raise OSError(f"not ready after {_START_TIMEOUT:.0f}s") from exc
            raise OSError(f"it ended ({worker.ending()}) before it was ready") from exc
        if greeting != READY:
            worker.stop()
            self._spawn_failures += 1
            raise OSError(f"unexpected greeting {greeting!r}")
        self._spawn_failures = 0
        return worker

    async def _exchange(self, worker: _Worker, task: PageTask) -> ProcessedPage | PageFailed:
        try:
            worker.conn.send(task)
        except OSError:
            await asyncio.to_thread(worker.reap, 5)
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
            await asyncio.to_thread(worker.reap, 5)
            log.warning("%s: %s", task.url, worker.death())
            return PageFailed(worker.death(), True)
        if isinstance(reply, PageFailed) and reply.traceback:
            log.warning("processing %s failed:\n%s", task.url, reply.traceback.rstrip())
        return reply

    @staticmethod
    async def _readable(worker: _Worker) -> None:
        """Wait until the worker answers or dies (its socket is readable: a message, or the
        end of file its death leaves)."""
        loop = asyncio.get_running_loop()
        ready = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        fd = worker.conn.fileno()
        loop.add_reader(fd, wake)
        try:
            await ready
        finally:
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
                worker.reap(max(0.0, deadline - time.monotonic()))
                worker.stop()

        if workers:
            await asyncio.to_thread(stop_all)
