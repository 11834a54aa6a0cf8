"""The fetcher against a real local HTTP server: outcomes, limits, politeness and the guard."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import resource
import socket
import ssl
import tracemalloc
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest

from monitor.demo.webserver import (
    MB,
    Response,
    WebServer,
    gzip_bomb,
    huge_body,
    reset_mid_body,
    retry_after,
    slow,
    trickle,
    truncated,
)
from monitor.fetch import (
    Failed,
    Fetched,
    Fetcher,
    FetchResult,
    FetchSettings,
    NotModified,
    is_public_address,
    parse_retry_after,
)
from tests.support.certificates import self_signed

pytestmark = pytest.mark.integration

SETTINGS = FetchSettings(
    user_agent="monitor-test/1.0 (+https://example.org/bot)",
    timeout=2.0,
    concurrency=8,
    per_host_concurrency=4,
    per_host_delay=0.0,
    max_bytes=1_000_000,
    allow_private_addresses=True,  # the test server lives on loopback
    respect_robots=False,  # these tests count requests; robots.txt has tests/test_robots.py
)
PAGE = b"<html><head><title>Hello</title></head><body><p>World</p></body></html>"


def fetch(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    **overrides: object,
) -> FetchResult:
    """One GET with a fresh fetcher whose settings are SETTINGS plus `overrides`."""

    async def run() -> FetchResult:
        async with Fetcher(replace(SETTINGS, **overrides)) as fetcher:  # type: ignore[arg-type]
            return await fetcher.get(url, etag=etag, last_modified=last_modified)

    return asyncio.run(run())


def failed(result: FetchResult) -> Failed:
    assert isinstance(result, Failed), result
    return result


def fetched(result: FetchResult) -> Fetched:
    assert isinstance(result, Fetched), result
    return result


# --- success -----------------------------------------------------------------------------------


def test_fetches_a_page(web_server: WebServer) -> None:
    web_server.route("/page", PAGE, headers={"Content-Type": "text/html; charset=ISO-8859-1"})
    result = fetched(fetch(web_server.url("/page")))
    assert result.url == web_server.url("/page")
    assert (result.status, result.body) == (200, PAGE)
    assert (result.content_type, result.charset) == ("text/html", "iso-8859-1")
    assert result.headers["content-type"] == "text/html; charset=ISO-8859-1"
    assert result.elapsed >= 0


def test_sends_user_agent_and_accepted_encodings(web_server: WebServer) -> None:
    web_server.route("/page", PAGE)
    fetched(fetch(web_server.url("/page")))
    (request,) = web_server.requests
    assert (request.method, request.path) == ("GET", "/page")
    assert request.headers["user-agent"] == SETTINGS.user_agent
    assert request.headers["accept-encoding"] == "gzip, deflate"
    assert "if-none-match" not in request.headers


def test_no_cookie_a_site_sets_is_sent_back(web_server: WebServer) -> None:
    web_server.route("/a", PAGE, headers={"Set-Cookie": "session=abc; Path=/"})
    web_server.route("/b", PAGE)

    async def run() -> None:
        async with Fetcher(SETTINGS) as fetcher:
            fetched(await fetcher.get(web_server.url("/a")))
            fetched(await fetcher.get(web_server.url("/b")))

    asyncio.run(run())
    assert [request.headers.get("cookie") for request in web_server.requests] == [None, None]
    assert {request.headers["host"] for request in web_server.requests} == {
        web_server.base_url.removeprefix("http://")
    }


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),  # headerless
    ],
    ids=["gzip", "deflate", "raw-deflate"],
)
def test_decompresses_the_body(web_server: WebServer, encoding: str, compress: object) -> None:
    assert callable(compress)
    web_server.route("/page", compress(PAGE), headers={"Content-Encoding": encoding})
    assert fetched(fetch(web_server.url("/page"))).body == PAGE


def test_corrupt_gzip_is_a_decoding_failure(web_server: WebServer) -> None:
    web_server.route("/page", b"this is not gzip", headers={"Content-Encoding": "gzip"})
    result = failed(fetch(web_server.url("/page")))
    assert result.kind == "decoding"


def test_reuses_the_connection_for_the_same_host(web_server: WebServer) -> None:
    web_server.route("/a", PAGE)
    web_server.route("/b", PAGE)

    async def run() -> None:
        async with Fetcher(SETTINGS) as fetcher:
            fetched(await fetcher.get(web_server.url("/a")))
            fetched(await fetcher.get(web_server.url("/b")))

    asyncio.run(run())
    first, second = web_server.requests
    assert first.client == second.client  # same client port: one keep-alive connection


def test_the_connection_is_reused_after_a_not_modified(web_server: WebServer) -> None:
    web_server.route("/feed", PAGE, etag='"v1"')

    async def run() -> None:
        async with Fetcher(SETTINGS) as fetcher:
            for _ in range(3):
                result = await fetcher.get(web_server.url("/feed"), etag='"v1"')
                assert isinstance(result, NotModified)

    asyncio.run(run())
    assert len({request.client for request in web_server.requests}) == 1  # one connection


# --- conditional GET ---------------------------------------------------------------------------


def test_etag_gives_not_modified_until_the_page_changes(web_server: WebServer) -> None:
    web_server.route("/page", PAGE, etag='"v1"')
    first = fetched(fetch(web_server.url("/page")))
    assert first.etag == '"v1"'

    second = fetch(web_server.url("/page"), etag=first.etag)
    assert isinstance(second, NotModified)
    assert (second.status, second.url) == (304, web_server.url("/page"))
    assert web_server.requests[-1].headers["if-none-match"] == '"v1"'

    web_server.route("/page", b"<p>edited</p>", etag='"v2"')  # edited between two polls
    third = fetched(fetch(web_server.url("/page"), etag=first.etag))
    assert (third.body, third.etag) == (b"<p>edited</p>", '"v2"')


def test_last_modified_gives_not_modified(web_server: WebServer) -> None:
    stamp = "Wed, 18 Nov 2026 10:00:00 GMT"
    web_server.route("/page", PAGE, last_modified=stamp)
    first = fetched(fetch(web_server.url("/page")))
    assert first.last_modified == stamp

    second = fetch(web_server.url("/page"), last_modified=first.last_modified)
    assert isinstance(second, NotModified)
    assert web_server.requests[-1].headers["if-modified-since"] == stamp


# --- HTTP errors and Retry-After ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (404, "resource not found (HTTP 404)"),
        (410, "resource gone (HTTP 410)"),
        (418, "request refused (HTTP 418)"),
        (500, "server error (HTTP 500)"),
        (503, "service unavailable (HTTP 503)"),
    ],
)
def test_http_errors_are_failures_with_a_message(
    web_server: WebServer, status: int, message: str
) -> None:
    web_server.route("/page", b"oops", status=status)
    result = failed(fetch(web_server.url("/page")))
    assert (result.kind, result.status, result.message) == ("http", status, message)
    assert result.retry_after is None


def test_redirect_without_location_is_an_http_failure(web_server: WebServer) -> None:
    web_server.route("/page", status=302)
    result = failed(fetch(web_server.url("/page")))
    assert (result.kind, result.status) == ("http", 302)
    assert "Location" in result.message


def test_429_with_retry_after_seconds(web_server: WebServer) -> None:
    web_server.route("/page", response=retry_after("120"))
    result = failed(fetch(web_server.url("/page")))
    assert (result.kind, result.status, result.retry_after) == ("http", 429, 120.0)
    assert result.message == "too many requests (HTTP 429)"


def test_503_with_retry_after_http_date(web_server: WebServer) -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    web_server.route("/page", response=retry_after(format_datetime(when, usegmt=True), 503))
    result = failed(fetch(web_server.url("/page")))
    assert result.status == 503
    assert result.retry_after is not None
    assert 80 <= result.retry_after <= 90


NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Fri, 20 Nov 2026 12:01:30 GMT", 90.0),
        ("Fri, 20 Nov 2026 11:00:00 GMT", 0.0),  # in the past: no wait
        ("Friday, 20-Nov-26 12:00:10 GMT", 10.0),  # obsolete RFC 850 form
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
    ],
)
def test_parse_retry_after(value: str, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_parse_retry_after_takes_a_naive_now_as_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert parse_retry_after("Fri, 20 Nov 2026 12:00:30 GMT", naive) == 30.0


def test_a_keep_alive_connection_the_server_closed_is_not_reused() -> None:
    """A server that answers with keep-alive and then closes the idle connection: the next
    request goes out on a new connection and succeeds, not on the closed one."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
    clients: list[int] = []

    async def serve_one_each() -> None:
        loop = asyncio.get_running_loop()
        listener.setblocking(False)
        for _ in range(2):
            connection, (_, client_port) = await loop.sock_accept(listener)
            clients.append(client_port)
            while b"\r\n\r\n" not in await loop.sock_recv(connection, 4096):
                pass
            await loop.sock_sendall(connection, answer)
            connection.close()  # as a server whose keep-alive timeout is shorter than ours

    async def run() -> list[FetchResult]:
        server = asyncio.create_task(serve_one_each())
        results = []
        async with Fetcher(SETTINGS) as fetcher:
            for _ in range(2):
                results.append(await fetcher.get(f"http://127.0.0.1:{port}/page"))
                await asyncio.sleep(0.05)  # the server's close reaches the idle connection
        server.cancel()  # done, or waiting for a connection that never came
        with contextlib.suppress(asyncio.CancelledError):
            await server
        return results

    with listener:
        results = asyncio.run(run())
    assert [fetched(result).body for result in results] == [b"hello", b"hello"]
    assert len(set(clients)) == 2  # a second connection


# --- timeouts and broken connections -----------------------------------------------------------


def test_slow_response_times_out(web_server: WebServer) -> None:
    web_server.route("/slow", response=slow(30))
    result = failed(fetch(web_server.url("/slow"), timeout=0.5))
    assert (result.kind, result.message) == ("timeout", "timed out after 0.5s")
    assert result.elapsed < 5 * 0.5


def test_trickling_body_hits_the_total_deadline(web_server: WebServer) -> None:
    # Each byte arrives well within the read timeout; only the per-request deadline stops it.
    web_server.route("/trickle", response=trickle(b"x" * 100, interval=0.1))
    result = failed(fetch(web_server.url("/trickle"), timeout=1.0))
    assert result.kind == "timeout"
    assert result.elapsed < 5 * 1.0


def test_connection_reset_mid_body(web_server: WebServer) -> None:
    web_server.route("/reset", response=reset_mid_body(total=200_000, sent=1_000))
    result = failed(fetch(web_server.url("/reset")))
    assert result.kind == "connection"


def test_truncated_body(web_server: WebServer) -> None:
    web_server.route("/short", response=truncated(declared=10_000, sent=1_000))
    result = failed(fetch(web_server.url("/short")))
    assert result.kind == "connection"
    assert result.message == "connection closed before the whole body arrived"


def test_connection_refused() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = failed(fetch(f"http://127.0.0.1:{port}/"))
    assert result.kind == "connection"
    assert result.message.startswith("could not connect to '127.0.0.1'")


# --- size limits -------------------------------------------------------------------------------


def fetch_measuring_memory(url: str, max_bytes: int) -> tuple[FetchResult, int, int]:
    """The result, the tracemalloc peak and the growth of max RSS, both in bytes."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        result = fetch(url, max_bytes=max_bytes)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    return result, peak, rss_growth


def test_body_over_the_declared_limit_is_refused_before_reading(web_server: WebServer) -> None:
    web_server.route("/huge", response=huge_body(100 * MB))
    result = failed(fetch(web_server.url("/huge"), max_bytes=5 * MB))
    assert (result.kind, result.message) == ("too_large", f"body larger than {5 * MB} bytes")


def test_huge_streamed_body_stops_at_the_limit(web_server: WebServer) -> None:
    web_server.route("/huge", response=huge_body(100 * MB, declare_length=False))
    result, peak, rss_growth = fetch_measuring_memory(web_server.url("/huge"), 2 * MB)
    assert failed(result).kind == "too_large"
    assert peak < 20 * MB
    assert rss_growth < 100 * MB


def test_gzip_bomb_stops_at_the_limit(web_server: WebServer) -> None:
    web_server.route("/bomb", response=gzip_bomb(1024 * MB))
    result, peak, rss_growth = fetch_measuring_memory(web_server.url("/bomb"), 2 * MB)
    assert failed(result).kind == "too_large"
    assert peak < 20 * MB
    assert rss_growth < 100 * MB


def test_body_exactly_at_the_limit_is_accepted(web_server: WebServer) -> None:
    web_server.route("/page", gzip.compress(b"a" * 1000), headers={"Content-Encoding": "gzip"})
    assert len(fetched(fetch(web_server.url("/page"), max_bytes=1000)).body) == 1000
    assert failed(fetch(web_server.url("/page"), max_bytes=999)).kind == "too_large"


# --- redirects ---------------------------------------------------------------------------------


def test_redirects_are_followed_and_the_final_url_reported(web_server: WebServer) -> None:
    web_server.redirect("/old", "/middle", status=301)
    web_server.redirect("/middle", web_server.url("/new"), status=308)
    web_server.route("/new", PAGE)
    result = fetched(fetch(web_server.url("/old")))
    assert (result.url, result.body) == (web_server.url("/new"), PAGE)
    assert [request.path for request in web_server.requests] == ["/old", "/middle", "/new"]


def test_redirect_loop(web_server: WebServer) -> None:
    web_server.redirect("/a", "/b")
    web_server.redirect("/b", "/a")
    result = failed(fetch(web_server.url("/a")))
    assert result.kind == "redirects"
    assert "loop" in result.message
    assert web_server.count("/a") == 1


def test_too_many_redirects(web_server: WebServer) -> None:
    for hop in range(5):
        web_server.redirect(f"/r{hop}", f"/r{hop + 1}")
    web_server.route("/r5", PAGE)
    result = failed(fetch(web_server.url("/r0"), max_redirects=3))
    assert (result.kind, result.message) == ("redirects", "too many redirects (more than 3)")
    assert fetched(fetch(web_server.url("/r0"), max_redirects=5)).url == web_server.url("/r5")


def test_redirect_to_another_scheme_is_refused(web_server: WebServer) -> None:
    web_server.redirect("/page", "file:///etc/passwd")
    result = failed(fetch(web_server.url("/page")))
    assert result.kind == "invalid_url"


# --- invalid URLs and the address guard --------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["not a url", "/relative/path", "ftp://example.org/", "http://", "http://[::1", "mailto:a@b"],
)
def test_invalid_urls(url: str) -> None:
    result = failed(fetch(url))
    assert result.kind == "invalid_url"
    assert "\n" not in result.message


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("::ffff:93.184.216.34", True),
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("169.254.169.254", False),  # cloud metadata
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("::", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("2002:7f00:1::1", False),  # 6to4 wrapping 127.0.0.1
        ("not an address", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_guard_refuses_loopback_before_connecting(web_server: WebServer) -> None:
    web_server.route("/page", PAGE)
    result = failed(fetch(web_server.url("/page"), allow_private_addresses=False))
    assert result.kind == "blocked_address"
    assert "127.0.0.1" in result.message
    assert web_server.requests == []


def test_guard_checks_every_redirect_hop(web_server: WebServer) -> None:
    # The fake resolver passes the first hop as if 127.0.0.1 were public; "localhost" resolves
    # truthfully, so the redirect to it must be refused before it is requested.
    async def resolve(host: str, port: int) -> Sequence[str]:
        return ["93.184.216.34"] if host == "127.0.0.1" else ["127.0.0.1"]

    inside = f"http://localhost:{web_server.port}/inside"
    web_server.redirect("/start", inside)
    web_server.route("/inside", PAGE)

    async def run() -> FetchResult:
        settings = replace(SETTINGS, allow_private_addresses=False)
        async with Fetcher(settings, resolver=resolve) as fetcher:
            return await fetcher.get(web_server.url("/start"))

    result = failed(asyncio.run(run()))
    assert (result.kind, result.url) == ("blocked_address", inside)
    assert [request.path for request in web_server.requests] == ["/start"]


def test_connections_go_to_the_address_checked_and_a_name_is_resolved_once_per_connection(
    web_server: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No second resolution for a DNS server to answer differently (rebinding): the pool
    # connects to the literal address the guard checked. The pretend-public address is
    # routed to the test server, so nothing leaves loopback.
    asked: list[str] = []
    connected: list[str] = []

    async def resolve(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        return ["93.184.216.34"]

    real_connect = httpcore.AnyIOBackend.connect_tcp

    async def connect_tcp(
        self: httpcore.AnyIOBackend, host: str, port: int, **kwargs: Any
    ) -> httpcore.AsyncNetworkStream:
        connected.append(host)
        return await real_connect(self, "127.0.0.1", web_server.port, **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", connect_tcp)
    web_server.route("/a", PAGE)
    web_server.route("/b", PAGE)

    async def run() -> list[FetchResult]:
        settings = replace(SETTINGS, allow_private_addresses=False)
        async with Fetcher(settings, resolver=resolve) as fetcher:
            site = f"http://news.example:{web_server.port}"
            return [await fetcher.get(f"{site}/a"), await fetcher.get(f"{site}/b")]

    assert [fetched(result).status for result in asyncio.run(run())] == [200, 200]
    assert connected == ["93.184.216.34"]  # once, by address, for both requests
    assert asked == ["news.example"]
    assert {request.headers["host"] for request in web_server.requests} == {
        f"news.example:{web_server.port}"
    }


def _dead_address() -> str:
    """A loopback address where nothing listens on any port the tests use: connecting to it
    is refused at once."""
    return "127.0.0.2"


def fetch_resolving(
    url: str, addresses: Sequence[str], **overrides: object
) -> tuple[FetchResult, list[str]]:
    """One GET whose host name resolves to `addresses` (real sockets: only the lookup is
    substituted); also the names that were looked up."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        return list(addresses)

    async def run() -> FetchResult:
        settings = replace(SETTINGS, **overrides)  # type: ignore[arg-type]
        async with Fetcher(settings, resolver=resolve) as fetcher:
            return await fetcher.get(url)

    return asyncio.run(run()), asked


@pytest.mark.parametrize("dead", [_dead_address(), "::1"], ids=["ipv4", "ipv6"])
def test_a_host_whose_first_address_is_dead_is_reached_at_the_next(
    web_server: WebServer, dead: str
) -> None:
    web_server.route("/page", PAGE)
    url = f"http://news.example:{web_server.port}/page"
    result, asked = fetch_resolving(url, [dead, "127.0.0.1"])
    assert fetched(result).body == PAGE
    assert asked == ["news.example"]
    # The control: the dead address alone does not answer.
    alone, _ = fetch_resolving(url, [dead])
    assert failed(alone).kind == "connection"
    assert web_server.count("/page") == 1


def test_a_host_none_of_whose_addresses_answers_is_unreachable_naming_each(
    web_server: WebServer,
) -> None:
    url = f"http://news.example:{web_server.port}/page"
    result, _ = fetch_resolving(url, [_dead_address(), "127.0.0.3"])
    failure = failed(result)
    assert failure.kind == "connection"
    assert "none of its 2 addresses answered" in failure.message
    assert "127.0.0.2" in failure.message and "127.0.0.3" in failure.message


def test_the_guard_checks_every_address_and_connects_to_the_checked_ones_in_order(
    web_server: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two pretend-public addresses: the first routed to a port where nothing listens, the
    # second to the test server, so nothing leaves loopback.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]  # closed again below: nothing listens there
    routes = {"93.184.216.34": dead_port, "93.184.216.35": web_server.port}
    connected: list[str] = []
    real_connect = httpcore.AnyIOBackend.connect_tcp

    async def connect_tcp(
        self: httpcore.AnyIOBackend, host: str, port: int, **kwargs: Any
    ) -> httpcore.AsyncNetworkStream:
        connected.append(host)
        return await real_connect(self, "127.0.0.1", routes[host], **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", connect_tcp)
    web_server.route("/page", PAGE)
    url = f"http://news.example:{web_server.port}/page"
    result, _ = fetch_resolving(
        url, ["93.184.216.34", "93.184.216.35"], allow_private_addresses=False
    )
    assert fetched(result).body == PAGE
    assert connected == ["93.184.216.34", "93.184.216.35"]

    # A private address among them, even last, refuses the host before any connection.
    connected.clear()
    result, _ = fetch_resolving(
        url, ["93.184.216.34", "93.184.216.35", "10.0.0.7"], allow_private_addresses=False
    )
    assert failed(result).kind == "blocked_address"
    assert "10.0.0.7" in failed(result).message
    assert connected == []


def test_unresolvable_host_is_a_connection_failure() -> None:
    async def resolve(host: str, port: int) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def run() -> FetchResult:
        settings = replace(SETTINGS, allow_private_addresses=False)
        async with Fetcher(settings, resolver=resolve) as fetcher:
            return await fetcher.get("http://no-such-host.invalid/")

    result = failed(asyncio.run(run()))
    assert (result.kind, result.message) == (
        "connection",
        "could not resolve host 'no-such-host.invalid'",
    )


# --- politeness --------------------------------------------------------------------------------


async def fetch_all(settings: FetchSettings, urls: list[str]) -> list[FetchResult]:
    async with Fetcher(settings) as fetcher:
        return list(await asyncio.gather(*(fetcher.get(url) for url in urls)))


@pytest.mark.parametrize(
    ("concurrency", "per_host", "limit"), [(8, 2, 2), (3, 8, 3)], ids=["per-host", "global"]
)
def test_concurrency_limits(
    web_server: WebServer, concurrency: int, per_host: int, limit: int
) -> None:
    web_server.route("/slow", response=slow(0.3, Response(body=PAGE)))
    settings = replace(SETTINGS, concurrency=concurrency, per_host_concurrency=per_host)
    results = asyncio.run(fetch_all(settings, [web_server.url("/slow")] * 6))
    assert all(isinstance(result, Fetched) for result in results)
    assert web_server.peak_concurrency == limit


def test_per_host_delay_spaces_request_starts(web_server: WebServer) -> None:
    web_server.route("/page", PAGE)
    settings = replace(SETTINGS, per_host_delay=0.2)
    asyncio.run(fetch_all(settings, [web_server.url("/page")] * 3))
    starts = [request.received_at for request in web_server.requests]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(gaps) == 2
    assert all(gap >= 0.1 for gap in gaps), gaps  # 0 without the delay


def test_a_hanging_host_does_not_delay_another(web_server: WebServer) -> None:
    with WebServer(host="127.0.0.2") as other:
        web_server.route("/hang", response=slow(30))
        other.route("/page", PAGE)
        settings = replace(SETTINGS, concurrency=2, per_host_concurrency=1, timeout=10.0)

        async def run() -> None:
            async with Fetcher(settings) as fetcher:
                hanging = [
                    asyncio.create_task(fetcher.get(web_server.url("/hang"))) for _ in "abcd"
                ]
                await asyncio.sleep(0.2)  # one hangs in flight, three queue behind it
                result = await asyncio.wait_for(fetcher.get(other.url("/page")), timeout=2)
                assert fetched(result).elapsed < 1.0
                assert not any(task.done() for task in hanging)
                for task in hanging:
                    task.cancel()
                await asyncio.gather(*hanging, return_exceptions=True)

        asyncio.run(run())
        assert web_server.count("/hang") == 1
        assert other.count("/page") == 1


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="timeout"):
        replace(SETTINGS, timeout=0)
    with pytest.raises(ValueError, match="concurrency"):
        replace(SETTINGS, per_host_concurrency=0)


# --- TLS through the guarded pool -------------------------------------------------------------


@pytest.fixture
def https_site(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 whose certificate names news.example: (port, the cert)."""
    certificate = self_signed(tmp_path, "news.example", "DNS:news.example")
    with WebServer(tls=certificate.server_context()) as server:
        server.route("/", PAGE)
        yield server.port, certificate.cert


@pytest.mark.parametrize("name", ["news.example", "other.example"])
def test_https_is_verified_for_the_name_though_the_connection_goes_to_an_address(
    https_site: tuple[int, Path], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    port, cert = https_site

    async def resolve(host: str, port: int) -> Sequence[str]:
        return ["93.184.216.34"]

    real_connect = httpcore.AnyIOBackend.connect_tcp

    async def connect_tcp(
        self: httpcore.AnyIOBackend, host: str, port: int, **kwargs: Any
    ) -> httpcore.AsyncNetworkStream:
        assert host == "93.184.216.34"  # the checked address; routed to the test server
        return await real_connect(self, "127.0.0.1", https_site[0], **kwargs)

    def trusting_the_site(**_: Any) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=cert)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", connect_tcp)
    monkeypatch.setattr(httpx, "create_ssl_context", trusting_the_site)

    async def run() -> FetchResult:
        settings = replace(SETTINGS, allow_private_addresses=False)
        async with Fetcher(settings, resolver=resolve) as fetcher:
            return await fetcher.get(f"https://{name}:{port}/")

    result = asyncio.run(run())
    if name == "news.example":
        assert fetched(result).body == PAGE
    else:  # the certificate names another host: refused, though the address is the same
        assert failed(result).kind == "connection"
        assert "certificate" in failed(result).message.lower()
