"""Health, metrics and JSON logs of the running service."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from monitor.health import Metrics
from tests.support.newsroom import Newsroom
from tests.support.webserver import WebServer
from tests.test_end_to_end import DEEPSEEK, write_config
from tests.test_service import monitor_process, reap, wait_for_stories


def test_healthz_turns_503_when_the_last_pass_is_too_old() -> None:
    metrics = Metrics(started=1000.0)
    assert metrics.healthy(max_age=180, now=1100.0)  # young process, no pass yet
    assert not metrics.healthy(max_age=180, now=1200.0)
    metrics.observe_pass(ok=True, new=2)
    assert metrics.last_pass_ok is not None
    assert metrics.healthy(max_age=180, now=metrics.last_pass_ok + 100)
    assert not metrics.healthy(max_age=180, now=metrics.last_pass_ok + 181)


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
    process = subprocess.Popen(
        monitor_process("--config", str(config), "run"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
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
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        reap(process)
    assert process.returncode == 0
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    polls = [r for r in records if r.get("source") == "daily-test-tech"]
    assert polls and polls[0]["status"] == 200 and polls[0]["new"] == 1
    assert all(set(r) >= {"time", "level", "logger", "message"} for r in records)
