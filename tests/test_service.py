"""`monitor run` as a process: it polls on its own, and SIGTERM/SIGINT stop it cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.demo.newsroom import Newsroom
from monitor.demo.webserver import WebServer
from tests.test_end_to_end import CHIPS, DEEPSEEK, write_config

pytestmark = pytest.mark.integration


def monitor_process(*args: str) -> list[str]:
    return [sys.executable, "-c", "from monitor.cli import main; main()", *args]


def start_service(config: Path) -> subprocess.Popen[str]:
    """`monitor run` on `config` in its own process; its log (stderr) is read at the end."""
    return subprocess.Popen(
        monitor_process("--config", str(config), "run"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_stories(config: Path, count: int, deadline: float) -> list[dict[str, object]]:
    listing: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        done = subprocess.run(
            monitor_process("--config", str(config), "list", "--json"),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            listing = json.loads(done.stdout)
            if len(listing) >= count:
                return listing
        time.sleep(0.3)
    return listing


def reap(process: subprocess.Popen[str]) -> None:
    """Kill the process if it still runs, close its pipes and wait for it (no leaked files)."""
    if process.poll() is None:
        process.kill()
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()
    process.wait()


def stop_service(process: subprocess.Popen[str], timeout: float = 30) -> str:
    """Stop the service as a supervisor does (SIGTERM) and wait for it; its stderr."""
    process.send_signal(signal.SIGTERM)
    return process.communicate(timeout=timeout)[1]


def _stop(process: subprocess.Popen[str]) -> str:
    """The service's stderr, for a failure message."""
    process.kill()
    return process.communicate()[1]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_polls_then_stops_cleanly_on_signal(
    tmp_path: Path, web_server: WebServer, sig: signal.Signals
) -> None:
    room = Newsroom()
    room.serve(web_server)
    room.publish(DEEPSEEK, "tech")
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'run.db'}")
    process = subprocess.Popen(
        monitor_process("--config", str(config), "run"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        first = wait_for_stories(config, 1, time.monotonic() + 30)
        assert [item["title"] for item in first] == [DEEPSEEK.title], _stop(process)
        room.publish(CHIPS, "tech")  # appears while the service runs: the next tick finds it
        later = wait_for_stories(config, 2, time.monotonic() + 30)
        assert sorted(str(item["title"]) for item in later) == sorted(
            [DEEPSEEK.title, CHIPS.title]
        ), _stop(process)
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=30)
    finally:
        reap(process)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "stopped" in stderr


def test_a_second_service_on_one_sqlite_file_is_refused(
    tmp_path: Path, web_server: WebServer
) -> None:
    room = Newsroom()
    room.serve(web_server)
    room.publish(DEEPSEEK, "tech")
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'run.db'}")
    first = start_service(config)
    try:
        assert wait_for_stories(config, 1, time.monotonic() + 30), _stop(first)
        second = subprocess.run(
            monitor_process("--config", str(config), "run"),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert second.returncode == 1
        assert "another `monitor run` is already using" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        # Reads keep working while the service runs.
        assert wait_for_stories(config, 1, time.monotonic() + 5)
        stop_service(first)
    finally:
        reap(first)
    assert first.returncode == 0


def test_status_reports_failing_sources_and_waiting_rechecks(
    tmp_path: Path, web_server: WebServer
) -> None:
    from typer.testing import CliRunner

    from tests.test_end_to_end import Monitor

    room = Newsroom()
    room.serve(web_server)
    room.publish(DEEPSEEK, "tech")
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 's.db'}")
    monitor = Monitor(config, CliRunner())
    monitor("poll")  # the "latest" feed does not exist: that source fails
    report = monitor.json("status")
    assert report["sources"] == 2
    assert report["sources_failing"] == ["daily-test-latest"]
    assert report["stories"] == 1
    assert report["last_success"] is not None
    assert report["database_bytes"] > 0
    time.sleep(1.1)
    assert monitor.json("status")["awaiting_recheck"] == 1
    assert "failing: daily-test-latest" in monitor("status")


def test_housekeeping_prunes_old_poll_records_and_failed_links(
    tmp_path: Path, web_server: WebServer
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select

    from monitor.app import open_app
    from monitor.pipeline.service import Service
    from monitor.store.models import LinkFailure, Poll, Source

    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'h.db'}")
    app = open_app(config)
    try:
        app.sync()
        now = datetime.now(UTC)
        with app.sessions.begin() as session:
            source_id = session.scalars(select(Source.id)).first()
            for age in (timedelta(days=40), timedelta(days=31), timedelta(days=1)):
                session.add(Poll(source_id=source_id, started_at=now - age, duration=0.1))
                session.add(
                    LinkFailure(
                        key=f"example.org/{age.days}",
                        url=f"https://example.org/{age.days}",
                        source_id=source_id,
                        failures=3,
                        last_error="not found (HTTP 404)",
                        last_failed_at=now - age,
                        next_attempt_at=now - age + timedelta(hours=2),
                    )
                )

        async def housekeeping() -> None:
            async with app.pipeline() as pipeline:  # its writer thread does the work
                await Service(app, pipeline).housekeeping()

        asyncio.run(housekeeping())
        with app.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Poll)) == 1
            assert session.scalars(select(LinkFailure.key)).all() == ["example.org/1"]
    finally:
        app.close()


def test_shutdown_deadline_cancels_a_hung_pass_and_frees_its_leases(
    tmp_path: Path, web_server: WebServer
) -> None:
    import sqlite3

    from monitor.demo.webserver import slow

    web_server.route("/feeds/tech.xml", response=slow(60))
    database = tmp_path / "hung.db"
    config = write_config(tmp_path, web_server, f"sqlite:///{database}")
    text = config.read_text().replace('timeout = "5s"', 'timeout = "60s"')
    config.write_text(text + '\n[service]\nshutdown_timeout = "1s"\n')
    process = start_service(config)
    try:
        deadline = time.monotonic() + 30
        while web_server.count("/feeds/tech.xml") == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert web_server.count("/feeds/tech.xml") == 1, _stop(process)
        started = time.monotonic()
        stderr = stop_service(process)
        took = time.monotonic() - started
    finally:
        reap(process)
    assert process.returncode == 0, stderr
    assert took < 20  # the deadline (1 s), not the hung request (60 s)
    assert "cancelled at the shutdown deadline" in stderr
    with sqlite3.connect(database) as connection:
        held = connection.execute("SELECT count(*) FROM sources WHERE lease_owner IS NOT NULL")
        assert held.fetchone() == (0,)
        # The source that answered (404: nothing is routed there) before the cancel keeps
        # its poll and its new state: the cancelled pass wrote what it had finished.
        polled = connection.execute(
            "SELECT s.name, p.status, s.last_status, s.consecutive_failures"
            " FROM polls p JOIN sources s ON s.id = p.source_id"
        )
        assert polled.fetchall() == [("daily-test-latest", 404, 404, 1)]


def test_a_stopping_service_lets_the_pass_in_flight_finish(
    tmp_path: Path, web_server: WebServer
) -> None:
    """SIGTERM one second into a poll whose feed answers after 6 s: the service waits for
    it (shutdown_timeout is 20 s), records the poll, and only then exits 0."""
    import sqlite3

    from monitor.demo.webserver import Response, slow

    room = Newsroom()
    room.serve(web_server)
    room.publish(DEEPSEEK, "tech")
    feed = room.feed_xml("tech", web_server.base_url)
    web_server.route("/feeds/tech.xml", response=slow(6, Response(body=feed)))
    database = tmp_path / "slow.db"
    config = write_config(tmp_path, web_server, f"sqlite:///{database}")
    config.write_text(config.read_text().replace('timeout = "5s"', 'timeout = "30s"'))
    process = start_service(config)
    try:
        deadline = time.monotonic() + 30
        while web_server.count("/feeds/tech.xml") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert web_server.count("/feeds/tech.xml") == 1, _stop(process)
        time.sleep(1)
        stderr = stop_service(process, timeout=60)
    finally:
        reap(process)
    assert process.returncode == 0, stderr
    assert "cancelled" not in stderr
    with sqlite3.connect(database) as connection:
        polled = connection.execute(
            "SELECT p.status FROM polls p JOIN sources s ON s.id = p.source_id"
            " WHERE s.name = 'daily-test-tech'"
        ).fetchall()
        stories = connection.execute("SELECT title FROM stories").fetchall()
        held = connection.execute("SELECT count(*) FROM sources WHERE lease_owner IS NOT NULL")
        assert held.fetchone() == (0,)
    assert polled == [(200,)], stderr
    assert stories == [(DEEPSEEK.title,)], stderr
