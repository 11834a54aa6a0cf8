"""The web view is safe by default: hostile headlines, bodies, outlets and URLs render inert,
it binds off loopback only with `[web.auth]`, and credentials are checked."""

from __future__ import annotations

import base64
import html
import io
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import httpx
import pytest
from typer.testing import CliRunner

from monitor.app import App, open_app
from monitor.cli import cli
from monitor.demo.webserver import WebServer
from monitor.store.models import Source, Story, StoryTopic, Version
from monitor.web.app import Health, create_app, database_judge
from monitor.web.auth import credentials_for, hash_password, verify_password
from tests.support.webapp import serving
from tests.test_end_to_end import write_config
from tests.test_service import monitor_process, reap, start_service, stop_service

SCRIPT = "<script>alert(document.domain)</script>"
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: would show "gpj.exe" as "exe.jpg"
HOSTILE_TITLE = f"{SCRIPT}Chip {RLO}gpj.exe{'A' * 10_000} DeepSeek"
HOSTILE_TEXT = (
    "DeepSeek <img src=x onerror=alert(1)> said so.\n\n"
    '<a href="javascript:alert(2)">click</a> and \x1b[31mred\x1b[0m'
)
NOW = datetime.now(UTC).replace(microsecond=0)


def add_hostile_stories(app: App) -> tuple[int, int]:
    """A hostile story (two versions) and one whose URL is a javascript: URL."""
    with app.sessions.begin() as session:
        source = Source(
            name="evil-source",
            kind="feed",
            url="http://127.0.0.1:9/feed.xml",
            enabled=True,
            consecutive_failures=2,
            last_error=f"{SCRIPT} failed",
            created_at=NOW,
        )
        session.add(source)
        session.flush()
        ids = []
        for index, url in enumerate(
            ("http://127.0.0.1:9/news/evil", "javascript:alert(document.cookie)")
        ):
            story = Story(
                url=url,
                source_id=source.id,
                first_seen_at=NOW - timedelta(minutes=10 - index),
                status="active",
                title=HOSTILE_TITLE,
                outlet=f"<b onmouseover=alert(3)>Evil {RLO}Outlet</b>",
                version_count=2,
                last_changed_at=NOW - timedelta(minutes=5 - index),
                change_class="edit",
                cluster_id=None,
            )
            session.add(story)
            session.flush()
            session.add(StoryTopic(story_id=story.id, topic="deepseek", terms=["DeepSeek"]))
            for number, text in ((1, HOSTILE_TEXT), (2, HOSTILE_TEXT + f" {SCRIPT} more")):
                session.add(
                    Version(
                        story_id=story.id,
                        number=number,
                        fetched_at=NOW - timedelta(minutes=10 - number),
                        title=HOSTILE_TITLE + ("" if number == 1 else " <i>v2</i>"),
                        byline=f"{SCRIPT}",
                        canonical_url="javascript:alert(4)",
                        text=text,
                        content_hash=f"h{number}",
                        change_class=None if number == 1 else "edit",
                    )
                )
            ids.append(story.id)
    return ids[0], ids[1]


@pytest.fixture
def hostile(tmp_path: Path, web_server: WebServer) -> Iterator[tuple[str, int, int]]:
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'h.db'}")
    app = open_app(config)
    try:
        first, second = add_hostile_stories(app)
        with serving(create_app(app, Health(database_judge(app)))) as base:
            yield base, first, second
    finally:
        app.close()


def inert(page: str) -> None:
    """Nothing of the hostile text acts: no element, no handler, no javascript: link, no bidi
    override; the text is there, escaped."""
    assert "<script>alert" not in page
    assert "<img src=x" not in page and "<b onmouseover" not in page
    assert not re.search(r'href="\s*javascript:', page, re.IGNORECASE)
    assert RLO not in page and "\x1b" not in page


def test_hostile_headlines_bodies_outlets_and_urls_render_inert(
    hostile: tuple[str, int, int],
) -> None:
    base, first, second = hostile
    pages = [
        "/?since=all",
        f"/stories/{first}",
        f"/stories/{second}",
        f"/stories/{first}/diff",
        "/topics/deepseek",
        "/events?since=all",
        "/sources",
    ]
    for path in pages:
        answer = httpx.get(base + path, timeout=30)
        assert answer.status_code == 200, path
        inert(answer.text)
    listing = httpx.get(f"{base}/?since=all", timeout=30).text
    shown = re.findall(r'<a href="/stories/\d+">([^<]+)</a>', listing)
    assert shown and all(len(html.unescape(t)) <= 300 for t in shown)  # a 10 kB title is cut
    assert "&lt;script&gt;alert(document.domain)&lt;/script&gt;" in listing  # shown as text
    story = httpx.get(f"{base}/stories/{second}", timeout=30).text
    assert "javascript:alert(document.cookie)" in story  # shown, as text only
    assert 'class="original"' not in story
    assert (
        'class="original" href="http://127.0.0.1:9/news/evil"'
        in httpx.get(f"{base}/stories/{first}", timeout=30).text
    )
    sources = httpx.get(f"{base}/sources", timeout=30).text
    assert "&lt;script&gt;alert(document.domain)&lt;/script&gt; failed" in sources


def test_hostile_text_in_feeds_and_the_api_stays_data(hostile: tuple[str, int, int]) -> None:
    base, first, _ = hostile
    answer = httpx.get(f"{base}/feeds/all.atom?changes=1", timeout=30)
    feed = feedparser.parse(io.BytesIO(answer.content))
    assert not feed.bozo, feed.get("bozo_exception")
    assert RLO.encode() not in answer.content and b"\x1b" not in answer.content
    assert b"<script>" not in answer.content  # escaped inside the XML
    entry = next(e for e in feed.entries if e.id.endswith(f"story/{first}/version/2"))
    assert "<ins>&lt;script&gt;" in entry.content[0].value.replace(" ", "")
    detail = httpx.get(f"{base}/api/stories/{first}", timeout=30).json()
    assert detail["title"] == HOSTILE_TITLE  # the API gives the data as stored


# ---------------------------------------------------------------- binding and auth


def run_cli(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    return result.exit_code, (result.stderr or "") + result.stdout


def test_a_bind_off_loopback_without_auth_is_refused_with_one_line(
    tmp_path: Path, web_server: WebServer
) -> None:
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'a.db'}")
    plain = config.read_text()
    config.write_text(plain + '\n[web]\nlisten = "0.0.0.0:8080"\n')
    code, output = run_cli(config, "web")
    assert code == 2
    assert output.strip() == (
        "monitor: monitor.toml: web.auth: listening on 0.0.0.0:8080 (not loopback) needs "
        "[web.auth]: a token_env, or username and password_hash"
    )
    config.write_text(plain)
    code, output = run_cli(config, "web", "--listen", "[::]:0")
    assert code == 2
    assert output.strip() == (
        "monitor: --listen: web.auth: listening on [::]:0 (not loopback) needs "
        "[web.auth]: a token_env, or username and password_hash"
    )
    config.write_text(plain + '\n[web]\nlisten = "everywhere"\n')
    code, output = run_cli(config, "web")
    assert code == 2
    assert output.strip() == (
        "monitor: monitor.toml: web.listen: 'everywhere' is not HOST:PORT (e.g. 127.0.0.1:8080)"
    )


def test_a_missing_token_variable_is_named(
    tmp_path: Path, web_server: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'a.db'}")
    config.write_text(
        config.read_text() + '\n[web]\nlisten = "0.0.0.0:0"\n[web.auth]\ntoken_env = "DESK_TOKEN"\n'
    )
    monkeypatch.delenv("DESK_TOKEN", raising=False)
    code, output = run_cli(config, "web")
    assert code == 2
    assert output.strip() == (
        "monitor: web.auth.token_env: the environment variable DESK_TOKEN is not set"
    )


def test_a_bearer_token_guards_every_route_but_healthz(
    tmp_path: Path, web_server: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'b.db'}")
    config.write_text(config.read_text() + '\n[web.auth]\ntoken_env = "DESK_TOKEN"\n')
    monkeypatch.setenv("DESK_TOKEN", "s3cret-token")
    app = open_app(config)
    try:
        site = create_app(
            app, Health(database_judge(app)), credentials=credentials_for(app.config.web.auth)
        )
        with serving(site) as base:
            for path in ("/", "/api/stories", "/feeds/all.atom", "/static/style.css"):
                denied = httpx.get(base + path, timeout=10)
                assert denied.status_code == 401, path
                assert denied.headers["www-authenticate"] == 'Bearer realm="monitor"'
                wrong = httpx.get(base + path, headers={"Authorization": "Bearer nope"})
                assert wrong.status_code == 401
                allowed = httpx.get(
                    base + path, headers={"Authorization": "Bearer s3cret-token"}, timeout=10
                )
                assert allowed.status_code == 200, path
            assert httpx.get(f"{base}/healthz", timeout=10).status_code in (200, 503)
    finally:
        app.close()


def test_basic_auth_checks_a_hashed_password(tmp_path: Path, web_server: WebServer) -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("scrypt$") and "correct" not in hashed
    assert verify_password("correct horse", hashed) and not verify_password("wrong", hashed)
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'c.db'}")
    auth = f'[web.auth]\nusername = "desk"\npassword_hash = "{hashed}"\n'
    config.write_text(config.read_text() + f'\n[web]\nlisten = "0.0.0.0:0"\n{auth}')
    app = open_app(config)
    try:
        site = create_app(
            app, Health(database_judge(app)), credentials=credentials_for(app.config.web.auth)
        )

        def basic(user: str, password: str) -> dict[str, str]:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            return {"Authorization": f"Basic {token}"}

        with serving(site) as base:
            denied = httpx.get(f"{base}/", timeout=10)
            assert denied.status_code == 401
            assert denied.headers["www-authenticate"] == 'Basic realm="monitor"'
            assert httpx.get(f"{base}/", headers=basic("desk", "wrong")).status_code == 401
            assert httpx.get(f"{base}/", headers=basic("other", "correct horse")).status_code == 401
            assert httpx.get(f"{base}/", headers=basic("desk", "correct horse")).status_code == 200
    finally:
        app.close()
    bad = config.read_text().replace(hashed, "plain-password")
    config.write_text(bad)
    code, output = run_cli(config, "web")
    assert code == 2
    assert output.strip() == (
        "monitor: monitor.toml: web.auth.password_hash: not a password hash "
        "(make one with `monitor web --hash-password`)"
    )


def test_hash_password_prints_a_hash_that_verifies(tmp_path: Path) -> None:
    done = subprocess.run(
        monitor_process("web", "--hash-password"),
        input="s3cret\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert verify_password("s3cret", done.stdout.strip())


def test_monitor_web_serves_until_sigterm(tmp_path: Path, web_server: WebServer) -> None:
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'd.db'}")
    config.write_text(config.read_text() + '\n[web]\nlisten = "127.0.0.1:0"\n')
    process = subprocess.Popen(
        monitor_process("--config", str(config), "web"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"serving the web view on (http://127\.0\.0\.1:\d+/)", line)
        assert found, line + (process.stderr.read() if process.stderr else "")
        assert httpx.get(found.group(1), timeout=10).status_code == 200
        assert httpx.get(found.group(1) + "healthz", timeout=10).status_code in (200, 503)
        process.terminate()
        process.wait(timeout=20)
    finally:
        reap(process)
    assert process.returncode == 0


@pytest.mark.integration
def test_monitor_run_serves_the_web_view_with_health_and_metrics(
    tmp_path: Path, web_server: WebServer
) -> None:
    from monitor.demo.newsroom import Newsroom
    from tests.test_end_to_end import DEEPSEEK
    from tests.test_health import free_port
    from tests.test_service import wait_for_stories

    room = Newsroom()
    room.serve(web_server)
    room.publish(DEEPSEEK, "tech")
    port = free_port()
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'r.db'}")
    config.write_text(config.read_text() + f'\n[web]\nlisten = "127.0.0.1:{port}"\n')
    process = start_service(config)
    try:
        assert wait_for_stories(config, 1, time.monotonic() + 30)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        page = httpx.get(f"{base}/?since=all", timeout=10).text
        while DEEPSEEK.title not in html.unescape(page) and time.monotonic() < deadline:
            time.sleep(0.2)
            page = httpx.get(f"{base}/?since=all", timeout=10).text
        assert DEEPSEEK.title in html.unescape(page)
        assert httpx.get(f"{base}/healthz", timeout=10).text == "ok\n"
        assert 'monitor_polls_total{outcome="ok"}' in httpx.get(f"{base}/metrics", timeout=10).text
        stop_service(process)
    finally:
        reap(process)
    assert process.returncode == 0


@pytest.mark.integration
@pytest.mark.parametrize("health_port", ["its own", "the web view's"])
def test_monitor_run_with_web_view_and_health_port_serves_both(
    tmp_path: Path, web_server: WebServer, health_port: str
) -> None:
    """`[web] listen` and `[service] http_port` together: the web view on one address, health
    and metrics alone on the other; the same address named twice is served once."""
    from tests.test_health import free_port

    web_port = free_port()
    health = free_port() if health_port == "its own" else web_port
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'both.db'}")
    config.write_text(
        config.read_text()
        + f'\n[web]\nlisten = "127.0.0.1:{web_port}"\n[service]\nhttp_port = {health}\n'
    )
    process = start_service(config)
    try:
        web, checks = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{health}"
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(f"{web}/", timeout=10)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the web view never answered"
                time.sleep(0.2)
        assert page.status_code == 200 and "<html" in page.text.lower()
        for base in (web, checks):
            assert httpx.get(f"{base}/healthz", timeout=10).status_code in (200, 503)
            assert "monitor_polls_total" in httpx.get(f"{base}/metrics", timeout=10).text
        if health != web_port:  # the health port serves nothing else
            assert httpx.get(f"{checks}/", timeout=10).status_code == 404
        stderr = stop_service(process)
    finally:
        reap(process)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert ("health and metrics on" in stderr) is (health != web_port)
