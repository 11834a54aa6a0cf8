"""`monitor demo`: the scripted newsroom on loopback, seen by the real pipeline, in seconds."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from monitor.cli import cli
from monitor.demo.run import run_demo
from monitor.demo.webserver import WebServer

pytestmark = pytest.mark.integration

LOOPBACK = "127.0.0.1"

# Every socket connect and name lookup the process makes while recording. An audit hook sees
# them at the C level, whatever library (httpx, anyio, asyncio) makes them; hooks cannot be
# removed, so this one is installed once and records only inside the `network_log` fixture.
_recording: list[tuple[str, Any]] | None = None
_hooked = False
_WATCHED = {
    "socket.connect",
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyaddr",
    "socket.sendto",
}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _recording is not None and event in _WATCHED and not _local_socket(args):
        _recording.append((event, args))


def _local_socket(args: tuple[Any, ...]) -> bool:
    """A Unix socket (a local socket pair, a forkserver's socket) is not the network."""
    return bool(args) and getattr(args[0], "family", None) == socket.AF_UNIX


@pytest.fixture
def network_log() -> Iterator[list[tuple[str, Any]]]:
    global _recording, _hooked
    if not _hooked:
        sys.addaudithook(_audit)
        _hooked = True
    log: list[tuple[str, Any]] = []
    _recording = log
    try:
        yield log
    finally:
        _recording = None


def _host(event: str, args: tuple[Any, ...]) -> str:
    if event in ("socket.connect", "socket.sendto"):
        address = args[-1]
        return str(address[0]) if isinstance(address, tuple) else repr(address)
    host = args[0]
    return host.decode() if isinstance(host, bytes) else str(host)


def test_demo_shows_new_duplicate_edits_removal_and_clusters_on_loopback_only(
    network_log: list[tuple[str, Any]],
) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, highlight=False)

    summary = run_demo(duration=9.0, step=0.5, console=console)

    out = buffer.getvalue()
    assert "+ new" in out and "[deepseek] DeepSeek raises API prices" in out
    assert "[stargate] Stargate's first campus in Abilene" in out
    assert "= duplicate of seed 000_" in out  # the syndicated copy of a shipped seed
    assert "· off-topic Harbour city votes" in out
    assert "~ headline  story" in out
    assert "~ edit" in out and "version 1 → 2" in out
    assert "[-350-]{+150+}" in out  # the corrected number, as a plain diff
    assert "{+Update: Researchers at two universities" in out
    assert "- removed" in out and "Chipmaker seeks licences" in out
    assert "# cluster   2 outlets on one event" in out
    events = out.split("\n\n", 1)[1].split("Demo over", 1)[0]  # between intro and summary
    for furniture in ("Five recipes", "Updated", "Subscribe for", "cookies", "Asian shares"):
        assert furniture not in events

    assert summary.events == 10 and summary.duplicates == 1 and summary.offtopic == 1
    assert summary.new >= 7 and summary.removals == 1 and summary.clusters >= 2
    # Page furniture rotated on every one of many page views, yet no edit was invented.
    assert summary.pages_served > 30
    assert 4 <= summary.changes <= summary.edits_made
    assert "Demo over after" in out and "has been deleted" in out

    # Nothing left loopback: the config names only the newsroom, every socket went there.
    assert summary.source_urls and all(
        url.startswith(f"http://{LOOPBACK}:") for url in summary.source_urls
    )
    connects = [entry for entry in network_log if entry[0] == "socket.connect"]
    assert connects, "the demo made no connection at all?"
    assert {_host(*entry) for entry in network_log} == {LOOPBACK}

    assert not summary.directory.exists()  # no --keep: the temporary folder is gone


@pytest.mark.timeout(60)
def test_ctrl_c_stops_and_keep_leaves_a_database_the_cli_reads() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from monitor.demo.run import run_demo; run_demo(keep=True, step=0.5)",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    clustered = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "# cluster" in line:
                clustered.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        clustered.wait(timeout=30)  # a few events in: stop it as a user would
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        reader.join(timeout=5)
        assert process.stderr is not None
        stderr = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    out = "".join(lines)
    found = re.search(r"monitor --config (\S+) list$", out, re.MULTILINE)
    try:
        assert clustered.is_set(), out + stderr
        assert process.returncode == 0, out + stderr
        assert "Traceback" not in stderr
        assert "stopping after this pass" in out and "Demo over after" in out
        assert found, out
        config = Path(found.group(1))
        assert config.exists() and (config.parent / "monitor.db").exists()
        result = CliRunner().invoke(cli, ["--config", str(config), "list", "--json"])
        assert result.exit_code == 0, result.output
        titles = {story["title"] for story in json.loads(result.stdout)}
        assert any(title.startswith("DeepSeek raises API prices") for title in titles)
        assert any(title.startswith("US adds 140 companies") for title in titles)  # v2 headline
    finally:
        if found:
            shutil.rmtree(Path(found.group(1)).parent, ignore_errors=True)


def test_a_client_resetting_a_kept_alive_connection_prints_no_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The newsroom's server sat on a kept-alive connection that monitor then reset: the
    demo's terminal showed a ConnectionResetError traceback in the middle of its story."""
    with WebServer() as server:
        server.route("/", "<p>front page</p>")
        with socket.create_connection((server.host, server.port)) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: newsroom\r\n\r\n")
            assert client.recv(65536).startswith(b"HTTP/1.1 200")
            # Closing with a zero linger time resets the connection (TCP RST) instead of FIN.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        time.sleep(0.2)  # the handler thread, blocked reading the next request, meets the reset
    assert server.count("/") == 1
    assert "Traceback" not in capsys.readouterr().err
