"""Health, metrics and JSON logs of the running service."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from monitor.app import open_app
from monitor.clock import utcnow
from monitor.config import Config
from monitor.demo.newsroom import Newsroom
from monitor.demo.webserver import WebServer
from monitor.health import (
    MIN_POLLS,
    POLL_WINDOW,
    Facts,
    Metrics,
    ServiceHealth,
    Verdict,
    serve_health,
    span,
    verdict,
)
from monitor.store import queries
from monitor.store.db import make_engine, session_factory
from monitor.store.models import Poll, Source
from tests.test_end_to_end import CHIPS, DEEPSEEK, Monitor, write_config
from tests.test_service import reap, start_service, stop_service, wait_for_stories

START = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
TICK = timedelta(seconds=60)
WINDOW = timedelta(minutes=18)  # a 15m interval and three ticks


def facts(after: timedelta, **changes: Any) -> Facts:
    """A service started at START, looked at `after` later, that has polled nothing yet."""
    plain = Facts(
        now=START + after,
        tick=TICK,
        success_window=WINDOW,
        polling_since=START,
        last_success=None,
        polls=0,
        failed=0,
        process_started=START,
        last_pass=None,
    )
    return replace(plain, **changes)


def test_a_young_service_is_given_three_ticks_for_a_pass_and_the_window_for_a_success() -> None:
    assert verdict(facts(timedelta(minutes=3))) == Verdict(True, "ok")
    late = verdict(facts(timedelta(minutes=3, seconds=1), last_pass=None))
    assert late == Verdict(False, "no poll pass has succeeded for 3m (a tick is 60s)")


def test_no_pass_within_three_ticks_is_unhealthy() -> None:
    now = timedelta(hours=1)
    fine = {"last_success": START + now - timedelta(minutes=1), "polls": 40}
    assert verdict(facts(now, last_pass=START + now - 3 * TICK, **fine)).ok
    stuck = verdict(facts(now, last_pass=START + now - 3 * TICK - timedelta(seconds=1), **fine))
    assert stuck == Verdict(False, "no poll pass has succeeded for 3m (a tick is 60s)")


def test_no_successful_poll_within_the_window_is_unhealthy() -> None:
    now = timedelta(hours=2)
    passing = START + now - TICK
    on_time = START + now - WINDOW
    assert verdict(facts(now, last_pass=passing, last_success=on_time, polls=4)).ok
    late = verdict(
        facts(now, last_pass=passing, last_success=on_time - timedelta(seconds=1), polls=4)
    )
    assert late == Verdict(False, "no poll has succeeded for 18m")


def test_a_success_before_the_start_counts_from_the_start() -> None:
    """A restarted service is given the window again, whatever the database remembers."""
    yesterday = START - timedelta(days=1)
    assert verdict(facts(WINDOW, last_pass=START + WINDOW, last_success=yesterday)).ok
    late = verdict(
        facts(WINDOW + timedelta(seconds=1), last_pass=START + WINDOW, last_success=yesterday)
    )
    assert late == Verdict(False, "no poll has succeeded for 24h")


def test_never_a_success_names_the_failed_polls() -> None:
    after = WINDOW + timedelta(seconds=1)
    result = verdict(facts(after, last_pass=START + after, polls=3, failed=3))
    assert result == Verdict(
        False,
        "no poll has succeeded in the 18m since polling began; "
        "3 of 3 polls in the last hour failed",
    )


def test_nothing_to_poll_is_no_failure_to_poll() -> None:
    after = timedelta(hours=5)
    assert verdict(facts(after, last_pass=START + after, polling_since=None)).ok


@pytest.mark.parametrize(
    ("polls", "failed", "ok"),
    [
        (10, 5, True),  # half: not more than half
        (10, 6, False),
        (MIN_POLLS - 1, MIN_POLLS - 1, True),  # too few polls to judge the hour by
        (MIN_POLLS, MIN_POLLS, False),
        (0, 0, True),
    ],
)
def test_more_than_half_of_the_last_hours_polls_failing_is_unhealthy(
    polls: int, failed: int, ok: bool
) -> None:
    now = timedelta(hours=3)
    recent = START + now - TICK
    result = verdict(facts(now, last_pass=recent, last_success=recent, polls=polls, failed=failed))
    expected = "ok" if ok else f"{failed} of {polls} polls in the last hour failed"
    assert result == Verdict(ok, expected)


def test_a_dead_component_is_named_with_every_other_problem() -> None:
    after = timedelta(minutes=1)
    dead = {"writer": "stopped: disk full", "pool": "broken"}
    assert verdict(facts(after, dead=dead)) == Verdict(
        False, "pool: broken; writer: stopped: disk full"
    )
    stuck = verdict(facts(timedelta(minutes=5), dead={"pool": "broken"}))
    assert stuck.reason == "pool: broken; no poll pass has succeeded for 5m (a tick is 60s)"


def test_the_cli_without_a_process_judges_the_database_facts_only() -> None:
    after = timedelta(days=2)
    stored = {"process_started": None, "last_pass": None}
    recent = START + after - TICK
    assert verdict(facts(after, last_success=recent, polls=12, failed=2, **stored)).ok
    assert not verdict(facts(after, last_success=recent, polls=12, failed=7, **stored)).ok


def test_durations_read_as_people_write_them() -> None:
    assert [span(timedelta(seconds=s)) for s in (0, 119, 120, 7199, 7200, 172799, 172800)] == [
        "0s",
        "119s",
        "2m",
        "119m",
        "2h",
        "47h",
        "2d",
    ]


def test_a_registered_check_reports_its_component_dead() -> None:
    metrics = Metrics()
    state: dict[str, str | None] = {"writer": None}
    metrics.register_check("writer", lambda: state["writer"])

    def broken_check() -> str | None:
        raise ZeroDivisionError("division by zero")

    metrics.register_check("pool", broken_check)
    assert metrics.dead_components() == {
        "pool": "liveness check failed: ZeroDivisionError: division by zero"
    }
    state["writer"] = "stopped:\n  disk full"
    assert metrics.dead_components()["writer"] == "stopped: disk full"


def test_metrics_text_format() -> None:
    metrics = Metrics()
    metrics.observe_poll("ok", 0.2)
    metrics.observe_poll("failed", 40.0)
    metrics.observe_pass(ok=True, new=3, changed=1)
    text = metrics.render()
    assert 'monitor_polls_total{outcome="ok"} 1' in text
    assert "monitor_poll_failures_total 1" in text
    assert 'monitor_stories_total{kind="new"} 3' in text
    assert 'monitor_fetch_seconds_bucket{le="0.25"} 1' in text
    assert 'monitor_fetch_seconds_bucket{le="+Inf"} 2' in text
    assert "monitor_fetch_seconds_count 2" in text


def test_degraded_extraction_is_named_in_the_verdict_and_exported_but_not_unhealthy() -> None:
    degraded = {"tech": "pages extract empty (4 of 6)", "wire": 'pages lost their "titles"'}
    ok = verdict(facts(timedelta(minutes=3), extraction_degraded=degraded))
    assert ok == Verdict(
        True,
        "ok; extraction degraded for tech: pages extract empty (4 of 6); "
        'extraction degraded for wire: pages lost their "titles"',
    )
    late = verdict(facts(timedelta(minutes=30), extraction_degraded={"tech": "x"}))
    assert not late.ok and late.reason.endswith("; extraction degraded for tech: x")
    metrics = Metrics()
    assert "monitor_sources_extraction_degraded 0" in metrics.render()
    metrics.extraction_degraded = degraded
    text = metrics.render()
    assert "monitor_sources_extraction_degraded 2" in text
    assert (
        'monitor_source_extraction_degraded{source="tech",reason="pages extract empty (4 of 6)"} 1'
        in text
    )
    assert 'reason="pages lost their \\"titles\\""} 1' in text


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.integration
def test_running_service_serves_health_metrics_and_json_logs(
    tmp_path: Path, web_server: WebServer
) -> None:
    room = Newsroom()
    room.serve(web_server)
    room.publish(DEEPSEEK, "tech")
    port = free_port()
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'h.db'}")
    config.write_text(
        config.read_text() + f'\n[service]\nhttp_port = {port}\nlog_format = "json"\n'
    )
    process = start_service(config)
    try:
        assert wait_for_stories(config, 1, time.monotonic() + 30)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            metrics = httpx.get(f"{base}/metrics", timeout=5).text
            if 'monitor_stories_total{kind="new"} 1' in metrics:
                break
            time.sleep(0.2)
        assert 'monitor_stories_total{kind="new"} 1' in metrics
        assert 'monitor_polls_total{outcome="ok"}' in metrics
        health = httpx.get(f"{base}/healthz", timeout=5)
        assert health.status_code == 200
        assert httpx.get(f"{base}/nope", timeout=5).status_code == 404
        stderr = stop_service(process)
    finally:
        reap(process)
    assert process.returncode == 0
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    polls = [r for r in records if r.get("source") == "daily-test-tech"]
    assert polls and polls[0]["status"] == 200 and polls[0]["new"] == 1
    assert all(set(r) >= {"time", "level", "logger", "message"} for r in records)


def test_healthz_names_a_registered_component_while_it_is_dead(
    tmp_path: Path, web_server: WebServer
) -> None:
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'c.db'}")
    app = open_app(config)
    metrics = Metrics()
    writer: dict[str, str | None] = {"state": None}
    metrics.register_check("writer", lambda: writer["state"])
    port = free_port()

    async def probe() -> list[tuple[int, str]]:
        judge = ServiceHealth.for_app(app, metrics)
        server = await serve_health(metrics, "127.0.0.1", port, judge.verdict)
        seen = []
        try:
            async with httpx.AsyncClient() as client:
                for state in (None, "stopped: disk full", None):
                    writer["state"] = state
                    answer = await client.get(f"http://127.0.0.1:{port}/healthz")
                    seen.append((answer.status_code, answer.text))
        finally:
            server.close()
            await server.wait_closed()
        return seen

    try:
        app.sync()
        assert asyncio.run(probe()) == [
            (200, "ok\n"),
            (503, "writer: stopped: disk full\n"),
            (200, "ok\n"),
        ]
    finally:
        app.close()


def test_a_database_that_does_not_answer_makes_the_service_unhealthy(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'missing-folder' / 'm.db'}")
    try:
        config = Config(sources=[])
        judge = ServiceHealth(Metrics(), session_factory(engine), config, utcnow)
        result = asyncio.run(judge.verdict())
    finally:
        engine.dispose()
    assert not result.ok
    assert result.reason.startswith("database: OperationalError: ")
    assert "unable to open database file" in result.reason


def wait_for_health(url: str, *, ok: bool, saying: str, deadline: float) -> httpx.Response:
    """/healthz's answer once it is `ok` (or not) and its reason contains `saying`."""
    while True:
        answer = httpx.get(url, timeout=5)
        if (answer.status_code == 200) == ok and saying in answer.text:
            return answer
        if time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


@pytest.mark.integration
def test_healthz_is_503_while_every_poll_fails_and_200_once_they_recover(
    tmp_path: Path, web_server: WebServer
) -> None:
    for feed in ("tech", "latest"):
        web_server.route(f"/feeds/{feed}.xml", status=500, body=b"down for maintenance")
    port = free_port()
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'f.db'}")
    config.write_text(config.read_text() + f"\n[service]\nhttp_port = {port}\n")
    monitor = Monitor(config, CliRunner())
    process = start_service(config)
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the server is up once the database is open
            try:
                httpx.get(url, timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        failing = wait_for_health(
            url, ok=False, saying="polls in the last hour failed", deadline=deadline
        )
        assert failing.status_code == 503, failing.text
        assert failing.text.startswith("no poll has succeeded"), failing.text
        assert "polls in the last hour failed" in failing.text
        assert len(failing.text.splitlines()) == 1
        status = monitor.json("status")
        assert status["healthy"] is False
        assert status["health"].startswith("no poll has succeeded")
        assert "polls in the last hour failed" in status["health"]
        assert "health: unhealthy: no poll has succeeded" in monitor("status")

        room = Newsroom()  # the feeds answer again
        room.publish(DEEPSEEK, "tech")
        room.publish(CHIPS, "latest")
        room.serve(web_server)
        recovered = wait_for_health(url, ok=True, saying="ok", deadline=time.monotonic() + 60)
        assert (recovered.status_code, recovered.text) == (200, "ok\n")
        status = monitor.json("status")
        assert (status["healthy"], status["health"]) == (True, "ok")
        assert "health: ok" in monitor("status")
        stop_service(process)
    finally:
        reap(process)
    assert process.returncode == 0


@pytest.mark.integration
def test_the_database_facts_are_every_workers_polls_of_the_last_hour(
    tmp_path: Path, web_server: WebServer, db_url: str
) -> None:
    config = write_config(tmp_path, web_server, db_url)
    Monitor(config, CliRunner())("db", "upgrade")
    app = open_app(config)
    now = datetime.now(UTC)
    try:
        app.sync()
        with app.sessions.begin() as session:
            tech = session.scalars(select(Source).where(Source.name == "daily-test-tech")).one()
            latest = session.scalars(select(Source).where(Source.name == "daily-test-latest")).one()
            tech.last_success_at = now - timedelta(minutes=5)
            latest.enabled = False  # a disabled source's success says nothing
            latest.last_success_at = now - timedelta(minutes=1)
            ages = {120: None, 50: "server error (HTTP 500)", 10: None, 1: "timed out"}
            for minutes, error in ages.items():
                for source in (tech, latest):  # two workers' polls alike
                    started = now - timedelta(minutes=minutes)
                    session.add(
                        Poll(source_id=source.id, started_at=started, duration=0.1, error=error)
                    )
            created = tech.created_at
        with app.sessions() as session:
            found = queries.poll_health(session, now - POLL_WINDOW)
    finally:
        app.close()
    assert found == queries.PollHealth(
        enabled=1,
        first_created=created,
        last_success=now - timedelta(minutes=5),
        polls=6,
        failed=4,
    )
