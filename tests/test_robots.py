"""robots.txt: the pure parser and matcher, the cache, and the fetcher against a local server."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor import fetch as fetch_module
from monitor.core.robots import (
    ALLOW_ALL,
    RobotsCache,
    RobotsRules,
    Rule,
    parse_robots,
    product_token,
)
from monitor.demo.webserver import Response, WebServer, redirect, slow
from monitor.fetch import Failed, Fetched, Fetcher, FetchResult, FetchSettings

UA = "monitor-test/1.0 (+https://example.org/bot)"


def allowed(robots: str | bytes, path: str, user_agent: str = UA) -> bool:
    return parse_robots(robots, user_agent).allows(path)


# --- product token and groups ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "token"),
    [
        (UA, "monitor-test"),
        ("Monitor/2", "monitor"),
        ("monitor_bot", "monitor_bot"),
        ("  spaced-Bot/1.0", "spaced-bot"),
        ("news monitor/1.0", "news"),
        ("123/1.0", ""),
    ],
)
def test_product_token(user_agent: str, token: str) -> None:
    assert product_token(user_agent) == token


def test_our_group_beats_the_star_group() -> None:
    robots = """
User-agent: *
Disallow: /

User-agent: Monitor-Test
Disallow: /private
"""
    assert allowed(robots, "/page")
    assert not allowed(robots, "/private/x")
    assert not allowed(robots, "/page", "otherbot/1.0")  # others get the `*` group


def test_group_line_with_a_version_and_several_agents() -> None:
    robots = """
User-agent: googlebot
User-agent: monitor-test/3.0
Disallow: /a
User-agent: *
Disallow: /b
"""
    assert not allowed(robots, "/a")
    assert allowed(robots, "/b")


def test_groups_for_us_are_combined() -> None:
    robots = """
User-agent: monitor-test
Disallow: /a
User-agent: other
Disallow: /b
User-agent: monitor-test
Disallow: /c
"""
    assert [allowed(robots, path) for path in ("/a", "/b", "/c", "/d")] == [
        False,
        True,
        False,
        True,
    ]


def test_a_longer_token_is_not_our_token() -> None:
    robots = "User-agent: monitor-test-extra\nDisallow: /\nUser-agent: monitor\nDisallow: /\n"
    assert allowed(robots, "/page")


def test_no_matching_group_allows_everything() -> None:
    assert allowed("User-agent: otherbot\nDisallow: /\n", "/page")
    assert parse_robots("", UA) == ALLOW_ALL


def test_rules_before_any_user_agent_are_ignored() -> None:
    assert allowed("Disallow: /\nUser-agent: *\nDisallow: /x\n", "/page")


def test_sitemap_lines_do_not_end_a_group() -> None:
    robots = "User-agent: monitor-test\nSitemap: https://example.org/s.xml\nDisallow: /x\n"
    assert not allowed(robots, "/x")


def test_syntax_tolerance() -> None:
    robots = (
        "\ufeffUSER-AGENT : *  # everyone\r\n"
        "disalow: /typo\r"
        "Disallow /nocolon\n"
        "Disallow:\n"  # empty: no rule
        "Disallow: /comment # not part of the path\n"
        "nonsense line\n"
    )
    assert not allowed(robots, "/typo")
    assert not allowed(robots, "/nocolon")
    assert not allowed(robots, "/comment")
    assert allowed(robots, "/other")


def test_bytes_that_are_not_utf8_do_not_fail() -> None:
    assert not allowed(b"User-agent: *\nDisallow: /caf\xe9\nDisallow: /x\n", "/x")


# --- matching ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "path", "expected"),
    [
        ("Disallow: /fish", "/fish", False),
        ("Disallow: /fish", "/fish.html", False),
        ("Disallow: /fish", "/fish/salmon.html", False),
        ("Disallow: /fish", "/Fish.asp", True),  # case-sensitive
        ("Disallow: /fish", "/catfish", True),
        ("Disallow: /fish/", "/fish", True),
        ("Disallow: /*.php", "/index.php", False),
        ("Disallow: /*.php", "/folder/filename.php?parameters", False),
        ("Disallow: /*.php", "/windows.PHP", True),
        ("Disallow: /*.php$", "/filename.php", False),
        ("Disallow: /*.php$", "/filename.php?parameters", True),
        ("Disallow: /*.php$", "/filename.php5", True),
        ("Disallow: /fish*.php", "/fishheads/catfish.php?parameters", False),
        ("Disallow: /fish*.php", "/Fish.PHP", True),
        ("Disallow: /*?", "/page?x=1", False),
        ("Disallow: /*?", "/page", True),
        ("Disallow: /*?sessionid=", "/a/b?x=1&sessionid=2", True),
        ("Disallow: /*sessionid=", "/a/b?x=1&sessionid=2", False),
        ("Disallow: /a$b", "/a$b/c", False),  # `$` not at the end is a plain character
        ("Disallow: /a$b", "/ab", True),
        ("Disallow: *", "/anything", False),
        ("Disallow: /", "/robots.txt", True),  # always allowed
        ("Disallow: /~joe", "/%7Ejoe/", False),  # unreserved characters are decoded
        ("Disallow: /%7ejoe", "/~joe/", False),
        ("Disallow: /a%2fb", "/a%2Fb", False),  # reserved ones stay encoded, hex upper-cased
        ("Disallow: /a%2fb", "/a/b", True),
        ("Disallow: /café", "/caf%C3%A9", False),  # non-ASCII encoded as UTF-8
        ("Disallow: /a b", "/a%20b", False),
        ("Disallow: /page", "", True),  # an empty path is "/"
    ],
)
def test_pattern_matching(rules: str, path: str, expected: bool) -> None:
    assert allowed(f"User-agent: *\n{rules}\n", path) is expected


@pytest.mark.parametrize(
    ("rules", "path", "expected"),
    [
        ("Allow: /p\nDisallow: /", "/page", True),
        ("Disallow: /\nAllow: /p", "/page", True),  # order does not matter, length does
        ("Allow: /folder\nDisallow: /folder", "/folder/page", True),  # a tie goes to allow
        ("Allow: /page\nDisallow: /*.htm", "/page.htm", False),  # /*.htm is longer
        ("Allow: /$\nDisallow: /", "/", True),
        ("Allow: /$\nDisallow: /", "/page.htm", False),
        ("Disallow: /a\nAllow: /a/b\nDisallow: /a/b/c", "/a/b/x", True),
        ("Disallow: /a\nAllow: /a/b\nDisallow: /a/b/c", "/a/b/c/x", False),
    ],
)
def test_longest_match_wins(rules: str, path: str, expected: bool) -> None:
    assert allowed(f"User-agent: *\n{rules}\n", path) is expected


def _reference_match(pattern: str, path: str) -> bool:
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = "".join(".*" if char == "*" else re.escape(char) for char in body)
    return re.match(regex + (r"\Z" if anchored else ""), path, re.DOTALL) is not None


@given(st.text("ab*$/", max_size=8), st.text("ab$/", max_size=10))
def test_matching_agrees_with_a_regular_expression(pattern: str, path: str) -> None:
    assert Rule(False, pattern).matches(path) is _reference_match(pattern, path)


def test_many_wildcards_do_not_backtrack() -> None:
    rules = RobotsRules((Rule(False, "/" + "*a" * 50 + "b$"),))
    assert rules.allows("/" + "a" * 5000)


@pytest.mark.parametrize(
    ("lines", "delay"),
    [
        ("Crawl-delay: 5", 5.0),
        ("Crawl-delay: 0.5", 0.5),
        ("Crawl-delay: soon", None),
        ("Crawl-delay: -1", None),
        ("Crawl-delay: nan", None),
        ("", None),
    ],
)
def test_crawl_delay(lines: str, delay: float | None) -> None:
    assert parse_robots(f"User-agent: *\n{lines}\n", UA).crawl_delay == delay


def test_crawl_delay_of_another_group_does_not_apply() -> None:
    robots = "User-agent: *\nCrawl-delay: 9\nUser-agent: monitor-test\nDisallow: /x\n"
    assert parse_robots(robots, UA).crawl_delay is None


# --- the cache ---------------------------------------------------------------------------------


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_cache_expiry_and_last_read() -> None:
    clock = Clock()
    cache = RobotsCache(clock=clock)
    rules = parse_robots("User-agent: *\nDisallow: /x\n", UA)
    cache.put("https://a.example", rules, 60, from_file=True)
    cache.put("https://b.example", ALLOW_ALL, 60, from_file=False)
    clock.advance(59)
    assert cache.get("https://a.example") is rules
    clock.advance(1)
    assert cache.get("https://a.example") is None
    assert cache.last_read("https://a.example") is rules  # expired, kept for errors
    assert cache.last_read("https://b.example") is None  # not read from a file


def test_cache_is_bounded_and_forgets_the_least_recently_used() -> None:
    cache = RobotsCache(max_entries=2)
    cache.put("http://a", ALLOW_ALL, 60, from_file=False)
    cache.put("http://b", ALLOW_ALL, 60, from_file=False)
    assert cache.get("http://a") is not None  # a is now the most recently used
    cache.put("http://c", ALLOW_ALL, 60, from_file=False)
    assert len(cache) == 2
    assert cache.get("http://b") is None
    assert cache.get("http://a") is not None
    with pytest.raises(ValueError, match="max_entries"):
        RobotsCache(max_entries=0)


# --- the fetcher against a real server ---------------------------------------------------------

SETTINGS = FetchSettings(
    user_agent=UA,
    timeout=2.0,
    concurrency=8,
    per_host_concurrency=4,
    per_host_delay=0.0,
    max_bytes=1_000_000,
    allow_private_addresses=True,  # the test server lives on loopback
)
PAGE = b"<p>page</p>"
HOUR = 3600.0


def robots_route(server: WebServer, text: str) -> None:
    server.route("/robots.txt", text, content_type="text/plain")


async def get_all(
    urls: Sequence[str], settings: FetchSettings = SETTINGS, cache: RobotsCache | None = None
) -> list[FetchResult]:
    """GET each URL in turn with one fetcher."""
    async with Fetcher(settings, robots_cache=cache) as fetcher:
        return [await fetcher.get(url) for url in urls]


def run(urls: Sequence[str], **overrides: object) -> list[FetchResult]:
    settings = replace(SETTINGS, **overrides)  # type: ignore[arg-type]
    return asyncio.run(get_all(urls, settings))


def failed(result: FetchResult) -> Failed:
    assert isinstance(result, Failed), result
    return result


def fetched(result: FetchResult) -> Fetched:
    assert isinstance(result, Fetched), result
    return result


@pytest.mark.integration
def test_disallowed_url_is_refused_without_being_requested(web_server: WebServer) -> None:
    robots_route(web_server, "User-agent: *\nDisallow: /private\n")
    web_server.route("/private/page", PAGE)
    web_server.route("/public", PAGE)
    refused, allowed_page = run([web_server.url("/private/page"), web_server.url("/public")])
    result = failed(refused)
    assert (result.kind, result.url, result.status) == (
        "robots",
        web_server.url("/private/page"),
        None,
    )
    assert result.message == f"disallowed by robots.txt ({web_server.url('/robots.txt')})"
    assert fetched(allowed_page).body == PAGE
    assert [request.path for request in web_server.requests] == ["/robots.txt", "/public"]
    robots_request = web_server.requests[0]
    assert robots_request.headers["user-agent"] == UA


@pytest.mark.integration
def test_robots_txt_is_read_once_for_many_fetches_including_concurrent_ones(
    web_server: WebServer,
) -> None:
    web_server.route(
        "/robots.txt",
        response=slow(0.3, Response(body=b"User-agent: *\nDisallow: /x\n")),
    )
    web_server.route("/page", PAGE)

    async def scenario() -> list[FetchResult]:
        async with Fetcher(SETTINGS) as fetcher:
            together = await asyncio.gather(
                *(fetcher.get(web_server.url("/page")) for _ in "abcdef")
            )
            later = [await fetcher.get(web_server.url(path)) for path in ("/page", "/x")]
            return [*together, *later]

    results = asyncio.run(scenario())
    assert all(isinstance(result, Fetched) for result in results[:-1])
    assert failed(results[-1]).kind == "robots"
    assert web_server.count("/robots.txt") == 1
    assert web_server.count("/page") == 7


@pytest.mark.integration
def test_a_cancelled_reader_lets_the_next_request_read_robots_txt(web_server: WebServer) -> None:
    web_server.route("/robots.txt", response=slow(0.5, Response(body=b"User-agent: *\n")))
    web_server.route("/page", PAGE)

    async def scenario() -> FetchResult:
        async with Fetcher(SETTINGS) as fetcher:
            first = asyncio.create_task(fetcher.get(web_server.url("/page")))
            await asyncio.sleep(0.1)  # first is reading robots.txt
            second = asyncio.create_task(fetcher.get(web_server.url("/page")))
            await asyncio.sleep(0.1)  # second waits for first's reading
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
            return await asyncio.wait_for(second, timeout=5)

    fetched(asyncio.run(scenario()))
    assert web_server.count("/robots.txt") == 2
    assert web_server.count("/page") == 1


@pytest.mark.integration
@pytest.mark.parametrize(
    ("status", "ttl"),
    [(404, 24 * HOUR), (403, 24 * HOUR), (410, 24 * HOUR), (500, HOUR), (503, HOUR), (429, HOUR)],
)
def test_missing_or_failing_robots_txt_allows_and_is_asked_again_after_its_ttl(
    web_server: WebServer, status: int, ttl: float
) -> None:
    web_server.route("/robots.txt", "User-agent: *\nDisallow: /\n", status=status)
    web_server.route("/page", PAGE)
    clock = Clock()

    async def scenario() -> None:
        async with Fetcher(SETTINGS, robots_cache=RobotsCache(clock=clock)) as fetcher:
            fetched(await fetcher.get(web_server.url("/page")))
            clock.advance(ttl - 1)
            fetched(await fetcher.get(web_server.url("/page")))
            assert web_server.count("/robots.txt") == 1
            clock.advance(1)
            fetched(await fetcher.get(web_server.url("/page")))
            assert web_server.count("/robots.txt") == 2

    asyncio.run(scenario())


@pytest.mark.integration
def test_robots_txt_timing_out_allows(web_server: WebServer) -> None:
    web_server.route("/robots.txt", response=slow(30, Response(body=b"User-agent: *\n")))
    web_server.route("/page", PAGE)
    (result,) = run([web_server.url("/page")], timeout=0.5)
    assert fetched(result).elapsed < 2.0


@pytest.mark.integration
def test_rules_are_reread_after_a_day(web_server: WebServer) -> None:
    robots_route(web_server, "User-agent: *\nDisallow: /old\n")
    web_server.route("/old", PAGE)
    web_server.route("/new", PAGE)
    clock = Clock()

    async def scenario() -> None:
        async with Fetcher(SETTINGS, robots_cache=RobotsCache(clock=clock)) as fetcher:
            assert failed(await fetcher.get(web_server.url("/old"))).kind == "robots"
            robots_route(web_server, "User-agent: *\nDisallow: /new\n")
            clock.advance(24 * HOUR - 1)
            fetched(await fetcher.get(web_server.url("/new")))  # the cached rules still hold
            clock.advance(1)
            assert failed(await fetcher.get(web_server.url("/new"))).kind == "robots"
            fetched(await fetcher.get(web_server.url("/old")))

    asyncio.run(scenario())
    assert web_server.count("/robots.txt") == 2


@pytest.mark.integration
def test_a_failing_reread_keeps_the_rules_last_read(web_server: WebServer) -> None:
    robots_route(web_server, "User-agent: *\nDisallow: /private\n")
    web_server.route("/private", PAGE)
    clock = Clock()

    async def scenario() -> None:
        async with Fetcher(SETTINGS, robots_cache=RobotsCache(clock=clock)) as fetcher:
            assert failed(await fetcher.get(web_server.url("/private"))).kind == "robots"
            web_server.route("/robots.txt", "down", status=503)
            clock.advance(24 * HOUR)
            assert failed(await fetcher.get(web_server.url("/private"))).kind == "robots"
            assert web_server.count("/robots.txt") == 2
            clock.advance(HOUR)  # retried an hour later, and kept again
            assert failed(await fetcher.get(web_server.url("/private"))).kind == "robots"
            assert web_server.count("/robots.txt") == 3

    asyncio.run(scenario())
    assert web_server.count("/private") == 0


@pytest.mark.integration
def test_our_group_beats_star_on_the_server(web_server: WebServer) -> None:
    robots_route(
        web_server,
        "User-agent: *\nDisallow: /\n\nUser-agent: monitor-test\nDisallow: /private\n",
    )
    web_server.route("/page", PAGE)
    page, private = run([web_server.url("/page"), web_server.url("/private")])
    fetched(page)
    assert failed(private).kind == "robots"
    (other,) = run([web_server.url("/page")], user_agent="otherbot/1.0")
    assert failed(other).kind == "robots"


@pytest.mark.integration
def test_wildcards_on_the_server(web_server: WebServer) -> None:
    robots_route(web_server, "User-agent: *\nDisallow: /*.pdf$\nDisallow: /*?session=\n")
    for path in ("/doc.pdf", "/page"):
        web_server.route(path, PAGE)
    urls = ["/doc.pdf", "/doc.pdf?download=1", "/page?session=42", "/page?x=1"]
    results = run([web_server.url(path) for path in urls])
    assert [result.kind if isinstance(result, Failed) else "ok" for result in results] == [
        "robots",
        "ok",
        "robots",
        "ok",
    ]
    assert [request.path for request in web_server.requests] == ["/robots.txt", "/doc.pdf", "/page"]


@pytest.mark.integration
def test_every_redirect_hop_is_checked(web_server: WebServer) -> None:
    with WebServer(host="127.0.0.2") as other:
        robots_route(web_server, "User-agent: *\nDisallow: /private\n")
        robots_route(other, "User-agent: *\nDisallow: /elsewhere\n")
        web_server.redirect("/to-private", "/private")
        web_server.redirect("/to-other", other.url("/elsewhere"))
        web_server.route("/private", PAGE)
        other.route("/elsewhere", PAGE)
        inside, outside = run([web_server.url("/to-private"), web_server.url("/to-other")])
        assert (failed(inside).kind, failed(inside).url) == ("robots", web_server.url("/private"))
        assert failed(outside).url == other.url("/elsewhere")
        assert failed(outside).message == f"disallowed by robots.txt ({other.url('/robots.txt')})"
        assert [request.path for request in other.requests] == ["/robots.txt"]
    assert web_server.count("/private") == 0


@pytest.mark.integration
def test_robots_txt_redirect_is_followed(web_server: WebServer) -> None:
    web_server.route("/robots.txt", response=redirect("/real-robots.txt", 301))
    web_server.route("/real-robots.txt", "User-agent: *\nDisallow: /x\n")
    (result,) = run([web_server.url("/x")])
    assert failed(result).kind == "robots"


@pytest.mark.integration
def test_respect_robots_off_never_asks(web_server: WebServer) -> None:
    robots_route(web_server, "User-agent: *\nDisallow: /\n")
    web_server.route("/page", PAGE)
    results = run([web_server.url("/page")] * 2, respect_robots=False)
    assert all(isinstance(result, Fetched) for result in results)
    assert web_server.count("/robots.txt") == 0


@pytest.mark.integration
def test_guard_refuses_before_robots_txt_is_requested(web_server: WebServer) -> None:
    web_server.route("/page", PAGE)
    (result,) = run([web_server.url("/page")], allow_private_addresses=False)
    assert failed(result).kind == "blocked_address"
    assert web_server.requests == []


@pytest.mark.integration
def test_oversized_robots_txt_is_read_up_to_the_cap(web_server: WebServer) -> None:
    padding = b"# padding\n" * 60_000  # 600 kB: past the 500 KiB cap
    body = b"User-agent: *\nDisallow: /early\n" + padding + b"Disallow: /late\n"
    web_server.route("/robots.txt", body, content_type="text/plain")
    web_server.route("/early", PAGE)
    web_server.route("/late", PAGE)
    early, late = run([web_server.url("/early"), web_server.url("/late")])
    assert failed(early).kind == "robots"
    fetched(late)


@pytest.mark.integration
def test_crawl_delay_spaces_requests(web_server: WebServer) -> None:
    robots_route(web_server, "User-agent: *\nCrawl-delay: 0.3\n")
    web_server.route("/page", PAGE)
    run([web_server.url("/page")] * 3)
    starts = [request.received_at for request in web_server.requests]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(gaps) == 3  # robots.txt, then three pages, each after the Crawl-delay
    # 0.3 s between starts on the client; the server notes arrival a thread switch later,
    # so allow for scheduling jitter (without the delay the gaps are milliseconds).
    assert all(gap >= 0.2 for gap in gaps), gaps


@pytest.mark.integration
def test_crawl_delay_is_capped(web_server: WebServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_module, "_MAX_CRAWL_DELAY", 0.2)  # stands for the real 30 s
    robots_route(web_server, "User-agent: *\nCrawl-delay: 3600\n")
    web_server.route("/page", PAGE)
    run([web_server.url("/page")] * 3)
    starts = [request.received_at for request in web_server.requests]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert all(0.15 <= gap < 1.5 for gap in gaps[1:]), gaps


@pytest.mark.integration
def test_per_host_delay_longer_than_crawl_delay_wins(web_server: WebServer) -> None:
    robots_route(web_server, "User-agent: *\nCrawl-delay: 0.01\n")
    web_server.route("/page", PAGE)
    run([web_server.url("/page")] * 2, per_host_delay=0.3)
    starts = [request.received_at for request in web_server.requests]
    assert starts[2] - starts[1] >= 0.2  # 0.3 s apart on the client; jitter as above
