"""A real threaded HTTP/1.1 server on loopback, programmed per path: the demo's newsroom and
the tests' pages and faults are served by it.

    with WebServer() as server:                      # or the tests' `web_server` fixture
        server.route("/feed.xml", b"<rss/>", headers={"Content-Type": "application/rss+xml"})
        server.route("/page", "<p>hi</p>", etag='"v1"')          # answers 304 to If-None-Match
        server.route("/slow", response=slow(5.0))                  # faults are ready-made Responses
        server.route("/echo", handler=lambda request: Response(body=request.path.encode()))
        url = server.url("/feed.xml")
        ...
        assert server.count("/feed.xml") == 1
        method, path, headers = server.requests[0].method, ...     # headers: lower-cased names

Routes can be replaced while the server runs (a test edits a page between two polls). Faults
(`slow`, `trickle`, `reset_mid_body`, `truncated`, `huge_body`, `gzip_bomb`, `redirect`,
`retry_after`) are functions returning a `Response`; large bodies are generated lazily, chunk by
chunk, never held in memory. Closing the server wakes every delayed handler and closes every
connection, so nothing outlives the test. `WebServer(tls=context)` serves HTTPS instead;
`WebServer(record=False)` keeps counts per path but not the requests (a long demo).

It serves 351 feeds/s to 16 httpx keep-alive connections on the 2-core development machine
(197 µs of its CPU a request): plenty for tests and the demo, half what the poll benchmark
needs, whose server (bench/feedserver.py, an asyncio protocol over pre-built responses in its
own process) serves 717 at 83 µs.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

__all__ = [
    "Handler",
    "Request",
    "Response",
    "WebServer",
    "gzip_bomb",
    "huge_body",
    "redirect",
    "reset_mid_body",
    "retry_after",
    "slow",
    "trickle",
    "truncated",
]

MB = 1024 * 1024


@dataclass(frozen=True)
class Request:
    """One request as the server received it."""

    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    client: tuple[str, int]  # the client's (address, port): equal ports mean a reused connection
    received_at: float  # time.monotonic()


@dataclass(frozen=True)
class Response:
    """What to send. Defaults give an empty 200; the fault fields are off unless set."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    # A lazily generated body, called anew for every request; sent chunked unless
    # `content_length` is given. Takes precedence over `body`.
    stream: Callable[[], Iterable[bytes]] | None = None
    # The Content-Length to declare; larger than what is sent gives a truncated body.
    content_length: int | None = None
    delay: float = 0.0  # seconds to wait before sending anything
    chunk_size: int = 64 * 1024  # how `body` is cut into writes
    chunk_delay: float = 0.0  # seconds to wait after each chunk: a trickling server
    reset_after: int | None = None  # send this many body bytes, then reset (TCP RST)
    close: bool = False  # close the connection after this response


Handler = Callable[[Request], Response]


# --- ready-made faults -------------------------------------------------------------------------


def slow(seconds: float, response: Response | None = None) -> Response:
    """Wait `seconds` before answering (make it longer than the client's timeout)."""
    return replace(response or Response(body=b"finally"), delay=seconds)


def trickle(body: bytes = b"x" * 100, *, interval: float = 0.1, chunk_size: int = 1) -> Response:
    """Send `body` `chunk_size` bytes at a time, `interval` seconds apart."""
    return Response(body=body, chunk_size=chunk_size, chunk_delay=interval)


def reset_mid_body(total: int = 100_000, sent: int = 1_000) -> Response:
    """Declare `total` bytes, send `sent` of them, then reset the connection."""
    return Response(body=b"x" * total, reset_after=sent)


def truncated(declared: int = 10_000, sent: int = 1_000) -> Response:
    """Declare `declared` bytes in Content-Length, send `sent`, then close cleanly."""
    return Response(body=b"x" * sent, content_length=declared)


def huge_body(size: int = 100 * MB, *, declare_length: bool = True) -> Response:
    """`size` bytes of zeros generated chunk by chunk; chunked encoding if not `declare_length`."""

    def generate() -> Iterator[bytes]:
        block = bytes(64 * 1024)
        full, rest = divmod(size, len(block))
        for _ in range(full):
            yield block
        if rest:
            yield bytes(rest)

    return Response(
        stream=generate,
        content_length=size if declare_length else None,
        headers={"Content-Type": "application/octet-stream"},
    )


def gzip_bomb(inflated_size: int = 1024 * MB) -> Response:
    """A gzip body inflating to `inflated_size` bytes, compressed on the fly (about 1/1000 of
    that on the wire), sent chunked with Content-Encoding: gzip."""

    def generate() -> Iterator[bytes]:
        compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        block = bytes(MB)
        full, rest = divmod(inflated_size, MB)
        for index in range(full + 1):
            output = compressor.compress(block if index < full else bytes(rest))
            if output:
                yield output
        yield compressor.flush()

    return Response(
        stream=generate, headers={"Content-Type": "text/html", "Content-Encoding": "gzip"}
    )


def redirect(location: str, status: int = 302) -> Response:
    """Redirect to `location` (a path or an absolute URL); two routes pointing at each other
    make a loop."""
    return Response(status=status, headers={"Location": location})


def retry_after(value: str, status: int = 429) -> Response:
    """An error answer carrying `Retry-After: value` (delta-seconds or an HTTP-date)."""
    return Response(status=status, body=b"slow down", headers={"Retry-After": value})


# --- the server --------------------------------------------------------------------------------


class WebServer:
    """A threaded HTTP/1.1 server (keep-alive) on `host` and a free port, programmed per path."""

    def __init__(
        self, host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None, record: bool = True
    ) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, Handler] = {}
        self._record = record
        self._requests: list[Request] = []
        self._counts: Counter[str] = Counter()
        self._in_flight = 0
        self._peak = 0
        self._connections: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._stopping = threading.Event()
        self.errors: list[BaseException] = []  # exceptions raised by handlers (answered 500)
        self._httpd = _HTTPServer((host, 0), self)
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # --- programming ---------------------------------------------------------------------------

    def route(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        content_type: str = "text/html; charset=utf-8",
        etag: str | None = None,
        last_modified: str | None = None,
        response: Response | None = None,
        handler: Handler | None = None,
    ) -> None:
        """Answer requests for `path` (exact; include "?query" to match one query only).

        Give a `handler(request) -> Response`, a ready `response`, or `body`/`status`/`headers`.
        With `etag` and/or `last_modified` the route sends them and answers 304 to a matching
        If-None-Match / If-Modified-Since. Calling again replaces the route.
        """
        if handler is None:
            if response is None:
                payload = body.encode() if isinstance(body, str) else body
                response = Response(
                    status=status,
                    body=payload,
                    headers={"Content-Type": content_type, **(headers or {})},
                )
            handler = _constant(response)
        if etag is not None or last_modified is not None:
            handler = _conditional(handler, etag, last_modified)
        with self._lock:
            self._routes[path] = handler

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.route(path, response=redirect(location, status))

    def unroute(self, path: str) -> None:
        """Forget `path`; requests for it get 404 again."""
        with self._lock:
            self._routes.pop(path, None)

    # --- inspection ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    @property
    def requests(self) -> list[Request]:
        """A snapshot of every request received so far, oldest first (none unless `record`)."""
        with self._lock:
            return list(self._requests)

    def count(self, path: str) -> int:
        """How many requests for `path` (without query) arrived."""
        with self._lock:
            return self._counts[path]

    @property
    def peak_concurrency(self) -> int:
        """Most requests being handled at once, counted from arrival until the response starts
        (so a `slow` route shows how many requests the client had in flight)."""
        with self._lock:
            return self._peak

    # --- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop serving, wake delayed handlers, close every connection and join the threads."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
        with self._lock:
            connections = list(self._connections)
            threads = list(self._threads)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- used by the handler threads -----------------------------------------------------------

    def _open(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)
            self._threads.add(threading.current_thread())

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)
            self._threads.discard(threading.current_thread())

    def _arrive(self, request: Request) -> Handler | None:
        with self._lock:
            if self._record:
                self._requests.append(request)
            self._counts[request.path] += 1
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            target = f"{request.path}?{request.query}" if request.query else request.path
            return self._routes.get(target) or self._routes.get(request.path)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


def _constant(response: Response) -> Handler:
    return lambda request: response


def _conditional(handler: Handler, etag: str | None, last_modified: str | None) -> Handler:
    """Wrap `handler` to send validators and answer 304 when the client's copy is current."""
    validators = {}
    if etag is not None:
        validators["ETag"] = etag
    if last_modified is not None:
        validators["Last-Modified"] = last_modified

    def handle(request: Request) -> Response:
        if _not_modified(request, etag, last_modified):
            return Response(status=304, headers=validators)
        response = handler(request)
        return replace(response, headers={**response.headers, **validators})

    return handle


def _not_modified(request: Request, etag: str | None, last_modified: str | None) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:  # takes precedence over If-Modified-Since (RFC 9110)
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return etag is not None and ("*" in tags or etag.removeprefix("W/") in tags)
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since is None or last_modified is None:
        return False
    try:
        return parsedate_to_datetime(if_modified_since) >= parsedate_to_datetime(last_modified)
    except (TypeError, ValueError):
        return False


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops connections of a busy pass: 1 s SYN retries

    def __init__(self, address: tuple[str, int], owner: WebServer) -> None:
        self.owner = owner
        self.resetting: set[socket.socket] = set()
        super().__init__(address, _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn); nothing here needs it.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = (
            str(self.server_address[0]),
            int(self.server_address[1]),
        )

    def handle_error(self, request: socket.socket, client_address: tuple[str, int]) -> None:  # type: ignore[override]
        """A client that drops its connection (a reset, a broken pipe) is what clients do, not
        a fault of the server: nothing is printed, or the demo's terminal would show a
        traceback whenever monitor closes a kept-alive connection. Anything else is printed as
        before."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        # A graceful shutdown() would send FIN before the RST that `reset_after` asks for.
        if request in self.resetting:
            self.resetting.discard(request)
            request.close()
        else:
            super().shutdown_request(request)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless a response asks to close
    timeout = 30  # an idle keep-alive connection ends eventually even if nobody closes it
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.owner._open(self.connection)

    def finish(self) -> None:
        self.server.owner._closed(self.connection)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: tests read `server.requests` instead

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _serve(self) -> None:
        owner = self.server.owner
        request = self._request()
        handler = owner._arrive(request)
        try:
            response = self._respond(handler, request)
            if response.delay and owner._stopping.wait(response.delay):
                self.close_connection = True  # the server is closing: answer nothing
                return
        finally:
            owner._leave()
        try:
            self._send(response)
        except OSError:  # the client went away (broken pipe, reset, timeout)
            self.close_connection = True

    def _request(self) -> Request:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        host, port = self.client_address[:2]
        return Request(
            method=self.command,
            path=parts.path,
            query=parts.query,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            client=(str(host), int(port)),
            received_at=time.monotonic(),
        )

    def _respond(self, handler: Handler | None, request: Request) -> Response:
        if handler is None:
            return Response(status=404, body=b"no route", headers={"Content-Type": "text/plain"})
        try:
            return handler(request)
        except Exception as exc:
            self.server.owner.errors.append(exc)
            return Response(
                status=500, body=repr(exc).encode(), headers={"Content-Type": "text/plain"}
            )

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        bodiless = response.status in (204, 304) or response.status < 200
        length = response.content_length
        if length is None and response.stream is None:
            length = len(response.body)
        chunked = length is None and not bodiless
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif not bodiless:
            self.send_header("Content-Length", str(length))
        if response.close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD" or bodiless:
            return
        sent = self._send_body(response, chunked)
        if sent is not None and length is not None and sent < length:
            self.close_connection = True  # truncated on purpose: the client must see EOF

    def _send_body(self, response: Response, chunked: bool) -> int | None:
        """Write the body with the response's faults; the bytes sent, or None after a reset."""
        sent = 0
        for chunk in _chunks(response):
            if not chunk:
                continue  # an empty chunk would end a chunked body early
            if response.reset_after is not None and sent + len(chunk) >= response.reset_after:
                self.wfile.write(chunk[: response.reset_after - sent])
                self._reset()
                return None
            self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
            sent += len(chunk)
            if response.chunk_delay and self.server.owner._stopping.wait(response.chunk_delay):
                self.close_connection = True
                return sent
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        return sent

    def _reset(self) -> None:
        """Make the close of this connection an abortive one (RST instead of FIN)."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.server.resetting.add(self.connection)
        self.close_connection = True


def _chunks(response: Response) -> Iterable[bytes]:
    if response.stream is not None:
        return response.stream()
    size = max(1, response.chunk_size)
    return (response.body[start : start + size] for start in range(0, len(response.body), size))
