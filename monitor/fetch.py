"""The one HTTP client of the service: polite, bounded, and never raising for the network's faults.

Every request the service makes goes through `Fetcher.get`, which returns one of three outcomes:

    Fetched      a 2xx answer with its (decompressed, size-capped) body
    NotModified  a 304 answer to a conditional GET (ETag / Last-Modified)
    Failed       anything else, classified into a small closed set of kinds with a message
                 a user understands ("resource not found (HTTP 404)", "timed out after 20s")

Limits that protect the service from the open web live here and nowhere else:

- a global concurrency limit, a per-host limit and a minimum delay between request starts to the
  same host, so one slow or hanging site cannot starve the others;
- a deadline per HTTP request, so a server that trickles one byte a second cannot hold a slot;
- a cap on the *decompressed* body, enforced while streaming, so a 100 MB page or a gzip bomb
  costs at most about `max_bytes` of memory;
- redirects followed by hand, each hop checked again;
- an address guard refusing loopback, private, link-local (cloud metadata), multicast, reserved and
  unspecified addresses, so a feed cannot make the service probe its own network. It runs
  inside the connection pool when a connection is opened: the name is resolved once, every
  address checked, and the connection made to a checked literal address, so a DNS server
  answering differently a second time (DNS rebinding) gains nothing, and a keep-alive
  connection costs no lookup per request. The addresses are tried in the order the resolver
  gives them (IPv4 and IPv6 alike, each with an equal share of the timeout) until one
  answers, so a host whose first record points at a dead machine is still reached; only when
  none answers is the host unreachable.

robots.txt is honoured unless `respect_robots` is off: before each request (each redirect hop
too) the origin's /robots.txt is read once through the same client, guard and limits, and cached
for 24 hours (see `monitor.core.robots` for the parsing and matching rules). A disallowed URL is
`Failed(kind="robots")` and never requested; a Crawl-delay for us (capped at 30 s) lengthens the
per-host delay. A robots.txt that is missing (4xx) allows everything. One that cannot be read
(5xx, 429, timeout, network failure) also allows everything, or keeps the rules last read from
it, and is asked for again after an hour: Google and RFC 9309 would stop crawling the whole site
instead, but a monitor that polls a few URLs per site at a polite pace should not go silent
because a CDN answers 503 for one file; the page's own fetch reports a site that is really down.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import select
import socket
import ssl
import time
import zlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Sequence,
)
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, Self, cast

import anyio
import anyio.abc
import httpcore
import httpx
import sniffio

from monitor.core.dates import as_utc, parse_rfc2822
from monitor.core.robots import ALLOW_ALL, RobotsCache, RobotsRules, parse_robots

__all__ = [
    "Failed",
    "FailureKind",
    "FetchResult",
    "FetchSettings",
    "Fetched",
    "Fetcher",
    "NotModified",
    "Resolver",
    "is_public_address",
    "parse_retry_after",
]

FailureKind = Literal[
    "invalid_url",  # not an absolute http(s) URL, or a redirect to one
    "blocked_address",  # the host resolves to a loopback/private/link-local/... address
    "timeout",  # connect, read or the whole request took longer than `timeout`
    "connection",  # DNS failure, refused, reset, or closed before the whole body arrived
    "http",  # the server answered with an error status (see `status`)
    "too_large",  # the decompressed body exceeds `max_bytes`
    "redirects",  # a redirect loop or more than `max_redirects` hops
    "decoding",  # an unsupported or corrupt Content-Encoding
    "robots",  # the site's robots.txt disallows the URL for our user agent
]

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""Resolves (host, port) to IP address strings; the default asks the system via getaddrinfo."""

_MAX_REMEMBERED_HOSTS = 1024  # beyond this, idle hosts' politeness state is dropped
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RETRY_AFTER_STATUSES = frozenset({429, 503})
# robots.txt: how long a reading is trusted, its size cap (Google reads 500 KiB) and delay cap
_ROBOTS_TTL = 24 * 3600.0  # after a 2xx (parsed) or a 4xx (no rules: allow all)
_ROBOTS_RETRY_TTL = 3600.0  # after a 5xx, 429, timeout or network failure
_ROBOTS_MAX_BYTES = 500 * 1024  # a longer file is cut there, at a line end, and the rest ignored
_MAX_CRAWL_DELAY = 30.0
_HTTP_MESSAGES = {
    400: "bad request",
    401: "authentication required",
    403: "access forbidden",
    404: "resource not found",
    405: "method not allowed",
    410: "resource gone",
    429: "too many requests",
    451: "unavailable for legal reasons",
    500: "server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}


@dataclass(frozen=True)
class FetchSettings:
    """How the fetcher behaves; validated here so a bad value fails at start, not mid-poll."""

    user_agent: str
    timeout: float  # seconds: connect, read, and the deadline of each HTTP request
    concurrency: int  # requests in flight across all hosts
    per_host_concurrency: int  # requests in flight to one host
    per_host_delay: float  # minimum seconds between starting two requests to one host
    max_bytes: int  # cap on the decompressed body
    allow_private_addresses: bool = False  # True only for tests and trusted intranets
    max_redirects: int = 10
    respect_robots: bool = True  # consult each origin's robots.txt before requesting a URL

    def __post_init__(self) -> None:
        if not self.user_agent.strip():
            raise ValueError("user_agent must not be empty")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if self.concurrency < 1 or self.per_host_concurrency < 1:
            raise ValueError("concurrency limits must be at least 1")
        if self.per_host_delay < 0:
            raise ValueError("per_host_delay must not be negative")
        if self.max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")


@dataclass(frozen=True)
class Fetched:
    url: str  # final URL, after redirects
    status: int
    headers: dict[str, str]  # all response headers, names lower-cased
    body: bytes  # decompressed, at most max_bytes
    content_type: str | None  # media type only, lower-cased: "text/html"
    charset: str | None  # from the Content-Type parameter, lower-cased
    etag: str | None
    last_modified: str | None
    elapsed: float  # seconds spent in get(), including waits for politeness


@dataclass(frozen=True)
class NotModified:
    url: str
    elapsed: float
    status: int = 304


@dataclass(frozen=True)
class Failed:
    url: str  # the URL of the request that failed (a redirect target if it failed there)
    kind: FailureKind
    message: str  # one line for humans
    status: int | None = None  # the HTTP status, when there was one
    retry_after: float | None = None  # seconds, from Retry-After on 429/503
    elapsed: float = 0.0


FetchResult = Fetched | NotModified | Failed


class _Abort(Exception):
    """Internal: stops a fetch at any depth; `get` turns it into a `Failed`."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.url: str | None = None  # the URL being requested when it happened; set by _follow

    def failed(self, url: str, elapsed: float) -> Failed:
        return Failed(
            self.url or url, self.kind, self.message, self.status, self.retry_after, elapsed
        )


@dataclass(frozen=True)
class _Reply:
    """One HTTP exchange; `body` is read only for 2xx answers."""

    url: httpx.URL
    status: int
    headers: httpx.Headers
    body: bytes = b""


@dataclass
class _Host:
    """Politeness state of one host: its concurrency slots and when its last request started."""

    slots: asyncio.Semaphore
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_start: float = float("-inf")
    users: int = 0  # requests holding or waiting for this state; 0 means it may be forgotten


@dataclass
class _RobotsTurn:
    """Serialises reading one origin's robots.txt, so concurrent requests read it once."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class Fetcher:
    """Async context manager owning the service's single httpx transport (its connection
    pool).

    One instance per event loop; share it between all tasks so the limits are global. Pass a
    `robots_cache` to share robots.txt readings between fetchers or to give it a test clock.

    Requests go straight to the transport, not through an `httpx.AsyncClient`: what the
    client adds is what the fetcher must not have or does itself (redirects are followed by
    hand so that every hop passes the address guard; no cookie jar, so no site's cookies are
    replayed; no proxy or netrc from the environment, so the guard sees the real
    destination), and skipping it saves about a tenth of the CPU time of a request.
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
        robots_cache: RobotsCache | None = None,
    ) -> None:
        self._settings = settings
        self._resolve: Resolver = resolver or _system_resolve
        self._global = asyncio.Semaphore(settings.concurrency)
        self._hosts: dict[str, _Host] = {}
        self._robots = robots_cache if robots_cache is not None else RobotsCache()
        self._robots_turns: dict[str, _RobotsTurn] = {}
        # How long a host's last start matters: its delay may be lengthened by a Crawl-delay.
        self._longest_delay = max(
            settings.per_host_delay, _MAX_CRAWL_DELAY if settings.respect_robots else 0.0
        )
        self._headers = {
            "User-Agent": settings.user_agent,
            "Accept": "*/*",
            "Accept-Encoding": "gzip, deflate",
        }
        self._timeouts = {"timeout": httpx.Timeout(settings.timeout).as_dict()}
        limits = httpx.Limits(
            max_connections=settings.concurrency,
            max_keepalive_connections=settings.concurrency,
        )
        # The default transport checks each connection's address as it opens it; a custom one
        # (tests) cannot, so its requests are checked beforehand instead.
        self._check_before_requests = transport is not None
        self._transport = transport or _GuardedTransport(limits, self._connect_addresses)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def get(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """GET `url`, conditionally when `etag`/`last_modified` are given; never raises for
        network or HTTP problems, which come back as `Failed`."""
        started = time.monotonic()
        headers = _conditional_headers(etag, last_modified)
        try:
            reply = await self._follow(
                url,
                headers,
                robots=self._settings.respect_robots,
                max_bytes=self._settings.max_bytes,
            )
        except _Abort as abort:
            return abort.failed(url, time.monotonic() - started)
        return _conclude(reply, time.monotonic() - started)

    async def _follow(
        self,
        url: str,
        headers: dict[str, str],
        *,
        robots: bool,
        max_bytes: int,
        truncate: bool = False,
    ) -> _Reply:
        """GET `url`, following redirects, each hop checked by the guard (and robots.txt when
        `robots`); the final non-redirect reply, or an `_Abort` carrying the URL it stopped at."""
        current = url
        try:
            target = _parse_url(url, "invalid URL")
            visited = {target}
            for _ in range(self._settings.max_redirects + 1):
                current = str(target)
                delay = await self._obey_robots(target) if robots else self._settings.per_host_delay
                reply = await self._exchange_once(
                    target, headers, delay=delay, max_bytes=max_bytes, truncate=truncate
                )
                location = _redirect_location(reply)
                if location is None:
                    return reply
                if location in visited:
                    raise _Abort("redirects", f"redirect loop back to {str(location)!r}")
                visited.add(location)
                target = location
            raise _Abort(
                "redirects", f"too many redirects (more than {self._settings.max_redirects})"
            )
        except _Abort as abort:
            abort.url = current
            raise

    async def _obey_robots(self, url: httpx.URL) -> float:
        """Abort unless robots.txt lets us fetch `url`; the delay to keep before requesting it."""
        origin = _origin(url)
        rules = await self._robots_for(origin)
        if not rules.allows(url.raw_path.decode("ascii", errors="replace")):
            raise _Abort("robots", f"disallowed by robots.txt ({origin}/robots.txt)")
        if rules.crawl_delay is None:
            return self._settings.per_host_delay
        return max(self._settings.per_host_delay, min(rules.crawl_delay, _MAX_CRAWL_DELAY))

    async def _robots_for(self, origin: str) -> RobotsRules:
        """The cached rules of `origin`, reading its robots.txt first when they are missing or
        expired; concurrent callers for one origin wait for a single reading."""
        rules = self._robots.get(origin)
        if rules is not None:
            return rules
        turn = self._robots_turns.setdefault(origin, _RobotsTurn())
        turn.users += 1
        try:
            async with turn.lock:
                rules = self._robots.get(origin)
                if rules is None:
                    rules = await self._read_robots(origin)
                return rules
        finally:
            turn.users -= 1
            if not turn.users:
                del self._robots_turns[origin]

    async def _read_robots(self, origin: str) -> RobotsRules:
        """Fetch, parse and cache `origin`'s robots.txt, applying the policy of the module
        docstring to missing and unreadable files."""
        try:
            reply: _Reply | None = await self._follow(
                f"{origin}/robots.txt",
                {},
                robots=False,
                max_bytes=_ROBOTS_MAX_BYTES,
                truncate=True,
            )
        except _Abort:
            reply = None  # blocked, timed out, unreachable, redirect loop, corrupt encoding...
        if reply is not None and 200 <= reply.status < 300:
            body = reply.body
            if len(body) >= _ROBOTS_MAX_BYTES:  # cut: drop the last, possibly partial, line
                body = body[: body.rfind(b"\n") + 1]
            rules = parse_robots(body, self._settings.user_agent)
            self._robots.put(origin, rules, _ROBOTS_TTL, from_file=True)
        elif reply is not None and 400 <= reply.status < 500 and reply.status != 429:
            rules = ALLOW_ALL
            self._robots.put(origin, rules, _ROBOTS_TTL, from_file=False)
        else:
            previous = self._robots.last_read(origin)
            rules = previous if previous is not None else ALLOW_ALL
            self._robots.put(origin, rules, _ROBOTS_RETRY_TTL, from_file=previous is not None)
        return rules

    async def _exchange_once(
        self,
        url: httpx.URL,
        headers: dict[str, str],
        *,
        delay: float,
        max_bytes: int,
        truncate: bool,
    ) -> _Reply:
        """One hop: wait for a polite slot, then talk under a deadline."""
        if self._check_before_requests:
            await self._guard(url)
        async with self._slot(url.host, delay):
            try:
                async with asyncio.timeout(self._settings.timeout):
                    return await self._exchange(url, headers, max_bytes, truncate)
            except (TimeoutError, httpx.TimeoutException):
                raise _Abort("timeout", f"timed out after {self._settings.timeout:g}s") from None
            except httpx.TransportError as exc:
                raise _transport_failure(exc, url) from None

    async def _exchange(
        self, url: httpx.URL, headers: dict[str, str], max_bytes: int, truncate: bool
    ) -> _Reply:
        """Send the request; read the body only for a 2xx answer (errors are not worth reading).

        An answer that has no body (a 304, or a declared length of 0) is read to its end all
        the same, which takes no waiting: unread, it would leave its connection mid-response,
        and the pool would close it and open a new one for the next request."""
        request = httpx.Request(
            "GET", url, headers=self._headers | headers, extensions=self._timeouts
        )
        # httpcore and anyio ask sniffio which event loop runs them, for each lock, event
        # and cancel scope; told, sniffio answers without searching for the running task.
        told = sniffio.current_async_library_cvar.set("asyncio")
        try:
            response = await self._transport.handle_async_request(request)
            try:
                body = b""
                if 200 <= response.status_code < 300:
                    body = await _read_body(response, max_bytes, truncate=truncate)
                elif response.status_code == 304 or response.headers.get("content-length") == "0":
                    with contextlib.suppress(httpx.HTTPError):  # the status is the answer
                        async for _ in response.aiter_raw():
                            pass
                return _Reply(url, response.status_code, response.headers, body)
            finally:
                await response.aclose()
        finally:
            sniffio.current_async_library_cvar.reset(told)

    @asynccontextmanager
    async def _slot(self, host: str, delay: float) -> AsyncIterator[None]:
        """Hold a per-host slot and a global slot, starting no sooner than `delay` (the
        per-host delay, or a longer Crawl-delay) after the host's previous start.

        The host slot is taken first and the global one last, so requests queued behind a slow
        host wait on that host's semaphore without occupying global slots other hosts need.
        """
        state = self._host(host)
        state.users += 1
        try:
            async with state.slots:
                async with state.turn:
                    wait = state.last_start + delay - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    await self._global.acquire()
                    state.last_start = time.monotonic()
                try:
                    yield
                finally:
                    self._global.release()
        finally:
            state.users -= 1

    def _host(self, host: str) -> _Host:
        """The politeness state of `host`; idle hosts are forgotten once the table grows large,
        so a service that meets thousands of hosts over weeks does not keep them all."""
        state = self._hosts.get(host)
        if state is None:
            if len(self._hosts) >= _MAX_REMEMBERED_HOSTS:
                horizon = time.monotonic() - self._longest_delay
                self._hosts = {
                    name: kept
                    for name, kept in self._hosts.items()
                    if kept.users or kept.last_start > horizon
                }
            state = self._hosts[host] = _Host(
                asyncio.Semaphore(self._settings.per_host_concurrency)
            )
        return state

    async def _guard(self, url: httpx.URL) -> None:
        """Refuse hosts that resolve to any non-public address, unless configured otherwise,
        before the request: for custom transports, which do not call `_connect_addresses`."""
        if self._settings.allow_private_addresses:
            return
        port = url.port or (443 if url.scheme == "https" else 80)
        await self._public_addresses(url.raw_host.decode("ascii"), port)

    async def _connect_addresses(self, host: str, port: int) -> Sequence[str]:
        """The addresses a new connection to `host` may go to, in the order to try them:
        resolved here, each checked, and connected to as literals, so nothing resolves the
        name again after the check."""
        if _is_ip_literal(host):
            if not self._settings.allow_private_addresses:
                await self._public_addresses(host, port)
            return [host.strip("[]")]
        if self._settings.allow_private_addresses:
            return await self._addresses(host, port)
        return await self._public_addresses(host, port)

    async def _addresses(self, host: str, port: int) -> Sequence[str]:
        """`host` resolved (each address once, in the resolver's order), or an `_Abort`."""
        try:
            async with asyncio.timeout(self._settings.timeout):
                addresses = list(dict.fromkeys(await self._resolve(host, port)))
        except TimeoutError:
            raise _Abort("timeout", f"timed out resolving {host!r}") from None
        except OSError:
            raise _Abort("connection", f"could not resolve host {host!r}") from None
        if not addresses:
            raise _Abort("connection", f"could not resolve host {host!r}")
        return addresses

    async def _public_addresses(self, host: str, port: int) -> Sequence[str]:
        """`host` resolved, refused unless every address it resolves to is public."""
        addresses = await self._addresses(host, port)
        for address in addresses:
            if not is_public_address(address):
                raise _Abort(
                    "blocked_address",
                    f"refusing to fetch {host!r}: it resolves to non-public address {address}",
                )
        return addresses


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


Choose = Callable[[str, int], Awaitable[Sequence[str]]]


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting to the addresses `choose(host, port)` returns
    (which may refuse by raising) instead of resolving the name itself: each in turn, with
    an equal share of the connect timeout, until one answers."""

    def __init__(self, choose: Choose) -> None:
        self._choose = choose
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._choose(host, port)
        share = timeout / len(addresses) if timeout is not None else None
        options = list(socket_options) if socket_options is not None else None
        failures: list[tuple[str, httpcore.ConnectError | httpcore.ConnectTimeout]] = []
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=share,
                    local_address=local_address,
                    socket_options=options,
                )
                return _Stream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failures.append((address, exc))
        if len(failures) == 1:
            raise failures[0][1]
        reasons = "; ".join(f"{address}: {_one_line(exc)}" for address, exc in failures)
        message = f"none of its {len(failures)} addresses answered ({reasons})"
        if all(isinstance(exc, httpcore.ConnectTimeout) for _, exc in failures):
            raise httpcore.ConnectTimeout(message)
        raise httpcore.ConnectError(message)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise _Abort("connection", "unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _Stream(httpcore.AsyncNetworkStream):
    """httpcore's stream with its socket looked up once, read and written without a
    deadline of each read's and write's own.

    When the pool asks an idle connection whether its socket is readable (the server
    closed it), anyio answers by building a table of all the socket's attributes, a
    getpeername system call among them, to hand back the socket. The answer is the same
    (the same readability check, on the same socket), without the table.

    httpcore puts each read and write under an anyio cancel scope for its read or write
    timeout, a good part of the CPU time of a read. The fetcher puts the whole exchange
    under a deadline as long as that timeout (`Fetcher._exchange_once`), so a read or write
    that would time out is stopped by it all the same, with the same message: the reads and
    writes go to the anyio stream directly, their errors mapped as httpcore maps them.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket = inner.get_extra_info("socket")
        # httpcore's AnyIOStream keeps its anyio stream there; should that change, the
        # reads and writes go through httpcore as before.
        stream = getattr(inner, "_stream", None)
        self._direct: anyio.abc.ByteStream | None = (
            stream if isinstance(stream, anyio.abc.ByteStream) else None
        )

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._direct is None:
            return await self._inner.read(max_bytes, timeout)
        try:
            return await self._direct.receive(max_bytes)
        except anyio.EndOfStream:
            return b""
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise httpcore.ReadError(exc) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self._direct is None:
            await self._inner.write(buffer, timeout)
            return
        if not buffer:
            return
        try:
            await self._direct.send(buffer)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise httpcore.WriteError(exc) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return _readable(self._socket)
        return self._inner.get_extra_info(info)


class _Pool(httpcore.AsyncConnectionPool):
    """httpcore's connection pool, assigning requests to connections as it does, with two
    costs left out:

    - counting the pool's connections by asking each whether it is idle, for each idle
      connection, at every request it assigns and every response it closes (n * n calls);
    - asking every idle connection whether it has expired (its keep-alive time is over, or
      the server closed it: a readable socket, one system call each) at every request
      assigned and every response closed, which came to dozens of system calls per request
      with 16 connections. An idle connection is asked only when it is about to be handed
      out, when it is the one reused; one found expired then is closed and the next tried,
      so an expired connection is never used, as before. One not chosen stays in the pool
      until it is chosen, or until the pool, full, closes an idle connection to make room
      (httpcore closed it at its next assignment).

    The method overridden is httpcore's (1.0); tests/test_fetch.py exercises the pool
    (keep-alive reuse, a connection the server closed, connections per host, timeouts)."""

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing: list[httpcore.AsyncConnectionInterface] = []
        connections = self._connections
        # Closed and surplus idle connections leave the pool (httpcore counts all
        # connections there, idle or not: `len(connections)` is that count).
        for connection in list(connections):
            if connection.is_closed():
                connections.remove(connection)
            elif connection.is_idle() and len(connections) > self._max_keepalive_connections:
                connections.remove(connection)
                closing.append(connection)
        for pool_request in [request for request in self._requests if request.is_queued()]:
            origin = pool_request.request.url.origin
            available = _first_unexpired(connections, origin, closing)
            if available is not None:
                pool_request.assign_to_connection(available)
                continue
            if len(connections) >= self._max_connections:
                idle = next((c for c in connections if c.is_idle()), None)
                if idle is None:
                    continue  # it waits for a connection to be released
                connections.remove(idle)
                closing.append(idle)
            connection = self.create_connection(origin)
            connections.append(connection)
            pool_request.assign_to_connection(connection)
        return closing


def _first_unexpired(
    connections: list[httpcore.AsyncConnectionInterface],
    origin: httpcore.Origin,
    closing: list[httpcore.AsyncConnectionInterface],
) -> httpcore.AsyncConnectionInterface | None:
    """The first connection that can take a request to `origin` now and has not expired;
    the expired ones met on the way leave `connections` for `closing`."""
    for connection in list(connections):
        if not (connection.can_handle_request(origin) and connection.is_available()):
            continue
        if connection.has_expired():
            connections.remove(connection)
            closing.append(connection)
            continue
        return connection
    return None


def _readable(sock: socket.socket) -> bool:
    """Whether a read would not wait: data or the end of the stream, as httpcore checks it
    (a socket without a file descriptor any more counts as readable: its read returns b"")."""
    fd = sock.fileno()
    if fd < 0:
        return True
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose connections pass the address guard.

    httpx offers no public way to give its transport a network backend, so the pool it
    builds is replaced by an equal one (same TLS context, limits, HTTP/1.1) that has ours;
    tests/test_fetch.py checks that connections go to the checked address (HTTPS too), so a
    change of httpx that broke this would not go unnoticed."""

    def __init__(self, limits: httpx.Limits, choose: Choose) -> None:
        context = httpx.create_ssl_context(trust_env=False)  # loading CA certificates: once
        super().__init__(verify=context, limits=limits, trust_env=False)
        self._pool = _Pool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=_GuardedBackend(choose),
        )


def is_public_address(address: str) -> bool:
    """True when `address` (an IPv4 or IPv6 literal) is a public unicast address.

    Loopback, private, shared (CGNAT), link-local (169.254.169.254 cloud metadata), multicast,
    reserved and unspecified addresses are not public; neither is anything that is not an IP.
    An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is judged by its IPv4 address, and 6to4 addresses
    must be public both as IPv6 and in the IPv4 address they embed.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _is_public_ip(ip.ipv4_mapped)
        if ip.sixtofour is not None and not _is_public_ip(ip.sixtofour):
            return False
    return _is_public_ip(ip)


def _is_public_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # `is_global` alone lets multicast through (224.0.0.1 is "global"), hence the explicit list.
    return ip.is_global and not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def parse_retry_after(value: str, now: datetime) -> float | None:
    """Seconds to wait according to a Retry-After value: delta-seconds or an HTTP-date.

    A date in the past gives 0; anything unparseable gives None. A naive `now` is taken as UTC.
    """
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    when = parse_rfc2822(value)  # an HTTP-date is RFC 2822's form
    if when is None:
        return None
    return max(0.0, (when - as_utc(now)).total_seconds())


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]


def _parse_url(url: str, problem: str) -> httpx.URL:
    """An absolute http(s) URL without its fragment, or an `invalid_url` abort."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise _Abort("invalid_url", f"{problem} {url!r}: {_one_line(exc)}") from None
    if parsed.scheme not in ("http", "https"):
        raise _Abort("invalid_url", f"{problem} {url!r}: only http and https URLs can be fetched")
    if not parsed.host:
        raise _Abort("invalid_url", f"{problem} {url!r}: no host")
    return parsed.copy_with(fragment=None) if parsed.fragment else parsed


def _origin(url: httpx.URL) -> str:
    """ "https://example.org" or "http://example.org:8080": what robots.txt applies to."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


def _conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _redirect_location(reply: _Reply) -> httpx.URL | None:
    """The absolute URL a redirect points to, or None when `reply` is not a usable redirect."""
    location = reply.headers.get("location")
    if reply.status not in _REDIRECT_STATUSES or not location:
        return None
    try:
        joined = reply.url.join(location)
    except httpx.InvalidURL:
        raise _Abort("invalid_url", f"redirect to an invalid URL {location!r}") from None
    return _parse_url(str(joined), "redirect to")


def _conclude(reply: _Reply, elapsed: float) -> FetchResult:
    """Turn the final (non-redirect) reply into the caller's outcome."""
    url = str(reply.url)
    if 200 <= reply.status < 300:
        content_type, charset = _split_content_type(reply.headers.get("content-type"))
        return Fetched(
            url=url,
            status=reply.status,
            headers={name.lower(): value for name, value in reply.headers.items()},
            body=reply.body,
            content_type=content_type,
            charset=charset,
            etag=reply.headers.get("etag"),
            last_modified=reply.headers.get("last-modified"),
            elapsed=elapsed,
        )
    if reply.status == 304:
        return NotModified(url=url, elapsed=elapsed)
    retry_after = None
    header = reply.headers.get("retry-after")
    if header and reply.status in _RETRY_AFTER_STATUSES:
        retry_after = parse_retry_after(header, datetime.now(UTC))
    return Failed(url, "http", _http_message(reply), reply.status, retry_after, elapsed)


def _http_message(reply: _Reply) -> str:
    status = reply.status
    if status in _REDIRECT_STATUSES:
        text = "redirect without a Location header"
    elif status in _HTTP_MESSAGES:
        text = _HTTP_MESSAGES[status]
    elif 400 <= status < 500:
        text = "request refused"
    elif status >= 500:
        text = "server error"
    else:
        try:
            text = f"unexpected response: {HTTPStatus(status).phrase.lower()}"
        except ValueError:
            text = "unexpected response"
    return f"{text} (HTTP {status})"


def _split_content_type(value: str | None) -> tuple[str | None, str | None]:
    """("text/html", "utf-8") from "text/html; charset=UTF-8"."""
    if not value:
        return None, None
    media_type, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, param_value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = param_value.strip().strip("\"'").lower() or None
    return media_type.strip().lower() or None, charset


async def _read_body(response: httpx.Response, max_bytes: int, *, truncate: bool = False) -> bytes:
    """Stream and decompress the body, aborting as soon as it would exceed `max_bytes` (or, with
    `truncate`, returning what arrived so far, cut to `max_bytes`).

    The raw (compressed) bytes are counted too, so bytes the decoder ignores (trailing garbage
    after a gzip member) cannot pile up either.
    """
    too_large = _Abort(
        "too_large", f"body larger than {max_bytes} bytes", status=response.status_code
    )
    decoder = _Decoder(response.headers.get("content-encoding", ""))
    if decoder.is_identity and _declared_length(response) > max_bytes and not truncate:
        raise too_large
    body = bytearray()
    received = 0
    try:
        # Closed explicitly so an early abort does not leave the generator to the GC.
        chunks = cast(AsyncGenerator[bytes, None], response.aiter_raw())
        async with aclosing(chunks):
            async for chunk in chunks:
                received += len(chunk)
                body += decoder.decode(chunk, limit=max_bytes - len(body) + 1)
                if received > max_bytes or len(body) > max_bytes:
                    if truncate:
                        return bytes(body[:max_bytes])
                    raise too_large
    except httpx.RemoteProtocolError:
        raise _Abort("connection", "connection closed before the whole body arrived") from None
    except httpx.ReadError:
        raise _Abort("connection", "connection reset while reading the body") from None
    body += decoder.flush()
    if len(body) > max_bytes:
        if truncate:
            return bytes(body[:max_bytes])
        raise too_large
    return bytes(body)


def _declared_length(response: httpx.Response) -> int:
    try:
        return int(response.headers.get("content-length", "0"))
    except ValueError:
        return 0


class _Decoder:
    """Undoes one Content-Encoding incrementally, never producing more than `limit` bytes per
    call, so a compression bomb is stopped at the cap instead of being inflated in memory."""

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding.strip().lower()
        self._started = False
        self._zlib: zlib._Decompress | None
        if self._encoding in ("", "identity"):
            self._zlib = None
        elif self._encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif self._encoding == "deflate":
            self._zlib = zlib.decompressobj()
        else:
            raise _Abort("decoding", f"unsupported content encoding {encoding!r}")

    @property
    def is_identity(self) -> bool:
        return self._zlib is None

    def decode(self, chunk: bytes, *, limit: int) -> bytes:
        """Decompress `chunk`; output stops at `limit` bytes (the caller then aborts)."""
        if self._zlib is None:
            return chunk
        if self._zlib.eof:
            return b""
        try:
            output = self._zlib.decompress(chunk, limit)
        except zlib.error:
            if self._encoding == "deflate" and not self._started:
                # Some servers send raw deflate without the zlib header the RFC asks for.
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.decode(chunk, limit=limit)
            raise _Abort("decoding", f"could not decompress the {self._encoding} body") from None
        self._started = True
        return output

    def flush(self) -> bytes:
        if self._zlib is None or self._zlib.eof:
            return b""
        try:
            return self._zlib.flush()
        except zlib.error:
            raise _Abort("decoding", f"could not decompress the {self._encoding} body") from None


def _transport_failure(exc: httpx.TransportError, url: httpx.URL) -> _Abort:
    """Classify an httpx transport error that happened before the body was being read."""
    if isinstance(exc, httpx.ConnectError):
        return _Abort("connection", f"could not connect to {url.host!r}: {_one_line(exc)}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return _Abort("connection", "server closed the connection or answered invalid HTTP")
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return _Abort("connection", "connection reset by the server")
    return _Abort("connection", f"connection failed: {_one_line(exc)}")


def _one_line(exc: BaseException) -> str:
    """An exception as a short single line, without "[Errno 111]" noise."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text)
    return text[:200]
