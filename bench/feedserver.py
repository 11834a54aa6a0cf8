"""A small, fast HTTP/1.1 server of the newsroom's generated site (monitor.demo.generated:
RSS feeds and article pages) on loopback, for the benchmarks.

    python -m bench.feedserver --feeds 500 --items 30      # prints its base URL, serves until ^C

    with run_server(feeds=500) as server:                 # the same, in a child process
        server.feed_url(7)                                # http://127.0.0.1:PORT/feeds/0007.xml
        before = server.stats()
        ...
        server.stats().minus(before).feeds_ok             # 200s served since `before`

    run_server(feeds=100, items=20, pages="bench.ingest:article_page")  # + article pages
    run_server(feeds=2000, items=8, change_every=10)      # each feed changes every 10th GET
    with serving(feeds=1, items=15) as server: ...        # in a thread of this process, pages
                                                          # rendered anew at each request

It is an `asyncio.Protocol` over pre-built responses, so that at benchmark rates the server is
not what is measured (on the 2-core development machine, 16 httpx keep-alive connections get
717 feeds/s from it, 83 µs of its CPU a request, against 351 from the tests' threaded
monitor.demo.webserver at 197 µs: the benchmarks keep a server of their own). It runs in its own
process (the machine has two cores: one for the server, one for the client under test) and
reports its own CPU time, so a benchmark can show how busy it was.

Routes:

    /feeds/NNNN.xml   feed NNNN (0 <= NNNN < feeds): RSS 2.0 with `items` items, each linking to
                      /articles/NNNN/II; a strong ETag, and 304 Not Modified to a matching
                      If-None-Match (also a list, W/ prefixes, or *). With `change_every` N,
                      feed NNNN gets a new revision (a new lastBuildDate and ETag, the same
                      items) at its GET number g when (g + NNNN) % N == 0: about 1 in N
                      feeds changes between two polls of them all
    /articles/NNNN/II only with `pages` (a "module:function" called as function(base_url,
                      feed, item) -> HTML bytes): that article page, built once when the
                      server starts; gzip-encoded when the request accepts gzip; no validators
    /robots.txt       404, which means "everything allowed"
    /_stats           the counters as JSON; not counted itself
    anything else     404 (counted: a benchmark can check that nothing unexpected was asked)

Connections are kept alive (HTTP/1.1) unless the client sends `Connection: close` or speaks
HTTP/1.0; pipelined requests are answered in order. Request bodies are not supported: a request
that announces one is answered 400 and its connection closed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import importlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import httpx

from monitor.demo.generated import (
    DEFAULT_ITEMS,
    Article,
    PageMaker,
    Site,
    article_url,
    feed_body,
    feed_etag,
    feed_path,
    render_article,
)

__all__ = [
    "DEFAULT_ITEMS",
    "FeedServer",
    "NewsServer",
    "PageMaker",
    "RunningServer",
    "Stats",
    "article_url",
    "feed_body",
    "feed_etag",
    "feed_path",
    "run_server",
    "serving",
]

_MAX_HEAD = 64 * 1024  # a request head longer than this is refused
_REPO_ROOT = Path(__file__).resolve().parent.parent


def _etag_matches(header: bytes, etag: bytes) -> bool:
    """If-None-Match uses the weak comparison: W/ prefixes are ignored; `*` matches anything."""
    for candidate in header.split(b","):
        candidate = candidate.strip()
        if candidate == b"*" or candidate.removeprefix(b"W/") == etag:
            return True
    return False


def _response(status: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# ---------------------------------------------------------------- the server


@dataclass
class Stats:
    """Counters since the server started; `minus` gives those of an interval."""

    requests: int = 0
    connections: int = 0
    feeds_ok: int = 0
    feeds_not_modified: int = 0
    pages_ok: int = 0  # article pages (with `pages`)
    robots: int = 0
    not_found: int = 0
    bytes_sent: int = 0
    cpu_seconds: float = 0.0  # the server process's CPU time

    def minus(self, earlier: Stats) -> Stats:
        return Stats(
            **{f.name: getattr(self, f.name) - getattr(earlier, f.name) for f in fields(self)}
        )


@dataclass(frozen=True, slots=True)
class _Feed:
    ok: bytes  # the whole 200 response
    not_modified: bytes  # the whole 304 response
    etag: bytes
    revision: int = 0


@dataclass(frozen=True, slots=True)
class _Page:
    gzipped: bytes  # the whole 200 response, body gzip-encoded
    plain: bytes  # the whole 200 response, body as is


class FeedServer:
    """The server itself, on the running event loop: `await start()`, then `await close()`."""

    def __init__(
        self,
        feeds: int,
        items: int = DEFAULT_ITEMS,
        *,
        pages: PageMaker | None = None,
        change_every: int = 0,
    ) -> None:
        self.feeds = feeds
        self.items = items
        self.stats = Stats()
        self.base_url = ""
        self.change_every = change_every
        self._server: asyncio.Server | None = None
        self._cache: dict[int, _Feed] = {}
        self._make_page = pages
        self._pages: dict[bytes, _Page] = {}
        self._feed_gets: dict[int, int] = {}  # GETs of each feed so far (with change_every)
        self._not_found = _response(
            "404 Not Found",
            [("Content-Type", "text/plain"), ("Content-Length", "10")],
            b"not found\n",
        )
        self._bad_request = _response(
            "400 Bad Request", [("Content-Length", "0"), ("Connection", "close")]
        )

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, reuse_address=True, backlog=1024
        )
        bound = self._server.sockets[0].getsockname()
        self.base_url = f"http://{bound[0]}:{bound[1]}"
        if self._make_page is not None:
            self._build_pages(self._make_page)

    def _build_pages(self, make: PageMaker) -> None:
        """Every article page, once, before the first request: serving one costs no more
        than serving a feed, so a benchmark measures its client, not this server."""
        for feed in range(self.feeds):
            for item in range(self.items):
                body = make(self.base_url, feed, item)
                packed = gzip.compress(body, compresslevel=6, mtime=0)
                headers = [
                    ("Content-Type", "text/html; charset=utf-8"),
                    ("Cache-Control", "private, max-age=0"),
                    ("Vary", "Accept-Encoding"),
                ]
                gzipped = _response(
                    "200 OK",
                    [*headers, ("Content-Encoding", "gzip"), ("Content-Length", str(len(packed)))],
                    packed,
                )
                plain = _response("200 OK", [*headers, ("Content-Length", str(len(body)))], body)
                path = article_url("", feed, item).encode()
                self._pages[path] = _Page(gzipped, plain)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    def respond(self, head: bytes) -> tuple[bytes, bool]:
        """The response to one request head, and whether to close the connection after it."""
        request_line, _, header_block = head.partition(b"\r\n")
        parts = request_line.split(b" ")
        if len(parts) != 3:
            return self._bad_request, True
        method, target, version = parts
        if_none_match: bytes | None = None
        accepts_gzip = False
        close = version != b"HTTP/1.1"
        for line in header_block.split(b"\r\n"):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"if-none-match":
                if_none_match = value.strip()
            elif name == b"accept-encoding":
                accepts_gzip = b"gzip" in value.lower()
            elif name == b"connection":
                token = value.strip().lower()
                close = token == b"close" or (close and token != b"keep-alive")
            elif name == b"transfer-encoding" or (
                name == b"content-length" and value.strip() not in (b"", b"0")
            ):
                return self._bad_request, True  # a request body: not supported
        path = target.partition(b"?")[0]
        if path == b"/_stats":
            self.stats.cpu_seconds = time.process_time()
            body = json.dumps(asdict(self.stats)).encode()
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            return _response("200 OK", headers, body), close
        self.stats.requests += 1
        page = self._pages.get(path) if method == b"GET" else None
        if page is not None:
            self.stats.pages_ok += 1
            return (page.gzipped if accepts_gzip else page.plain), close
        feed = self._feed(path) if method in (b"GET", b"HEAD") else None
        if feed is None:
            if path == b"/robots.txt":
                self.stats.robots += 1
            else:
                self.stats.not_found += 1
            return self._not_found, close
        if if_none_match is not None and _etag_matches(if_none_match, feed.etag):
            self.stats.feeds_not_modified += 1
            return feed.not_modified, close
        self.stats.feeds_ok += 1
        if method == b"HEAD":
            return feed.ok[: feed.ok.index(b"\r\n\r\n") + 4], close
        return feed.ok, close

    def _feed(self, path: bytes) -> _Feed | None:
        if not (path.startswith(b"/feeds/") and path.endswith(b".xml")):
            return None
        digits = path[len(b"/feeds/") : -len(b".xml")]
        if not digits.isdigit() or len(digits) != 4:
            return None
        index = int(digits)
        if index >= self.feeds:
            return None
        revision = 0
        if self.change_every:
            gets = self._feed_gets.get(index, 0)
            self._feed_gets[index] = gets + 1
            revision = (gets + index) // self.change_every
        feed = self._cache.get(index)
        if feed is None or feed.revision != revision:
            body = feed_body(self.base_url, index, self.items, revision)
            etag = feed_etag(index, revision)
            ok = _response(
                "200 OK",
                [
                    ("Content-Type", "application/rss+xml; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                    ("ETag", etag),
                    ("Cache-Control", "max-age=300"),
                ],
                body,
            )
            not_modified = _response(
                "304 Not Modified", [("ETag", etag), ("Cache-Control", "max-age=300")]
            )
            feed = self._cache[index] = _Feed(ok, not_modified, etag.encode(), revision)
        return feed


class _Connection(asyncio.Protocol):
    """One client connection: split the byte stream into request heads, answer each in order."""

    def __init__(self, server: FeedServer) -> None:
        self._server = server
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.stats.connections += 1

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > _MAX_HEAD:
                    transport.close()
                return
            head = bytes(self._buffer[:end])
            del self._buffer[: end + 4]
            response, close = self._server.respond(head)
            transport.write(response)
            self._server.stats.bytes_sent += len(response)
            if close:
                transport.close()
                self._transport = None
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


# ---------------------------------------------------------------- rendering pages at each request


class NewsServer(FeedServer):
    """`FeedServer`'s feeds, plus /articles/NNNN/II: the article pages the feed items link to
    (no validators, furniture new at every request), in revision `revision`."""

    def __init__(self, feeds: int, items: int) -> None:
        super().__init__(feeds, items)
        self.site = Site.build()
        self.revision = 0
        self.articles_served = 0
        self._articles: dict[tuple[int, int], Article] = {}

    def article(self, feed: int, item: int) -> Article:
        key = (feed, item)
        if key not in self._articles:
            url = f"{self.base_url}/articles/{feed:04d}/{item:02d}"
            self._articles[key] = Article.build(url, feed, item)
        return self._articles[key]

    def respond(self, head: bytes) -> tuple[bytes, bool]:
        request_line = head.partition(b"\r\n")[0].split(b" ")
        if len(request_line) == 3 and request_line[0] == b"GET":
            parts = request_line[1].partition(b"?")[0].split(b"/")
            if len(parts) == 4 and parts[1] == b"articles" and parts[2].isdigit():
                feed, item = int(parts[2]), int(parts[3]) if parts[3].isdigit() else -1
                if 0 <= feed < self.feeds and 0 <= item < self.items:
                    return self._page(feed, item), b"connection: close" in head.lower()
        return super().respond(head)

    def _page(self, feed: int, item: int) -> bytes:
        self.stats.requests += 1
        self.articles_served += 1
        article = self.article(feed, item)
        body = render_article(self.site, article, self.revision, self.stats.requests)
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: private, max-age=0\r\n\r\n"
        )
        return head.encode("latin-1") + body


@contextlib.contextmanager
def serving(feeds: int, items: int) -> Iterator[NewsServer]:
    """The site on 127.0.0.1, on an event loop in a thread of this process."""
    server = NewsServer(feeds, items)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bench-news-site", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=10)
        yield server
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


# ---------------------------------------------------------------- in a child process


@dataclass
class RunningServer:
    """A feed server in a child process, as seen from the benchmark."""

    base_url: str
    feeds: int
    process: subprocess.Popen[bytes]

    def feed_url(self, index: int) -> str:
        return self.base_url + feed_path(index)

    def feed_urls(self) -> list[str]:
        return [self.feed_url(index) for index in range(self.feeds)]

    def stats(self) -> Stats:
        # trust_env=False: no proxy from the environment, the request stays on loopback
        response = httpx.get(self.base_url + "/_stats", trust_env=False, timeout=10)
        response.raise_for_status()
        return Stats(**response.json())

    def served_since(self, before: Stats, benchmark: str, what: str, **expected: int) -> Stats:
        """What the server served since `before`; raises when it is not what `benchmark`
        meant to measure (then its numbers would be wrong)."""
        served = self.stats().minus(before)
        for name, value in expected.items():
            if getattr(served, name) != value:
                raise RuntimeError(
                    f"{benchmark} is broken: {what}: the server counted "
                    f"{name}={getattr(served, name)}, expected {value} ({served})"
                )
        return served


@contextlib.contextmanager
def run_server(
    feeds: int,
    items: int = DEFAULT_ITEMS,
    *,
    pages: str | None = None,
    change_every: int = 0,
    startup_timeout: float = 120.0,
) -> Iterator[RunningServer]:
    """Start `python -m bench.feedserver` in a child process; stop it on exit. `pages` is a
    "module:function" PageMaker, imported in the child."""
    command = [
        sys.executable,
        "-m",
        "bench.feedserver",
        "--feeds",
        str(feeds),
        "--items",
        str(items),
    ]
    if pages is not None:
        command += ["--pages", pages]
    if change_every:
        command += ["--change-every", str(change_every)]
    process = subprocess.Popen(command, cwd=_REPO_ROOT, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        timer = threading.Timer(startup_timeout, process.kill)  # a hung start fails, not hangs
        timer.start()
        try:
            line = process.stdout.readline().decode().strip()
        finally:
            timer.cancel()
        if not line.startswith("http://"):
            raise RuntimeError(f"the feed server did not start (exit code {process.poll()})")
        yield RunningServer(base_url=line, feeds=feeds, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def load_page_maker(spec: str) -> PageMaker:
    """The PageMaker a "module:function" spec names."""
    module, _, name = spec.partition(":")
    maker: PageMaker = getattr(importlib.import_module(module), name)
    return maker


async def _serve(
    feeds: int, items: int, host: str, port: int, pages: str | None, change_every: int
) -> None:
    maker = load_page_maker(pages) if pages else None
    server = FeedServer(feeds, items, pages=maker, change_every=change_every)
    await server.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(server.base_url, flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.feedserver", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--feeds", type=int, default=500, help="how many feeds (default 500)")
    parser.add_argument("--items", type=int, default=DEFAULT_ITEMS, help="items per feed")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (a loopback one)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument(
        "--pages", metavar="MODULE:FUNCTION", help="serve /articles/NNNN/II made by this"
    )
    parser.add_argument(
        "--change-every", type=int, default=0, metavar="N", help="a new feed revision every N GETs"
    )
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.feeds, args.items, args.host, args.port, args.pages, args.change_every))


if __name__ == "__main__":
    main()
