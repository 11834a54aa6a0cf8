"""The web view, its JSON API and Atom feeds over a database filled by real polls of the demo
newsroom, served by uvicorn on loopback: what a reader, a script and a feed reader get."""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import httpx
import jsonschema
import pytest
from typer.testing import CliRunner

from monitor.app import App, open_app
from monitor.cli import cli
from monitor.config import DATABASE_ENV
from monitor.web.app import CSP, Health, create_app, database_judge
from monitor.web.openapi import openapi
from tests.support.databases import database_url
from tests.support.newsroom import FilledNewsroom, filled_newsroom
from tests.support.webapp import serving

pytestmark = pytest.mark.integration

CORRECTED = "Stargate's first campus in Abilene"  # the story whose "350" became "150"
TAKEN_DOWN = "Chipmaker seeks licences to resume H20 sales"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def filled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FilledNewsroom]:
    """The demo newsroom polled into SQLite, and into PostgreSQL (MONITOR_DATABASE_URL, which
    the CLI and the app read alike, names it for the module's tests)."""
    folder = tmp_path_factory.mktemp("web")
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "postgres":
            patch.setenv(DATABASE_ENV, database_url("postgres", folder))
        with filled_newsroom(folder) as room:
            yield room


@pytest.fixture(scope="module")
def app(filled: FilledNewsroom) -> Iterator[App]:
    opened = open_app(filled.config)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="module")
def base(app: App) -> Iterator[str]:
    with serving(create_app(app, Health(database_judge(app)))) as url:
        yield url


def get(url: str, **params: Any) -> httpx.Response:
    return httpx.get(url, params=params, timeout=30)


def cli_json(config: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--config", str(config), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def titles(page: str) -> list[str]:
    """The headlines a listing links to, as a reader sees them."""
    return [html.unescape(t) for t in re.findall(r'<a href="/stories/\d+">([^<]+)</a>', page)]


def story_id(base: str, title_start: str) -> int:
    stories = get(f"{base}/api/stories", since="all").json()
    return next(int(s["id"]) for s in stories if s["title"].startswith(title_start))


# ---------------------------------------------------------------- pages


def test_the_coverage_page_lists_what_the_polls_found_and_filters_in_the_url(base: str) -> None:
    everything = get(f"{base}/", since="all")
    assert everything.status_code == 200
    assert everything.headers["content-type"].startswith("text/html")
    listed = get(f"{base}/api/stories", since="all").json()
    assert len(listed) >= 6
    for story in listed:
        assert f'href="/stories/{story["id"]}"' in everything.text
    stargate = get(f"{base}/", since="all", topic="stargate").text
    shown = titles(stargate)
    assert shown and all("Stargate" in t for t in shown), shown
    removed = get(f"{base}/", since="all", kind="removed").text
    assert titles(removed) == [
        next(s["title"] for s in listed if s["title"].startswith(TAKEN_DOWN))
    ]
    search = get(f"{base}/", since="all", q="permanent staff").text  # in the text only
    assert titles(search)[0].startswith(CORRECTED)
    wire = get(f"{base}/", since="all", outlet="Pacific Wire").text
    assert "The Daily Demo" not in wire.split("<tbody>")[1]


def test_pages_answer_a_bad_filter_with_one_line(base: str) -> None:
    answer = get(f"{base}/", topic="nosuch")
    assert answer.status_code == 400
    assert "topic: no topic named &#39;nosuch&#39;" in answer.text
    assert get(f"{base}/", since="soon").status_code == 400
    assert get(f"{base}/stories/99999").status_code == 404
    assert get(f"{base}/topics/nosuch").status_code == 404


def test_a_story_page_shows_versions_copies_and_the_original(
    base: str, filled: FilledNewsroom
) -> None:
    corrected = story_id(base, CORRECTED)
    page = get(f"{base}/stories/{corrected}").text
    assert "150 permanent staff" in page
    assert f'href="/stories/{corrected}/diff?from=1&amp;to=2"' in page
    assert 'class="original" href="http://127.0.0.1:' in page
    copies = get(f"{base}/api/stories", since="all", include_duplicates="1").json()
    copy = next(s for s in copies if s["duplicate_of"] and s["duplicate_of"]["kind"] == "seed")
    shown = get(f"{base}/stories/{copy['id']}").text
    similarity = copy["duplicate_of"]["similarity"]
    assert f"copy of seed {filled.seed_id} ({similarity:.2f})" in shown
    gone = get(f"{base}/stories/{story_id(base, TAKEN_DOWN)}").text
    assert "Removed: the page has been gone since" in gone


def test_the_diff_page_marks_the_edited_words(base: str) -> None:
    corrected = story_id(base, CORRECTED)
    page = get(f"{base}/stories/{corrected}/diff", **{"from": 1, "to": 2}).text
    assert re.search(r"<del>\s*350\s*</del>\s*<ins>\s*150\s*</ins>", page), page
    assert "1 word added, 1 removed" in page
    # the legend, the inline diff and the old column; the legend, inline and the new column
    assert page.count("<del>") == 3 and page.count("<ins>") == 3
    headline = get(f"{base}/stories/{story_id(base, 'US adds 140 companies')}/diff").text
    assert headline.index('class="diff-title"') < headline.index("Text, inline")
    assert get(f"{base}/stories/{corrected}/diff", to=9).status_code == 404


def test_events_topics_sources_and_seeds_pages(base: str, filled: FilledNewsroom) -> None:
    events = get(f"{base}/events", since="all").text
    assert "<details>" in events
    metas = re.findall(r'<span class="meta">([^<]*)</span>', events)
    assert any("Pacific Wire" in m and "The Daily Demo" in m for m in metas), metas
    cluster = re.search(r'href="/\?event=(\d+)&amp;since=all"', events)
    assert cluster is not None
    members = get(f"{base}/", event=cluster.group(1), since="all").text
    assert len(re.findall(r'<a href="/stories/\d+">', members)) == 2
    topic = get(f"{base}/topics/deepseek").text
    assert '<svg class="chart" role="img"' in topic
    assert "Share of voice" in topic and "The Daily Demo" in topic
    assert get(f"{base}/topics/deepseek", days=90).status_code == 200
    sources = get(f"{base}/sources").text
    assert "daily-demo-tech" in sources and "pacific-wire" in sources
    seeds = get(f"{base}/seeds").text
    assert filled.seed_id in seeds and "1 copy" in seeds


def test_every_answer_is_read_only_and_under_a_strict_csp(base: str) -> None:
    for path in ("/", "/api/stories", "/feeds/all.atom", "/static/style.css", "/nope"):
        answer = get(base + path)
        assert answer.headers["content-security-policy"] == CSP
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert "'unsafe-inline'" not in CSP and "default-src 'none'" in CSP
    assert httpx.post(f"{base}/", timeout=10).status_code == 405
    page = get(f"{base}/", since="all").text
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from elsewhere
    assert "<script" not in page and "style=" not in page


# ---------------------------------------------------------------- the API


def test_the_api_is_the_clis_json_field_for_field(base: str, filled: FilledNewsroom) -> None:
    config = filled.config
    for params, args in (
        ({"since": "all"}, ["list", "--since", "all"]),
        (
            {"since": "all", "include_duplicates": "1"},
            ["list", "--since", "all", "--include-duplicates"],
        ),
        ({"since": "all", "kind": "changed"}, ["list", "--since", "all", "--changed"]),
        ({"topic": "deepseek"}, ["list", "--topic", "deepseek"]),
    ):
        assert get(f"{base}/api/stories", **params).json() == cli_json(config, *args)
    listed = cli_json(config, "list", "--since", "all")
    for story in listed:
        assert get(f"{base}/api/stories/{story['id']}").json() == cli_json(
            config, "show", str(story["id"])
        )
        if story["version_count"] > 1:
            assert get(f"{base}/api/stories/{story['id']}/diff").json() == cli_json(
                config, "diff", str(story["id"])
            )
    assert get(f"{base}/api/events", since="all").json() == cli_json(
        config, "list", "--since", "all", "--clusters"
    )
    assert get(f"{base}/api/sources").json() == cli_json(config, "sources")
    status, cli_status = get(f"{base}/api/status").json(), cli_json(config, "status")
    assert list(status) == list(cli_status)

    def steady(document: dict[str, Any]) -> dict[str, Any]:
        """Without what moves between two reads: the file's size, a verdict's seconds."""
        document = {k: v for k, v in document.items() if k != "database_bytes"}
        document["health"] = re.sub(r"\d+s\b", "Ns", document["health"])
        return document

    assert steady(status) == steady(cli_status)


def test_a_list_pages_with_a_link_header_and_a_size_limit(base: str) -> None:
    whole = get(f"{base}/api/stories", since="all").json()
    pages: list[dict[str, Any]] = []
    url: str | None = f"{base}/api/stories?since=all&limit=3"
    while url is not None:
        answer = httpx.get(url, timeout=10)
        batch = answer.json()
        assert 1 <= len(batch) <= 3
        pages += batch
        link = answer.headers.get("link")
        url = re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1) if link else None  # type: ignore[union-attr]
    assert pages == whole
    too_big = get(f"{base}/api/stories", limit=501)
    assert too_big.status_code == 400
    assert too_big.json() == {"error": "limit: 501 is out of range (1–500)"}
    assert get(f"{base}/api/stories", cursor="nonsense").status_code == 400


def test_events_page_with_a_link_header_too(base: str, filled: FilledNewsroom) -> None:
    whole = cli_json(filled.config, "list", "--since", "all", "--clusters")
    assert len(whole) >= 3
    pages: list[dict[str, Any]] = []
    url: str | None = f"{base}/api/events?since=all&limit=2"
    while url is not None:
        answer = httpx.get(url, timeout=10)
        pages += answer.json()
        link = answer.headers.get("link")
        found = re.fullmatch(r'<([^>]+)>; rel="next"', link) if link else None
        url = found.group(1) if found else None
    assert pages == whole


def _answers(base: str) -> list[tuple[str, str, httpx.Response]]:
    """(path template, example path, answer) for every route of the API, errors included."""
    listed = get(f"{base}/api/stories", since="all").json()
    changed = next(s["id"] for s in listed if s["version_count"] > 1)
    single = next(s["id"] for s in listed if s["version_count"] == 1)
    examples = [
        ("/api/stories", "/api/stories?since=all&limit=2"),
        ("/api/stories", "/api/stories?since=all&include_duplicates=1"),
        ("/api/stories", "/api/stories?since=yesterday"),
        ("/api/stories/{story_id}", f"/api/stories/{changed}"),
        ("/api/stories/{story_id}", "/api/stories/99999"),
        ("/api/stories/{story_id}/diff", f"/api/stories/{changed}/diff"),
        ("/api/stories/{story_id}/diff", f"/api/stories/{single}/diff"),
        ("/api/stories/{story_id}/diff", f"/api/stories/{changed}/diff?from=x"),
        ("/api/events", "/api/events?since=all"),
        ("/api/topics/{name}/counts", "/api/topics/deepseek/counts?days=7"),
        ("/api/topics/{name}/counts", "/api/topics/nosuch/counts"),
        ("/api/sources", "/api/sources"),
        ("/api/status", "/api/status"),
    ]
    return [(template, path, httpx.get(base + path, timeout=30)) for template, path in examples]


def test_every_api_answer_matches_the_openapi_description(base: str) -> None:
    served = get(f"{base}/api/openapi.json").json()
    assert served == json.loads(json.dumps(openapi()))
    jsonschema.Draft202012Validator.check_schema({"$defs": served["components"]["schemas"]})
    exercised = set()
    for template, path, answer in _answers(base):
        operation = served["paths"][template]["get"]
        described = operation["responses"].get(str(answer.status_code))
        assert described is not None, f"{path}: {answer.status_code} is not described"
        schema = described["content"]["application/json"]["schema"]
        jsonschema.validate(
            answer.json(),
            {**schema, "components": served["components"]},
            cls=jsonschema.Draft202012Validator,
        )
        exercised.add(template)
    assert exercised == set(served["paths"])


def test_topic_counts_add_up_to_the_stories(base: str) -> None:
    counts = get(f"{base}/api/topics/stargate/counts", days=30).json()
    assert len(counts) == 30
    stargate = get(f"{base}/api/stories", since="all", topic="stargate").json()
    assert sum(day["new"] for day in counts) == len(stargate)
    assert sum(day["changed"] for day in counts) == sum(s["version_count"] - 1 for s in stargate)


# ---------------------------------------------------------------- feeds


def parse(answer: httpx.Response) -> Any:
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(io.BytesIO(answer.content))
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


def test_atom_feeds_parse_cleanly_carry_diffs_and_keep_their_ids(base: str) -> None:
    everything = parse(get(f"{base}/feeds/all.atom"))
    listed = get(f"{base}/api/stories", since="all").json()
    versions = sum(s["version_count"] for s in listed)
    assert len(everything.entries) == versions  # one per new story or new version
    again = parse(get(f"{base}/feeds/all.atom"))
    assert [e.id for e in again.entries] == [e.id for e in everything.entries]
    assert len({e.id for e in everything.entries}) == len(everything.entries)
    changes = parse(get(f"{base}/feeds/all.atom", changes=1))
    assert changes.entries and all(e.title.startswith("Changed") for e in changes.entries)
    correction = next(e for e in changes.entries if CORRECTED in e.title)
    content = correction.content[0].value
    assert re.search(r"<del>\s*350\s*</del>\s*<ins>\s*150\s*</ins>", content), content
    topic = parse(get(f"{base}/feeds/stargate.atom"))
    assert topic.entries and all("stargate" in [t.term for t in e.tags] for e in topic.entries)
    assert get(f"{base}/feeds/nosuch.atom").status_code == 404
