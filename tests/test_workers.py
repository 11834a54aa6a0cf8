"""Several `monitor run` workers on one PostgreSQL: no double work, and a killed worker's
claims are taken over once its leases expire."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from monitor.demo.webserver import Response, WebServer
from tests.support.databases import fresh_postgres_url
from tests.support.paths import unrelated_seeds

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(300)]

SOURCES = 300
MONITOR = [sys.executable, "-c", "from monitor.cli import main; main()"]
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]


def article(number: int) -> bytes:
    """A distinct on-topic article: its words are a function of its number."""
    words = [WORDS[(number * 7 + i * (number % 5 + 1)) % len(WORDS)] for i in range(120)]
    body = " ".join(words)
    return (
        f"<html><head><title>DeepSeek story {number}</title></head><body><article>"
        f"<h1>DeepSeek story {number}</h1><p>Story number {number} about DeepSeek. {body}</p>"
        f"<p>{' '.join(reversed(words))} closing {number}.</p></article></body></html>"
    ).encode()


def feed(server: WebServer, number: int) -> bytes:
    link = server.url(f"/news/{number}")
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>f</title>'
        f"<item><title>DeepSeek story {number}</title><link>{link}</link></item>"
        "</channel></rss>"
    ).encode()


def serve_newsroom(server: WebServer, delay: float = 0.0) -> None:
    for number in range(SOURCES):
        server.route(
            f"/feeds/{number}.xml",
            response=Response(
                body=feed(server, number),
                headers={"Content-Type": "application/rss+xml"},
                delay=delay,
            ),
        )
        server.route(f"/news/{number}", article(number))


def write_config(folder: Path, server: WebServer, interval: str, lease: str) -> Path:
    sources = "".join(
        f'[[sources]]\nname = "feed-{n:03d}"\nurl = "{server.url(f"/feeds/{n}.xml")}"\n'
        for n in range(SOURCES)
    )
    path = folder / "monitor.toml"
    path.write_text(
        f"""
[fetch]
concurrency = 8
per_host_concurrency = 8
per_host_delay = "0s"
timeout = "10s"
allow_private_addresses = true
respect_robots = false
[polling]
interval = "{interval}"
recheck = ["1h"]
[service]
lease = "{lease}"
shutdown_timeout = "5s"
[seeds]
path = "{unrelated_seeds(folder)}"
[[topics]]
name = "deepseek"
keywords = ["DeepSeek"]
{sources}""",
        encoding="utf-8",
    )
    return path


def start_worker(config: Path, url: str) -> subprocess.Popen[bytes]:
    """A `monitor run` process; its stderr goes to a log file in the test's folder."""
    with (config.parent / f"worker-{time.monotonic_ns()}.log").open("wb") as log:
        return subprocess.Popen(
            [*MONITOR, "--config", str(config), "run"],
            env={**os.environ, "MONITOR_DATABASE_URL": url},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def logs(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-2000:] for p in folder.glob("worker-*.log"))


def upgrade(config: Path, url: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from monitor.cli import main; main()",
            "--config",
            str(config),
            "db",
            "upgrade",
        ],
        env={**os.environ, "MONITOR_DATABASE_URL": url},
        check=True,
        capture_output=True,
    )


def scalar(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(sql)).scalar() or 0)
    finally:
        engine.dispose()


def wait_until(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.5)
    return False


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


@pytest.fixture
def pg_url() -> str:
    return fresh_postgres_url()


def test_three_workers_poll_every_source_exactly_once(
    tmp_path: Path, web_server: WebServer, pg_url: str
) -> None:
    serve_newsroom(web_server)
    config = write_config(tmp_path, web_server, interval="1h", lease="2m")
    upgrade(config, pg_url)
    workers = [start_worker(config, pg_url) for _ in range(3)]
    try:
        done = wait_until(
            lambda: (
                scalar(pg_url, "SELECT count(*) FROM sources WHERE last_polled_at IS NOT NULL")
                == SOURCES
            ),
            120,
        )
        assert done, "not every source was polled"
        time.sleep(1)  # let any double work show up
    finally:
        stop(workers)
    assert [w.returncode for w in workers] == [0, 0, 0], logs(tmp_path)
    feeds = [web_server.count(f"/feeds/{n}.xml") for n in range(SOURCES)]
    articles = [web_server.count(f"/news/{n}") for n in range(SOURCES)]
    assert feeds == [1] * SOURCES
    assert articles == [1] * SOURCES
    assert scalar(pg_url, "SELECT count(*) FROM stories") == SOURCES
    assert scalar(pg_url, "SELECT count(*) FROM versions") == SOURCES
    assert scalar(pg_url, "SELECT count(DISTINCT source_id) FROM polls") == SOURCES
    assert scalar(pg_url, "SELECT count(*) FROM polls") == SOURCES
    # every worker did a share of the work
    assert scalar(pg_url, "SELECT count(*) FROM sources WHERE lease_owner IS NOT NULL") == 0


def test_a_killed_workers_sources_are_taken_over(
    tmp_path: Path, web_server: WebServer, pg_url: str
) -> None:
    serve_newsroom(web_server, delay=0.2)  # slow feeds: the kill lands mid-pass
    config = write_config(tmp_path, web_server, interval="2s", lease="4s")
    upgrade(config, pg_url)
    workers = [start_worker(config, pg_url) for _ in range(3)]
    try:
        assert wait_until(lambda: scalar(pg_url, "SELECT count(*) FROM polls") >= 30, 60), (
            "the workers did not start polling"
        )
        victim = workers[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        held = scalar(
            pg_url,
            "SELECT count(*) FROM sources WHERE lease_owner IS NOT NULL AND last_polled_at IS NULL",
        )
        done = wait_until(
            lambda: (
                scalar(pg_url, "SELECT count(*) FROM sources WHERE last_polled_at IS NOT NULL")
                == SOURCES
            ),
            120,
        )
        assert done, "some sources were never polled after the kill"
    finally:
        stop(workers)
    assert held >= 0
    assert [w.returncode for w in workers[1:]] == [0, 0], logs(tmp_path)
    assert scalar(pg_url, "SELECT count(*) FROM stories") == SOURCES
    assert (
        scalar(
            pg_url,
            "SELECT count(*) FROM (SELECT story_id, number FROM versions "
            "GROUP BY story_id, number HAVING count(*) > 1) AS twice",
        )
        == 0
    )
    assert all(web_server.count(f"/feeds/{n}.xml") >= 1 for n in range(SOURCES))
