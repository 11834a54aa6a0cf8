"""`monitor run` as a process: it polls on its own, and SIGTERM/SIGINT stop it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.newsroom import Newsroom
from tests.support.webserver import WebServer
from tests.test_end_to_end import CHIPS, DEEPSEEK, write_config

pytestmark = pytest.mark.integration


def monitor_process(*args: str) -> list[str]:
    return [sys.executable, "-c", "from monitor.cli import main; main()", *args]


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
        if process.poll() is None:
            process.kill()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        process.wait()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "stopped" in stderr
