"""`monitor digest` from the command line: preview without sending, send with --send.

These run once monitor.config has the [digest] and [smtp] sections and monitor.cli has
the `digest` command (see monitor/digest/command.py); until then they skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.config import Config
from monitor.store import db
from tests.support.paths import unrelated_seeds
from tests.test_digest_build import CHIPS_V1, CHIPS_V2, Room
from tests.test_digest_send import SmtpServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        "digest" not in Config.model_fields,
        reason="monitor digest is not wired into monitor.config and monitor.cli yet",
    ),
]


def cli_invoke(config: Path, *args: str) -> tuple[int, str, str]:
    from monitor.cli import cli

    result = CliRunner().invoke(cli, ["--config", str(config), "digest", *args])
    return result.exit_code, result.stdout, result.stderr or ""


def write_config(folder: Path, port: int, extra: str = "") -> Path:
    path = folder / "monitor.toml"
    path.write_text(
        f"""
[database]
url = "sqlite:///{folder / "m.db"}"
[seeds]
path = "{unrelated_seeds(folder)}"
[[topics]]
name = "chips"
keywords = ["chip"]
[digest]
time = "07:00"
timezone = "Europe/London"
[[digest.recipients]]
email = "desk@example.org"
topics = ["chips"]
[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
from = "monitor <monitor@example.org>"
{extra}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with SmtpServer() as running:
        yield running


@pytest.fixture
def config(tmp_path: Path, server: SmtpServer) -> Path:
    path = write_config(tmp_path, server.port)
    engine = db.make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade(engine)
    try:
        room = Room(db.session_factory(engine))
        now = datetime.now(UTC)
        room.story("<b>Chip</b> rules widen", seen=now - timedelta(hours=2))
        edited = room.story("Old chip headline", seen=now - timedelta(days=3), text=CHIPS_V1)
        room.edit(edited, now - timedelta(hours=1), "New chip headline", CHIPS_V2, "headline")
    finally:
        engine.dispose()
    return path


def test_preview_on_stdout_sends_nothing(config: Path, server: SmtpServer) -> None:
    code, stdout, _ = cli_invoke(config)
    assert code == 0
    assert "Subject: monitor: 1 new, 1 changed" in stdout
    assert "multipart/alternative" in stdout
    assert server.inbox.messages == []


def test_preview_to_a_file(config: Path, server: SmtpServer, tmp_path: Path) -> None:
    page = tmp_path / "digest.html"
    code, stdout, _ = cli_invoke(config, "--since", "7d", "--out", str(page))
    assert code == 0 and "wrote" in stdout
    text = page.read_text(encoding="utf-8")
    assert "&lt;b&gt;Chip&lt;/b&gt; rules widen" in text and "<b>Chip</b>" not in text
    assert server.inbox.messages == []


def test_send_now(config: Path, server: SmtpServer) -> None:
    code, stdout, _ = cli_invoke(config, "--send", "--to", "me@example.org")
    assert code == 0 and "sent to me@example.org" in stdout
    (message,) = server.inbox.messages
    assert message["To"] == "me@example.org"


@pytest.mark.parametrize(
    "args",
    [
        ["--to", "me@example.org\r\nBcc: spy@evil.example"],
        ["--send", "--out", "x.eml"],
        ["--since", "all"],
    ],
)
def test_bad_arguments_exit_2(config: Path, server: SmtpServer, args: list[str]) -> None:
    code, _, _ = cli_invoke(config, *args)
    assert code == 2
    assert server.inbox.messages == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[digest.recipients]]\nemail = "x@example.org"\ntopics = ["nope"]', "no topic named"),
    ],
)
def test_config_mistakes_are_one_line(tmp_path: Path, extra: str, message: str) -> None:
    path = write_config(tmp_path, 25)
    path.write_text(path.read_text(encoding="utf-8").replace("[smtp]", f"{extra}\n[smtp]"))
    code, _, stderr = cli_invoke(path)
    assert code == 2
    assert message in stderr and "digest.recipients[1].topics" in stderr
    assert len(stderr.strip().splitlines()) == 1
