"""Alerts end to end: a real pass over a local newsroom writes events, the delivery job sends
them to real receivers on loopback (a webhook that checks signatures and honours
Idempotency-Key, Apprise's json:// and form:// to the same server, email through aiosmtpd).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from monitor.app import App, open_app
from monitor.cli import cli
from monitor.core.dates import as_utc
from monitor.deliver.job import DeliveryJob
from monitor.demo.newsroom import NewsArticle, Newsroom
from monitor.demo.webserver import Request, Response, WebServer, retry_after
from monitor.store import db
from monitor.store.models import AlertAttempt, AlertDelivery, AlertEvent
from tests.support.receiver import Receiver
from tests.test_end_to_end import CHIPS, DEEPSEEK, FOOTBALL, seed_copies

pytestmark = pytest.mark.integration

SECRET = "s3cret-for-tests"
SEEDS = Path(__file__).resolve().parents[1] / "config" / "seeds"
BOTH = NewsArticle(
    slug="deepseek-export-controls",
    title="DeepSeek shrugs off new export controls on AI chips",
    byline="Ana Lopez",
    paragraphs=(
        "DeepSeek said on Friday that the latest export controls on advanced chips would not "
        "slow the training of its next model, which it said was already under way.",
        "The Hangzhou company told developers that it had secured enough processors for the "
        "coming year, though analysts questioned how long its stockpile would last.",
        "Officials in Washington said the rules were meant to close loopholes and that more "
        "companies could be added to the Entity List in the coming months if needed.",
        "Investors in the region said the statement had calmed nerves after a week in which "
        "shares of chip suppliers fell sharply on fears of a wider crackdown.",
    ),
)


def write_config(
    folder: Path, server: WebServer, database_url: str, alerts: str, seeds: Path = SEEDS
) -> Path:
    config = folder / "monitor.toml"
    config.write_text(
        f"""
[database]
url = "{database_url}"
[fetch]
timeout = "5s"
per_host_delay = "0s"
per_host_concurrency = 4
allow_private_addresses = true
respect_robots = false
[polling]
interval = "1s"
recheck = ["1s", "1h"]
[processing]
processes = 1
[seeds]
path = "{seeds}"
[delivery]
timeout = "3s"
[[topics]]
name = "deepseek"
keywords = ["DeepSeek", "Liang Wenfeng"]
[[topics]]
name = "chip-exports"
keywords = ["export controls", "Entity List", "H800"]
[[sources]]
name = "daily-test-tech"
url = "{server.url("/feeds/tech.xml")}"
[[sources]]
name = "daily-test-latest"
url = "{server.url("/feeds/latest.xml")}"
{alerts}
""",
        encoding="utf-8",
    )
    return config


@dataclass
class Setup:
    app: App
    room: Newsroom
    server: WebServer
    config: Path

    def poll(self) -> None:
        async def run() -> None:
            async with self.app.pipeline() as pipeline:
                await pipeline.run_pass()

        asyncio.run(run())

    def job(self, owner: str = "test-worker") -> DeliveryJob:
        config = self.app.config
        return DeliveryJob(
            config.alerts, config.delivery, self.app.sessions, owner=owner, clock=self.app.clock
        )

    def deliver_until(self, done: Any, timeout: float = 20.0) -> None:
        """Run the delivery job (as the service's loop would) until `done()` or the deadline."""
        job = self.job()

        async def run() -> None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                await job.run_once()
                if done():
                    return
                await asyncio.sleep(0.05)

        asyncio.run(run())

    def rows(self) -> list[AlertDelivery]:
        with self.app.sessions() as session:
            return list(session.scalars(select(AlertDelivery).order_by(AlertDelivery.id)))

    def events(self) -> list[AlertEvent]:
        with self.app.sessions() as session:
            return list(session.scalars(select(AlertEvent).order_by(AlertEvent.id)))

    def cli(self, *args: str) -> Any:
        return CliRunner().invoke(cli, ["--config", str(self.config), *args])


@pytest.fixture
def setup_factory(
    tmp_path: Path, web_server: WebServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    monkeypatch.setenv("MONITOR_WEBHOOK_SECRET", SECRET)
    made: list[Setup] = []

    def make(alerts: str, room: Newsroom | None = None, seeds: Path = SEEDS) -> Setup:
        room = room or Newsroom()
        room.serve(web_server)
        config = write_config(tmp_path, web_server, db_url, alerts, seeds)
        app = open_app(config, migrate=False)
        db.upgrade(app.engine)
        app.sync()
        made.append(Setup(app, room, web_server, config))
        return made[-1]

    yield make
    for setup in made:
        setup.app.close()


def webhook_rule(name: str, url: str, extra: str = "") -> str:
    return (
        f'[[alerts]]\nname = "{name}"\nwebhook = "{url}"\n'
        f'secret_env = "MONITOR_WEBHOOK_SECRET"\n{extra}\n'
    )


def test_a_new_story_reaches_the_webhook_once_after_500_and_429(
    setup_factory: Any, web_server: WebServer
) -> None:
    """The receiver answers 500, then 429 with Retry-After: 2, then accepts: the same signed
    request (one Idempotency-Key) three times, accepted once, the third no sooner than the
    429 asked and within a few seconds of it."""
    room = Newsroom()
    room.publish(DEEPSEEK, "tech")
    receiver = Receiver(web_server, secret=SECRET)
    receiver.answer([Response(status=500, body=b"oops"), retry_after("2")])
    setup = setup_factory(webhook_rule("desk", receiver.url, 'topics = ["deepseek"]'), room)
    setup.poll()
    assert [e.kind for e in setup.events()] == ["new"]

    started = time.monotonic()
    setup.deliver_until(lambda: len(receiver.accepted) == 1)
    assert len(receiver.accepted) == 1 and receiver.repeats == 0
    assert receiver.bad_signatures == 0
    first, second, third = receiver.arrivals
    assert 1.5 <= second - first < 3.5  # the first retry: 2 s, give or take the jitter
    assert third - second >= 2.0  # Retry-After honoured
    assert third - second < 5.0 and time.monotonic() - started < 10  # and no later than needed
    keys = {r.headers["idempotency-key"] for r in setup.server.requests if r.path == "/hook"}
    assert len(keys) == 1

    (payload,) = receiver.accepted.values()
    assert payload["rule"] == "desk" and payload["event"] == "new"
    assert "deepseek" in payload["topics"]  # the story's topics (a rule for every topic)
    assert payload["story"]["title"] == DEEPSEEK.title
    assert payload["story"]["outlet"] == "The Daily Test"
    assert payload["story"]["snippet"].startswith("DeepSeek said on Tuesday")
    assert "diff" not in payload

    (row,) = setup.rows()
    assert (row.state, row.attempts, row.last_status) == ("delivered", 3, 200)
    with setup.app.sessions() as session:
        statuses = list(session.scalars(select(AlertAttempt.status).order_by(AlertAttempt.id)))
    assert statuses == [500, 429, 200]


def test_story_fields_match_monitor_list_and_the_diff_matches_monitor_diff(
    setup_factory: Any,
) -> None:
    room = Newsroom()
    room.publish(DEEPSEEK, "tech")
    receiver_server = WebServer()
    with receiver_server:
        receiver = Receiver(receiver_server, secret=SECRET)
        rule = webhook_rule("desk", receiver.url, 'on = ["new", "headline", "edit", "minor"]')
        setup = setup_factory(rule, room)
        setup.poll()
        setup.deliver_until(lambda: len(receiver.accepted) == 1)
        listed = json.loads(setup.cli("list", "--json").stdout)
        (new,) = receiver.accepted.values()
        assert set(new["story"]) == set(listed[0]) | {"snippet"}
        assert {k: new["story"][k] for k in listed[0]} == listed[0]
        assert set(new) == {"id", "rule", "event", "topics", "created", "story"}

        room.edit(DEEPSEEK.slug, title="DeepSeek doubles prices for its API as demand surges")
        time.sleep(1.1)  # the re-check is due after 1s
        setup.poll()
        setup.deliver_until(lambda: len(receiver.accepted) == 2)
        change = next(p for p in receiver.accepted.values() if p["event"] != "new")
        assert change["event"] == "headline"
        story_id = change["story"]["id"]
        shown = json.loads(setup.cli("diff", str(story_id), "--json").stdout)
        diff = dict(change["diff"])
        assert diff.pop("summary") == (
            f"headline changed: “{DEEPSEEK.title}” → "
            "“DeepSeek doubles prices for its API as demand surges”"
        )
        assert diff.pop("sentences") == []
        assert diff == shown
        assert change["id"] == f"desk:headline:{story_id}.2"


def test_copies_offtopic_and_double_topic_stories_alert_once_per_rule(setup_factory: Any) -> None:
    """Seed copies never alert; an off-topic story neither; a story matching two of a rule's
    topics is one event for that rule (and one for another rule)."""
    room = Newsroom()
    for article in (DEEPSEEK, CHIPS, BOTH, *seed_copies()):
        room.publish(article, "tech")
    room.publish(FOOTBALL, "latest")
    alerts = (
        '[[alerts]]\nname = "desk"\ntopics = ["deepseek", "chip-exports"]\n'
        'webhook = "http://127.0.0.1:9/never"\n'
        '[[alerts]]\nname = "all"\nwebhook = "http://127.0.0.1:9/never"\n'
    )
    setup = setup_factory(alerts, room)
    setup.poll()
    events = setup.events()
    titles = {(e.rule, json.loads(e.payload)["story"]["title"]) for e in events}
    expected = {DEEPSEEK.title, CHIPS.title, BOTH.title}
    assert titles == {(rule, t) for rule in ("desk", "all") for t in expected}
    assert len(events) == 6
    both = next(json.loads(e.payload) for e in events if e.rule == "desk" and "shrugs" in e.payload)
    assert both["topics"] == ["chip-exports", "deepseek"]
    setup.poll()  # a second pass over the same feed adds nothing
    assert len(setup.events()) == 6


def test_apprise_json_and_form_reach_a_local_endpoint(setup_factory: Any) -> None:
    room = Newsroom()
    room.publish(DEEPSEEK, "tech")
    got: list[Request] = []

    def take(request: Request) -> Response:
        got.append(request)
        return Response(status=200, body=b"{}")

    server = WebServer()
    with server:
        server.route("/json", handler=take)
        server.route("/form", handler=take)
        host = server.base_url.split("://", 1)[1]
        alerts = (
            f'[[alerts]]\nname = "chat-json"\napprise = "json://{host}/json"\n'
            f'[[alerts]]\nname = "chat-form"\napprise = "form://{host}/form"\n'
        )
        setup = setup_factory(alerts, room)
        setup.poll()
        setup.deliver_until(lambda: len(got) >= 2)
    by_path = {r.path: r for r in got}
    sent = json.loads(by_path["/json"].body)
    assert sent["title"] == "deepseek · new · The Daily Test"
    assert sent["message"].splitlines()[0] == DEEPSEEK.title
    assert "DeepSeek said on Tuesday" in sent["message"]
    from urllib.parse import parse_qs

    form = parse_qs(by_path["/form"].body.decode())
    assert form["title"] == ["deepseek · new · The Daily Test"]
    assert all(r.state == "delivered" for r in setup.rows())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_email_through_a_local_smtp_server(setup_factory: Any) -> None:
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[Any] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.messages.append(envelope)
            return "250 OK"

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        room = Newsroom()
        room.publish(DEEPSEEK, "tech")
        url = (
            f"mailto://127.0.0.1:{port}?mode=insecure&from=monitor@example.org&to=desk@example.org"
        )
        setup = setup_factory(f'[[alerts]]\nname = "mail"\napprise = "{url}"\n', room)
        setup.poll()
        setup.deliver_until(lambda: bool(inbox.messages))
    finally:
        controller.stop()
    (message,) = inbox.messages
    assert message.rcpt_tos == ["desk@example.org"]
    from email import message_from_bytes, policy

    parsed = message_from_bytes(message.content, policy=policy.default)
    assert parsed["Subject"] == "deepseek · new · The Daily Test"
    plain = parsed.get_body(preferencelist=("plain",))
    assert plain is not None
    text = plain.get_content()
    assert DEEPSEEK.title in " ".join(text.split())


def test_cli_lists_fails_retries_and_tests(setup_factory: Any) -> None:
    """A receiver that keeps failing: the delivery is given up after give_up_after, listed
    as failed, counted by status, retried by id, and delivered once the receiver accepts."""
    room = Newsroom()
    room.publish(DEEPSEEK, "tech")
    receiver_server = WebServer()
    with receiver_server:
        receiver = Receiver(receiver_server, secret=SECRET)
        receiver.answer([Response(status=503, body=b"down")])
        setup = setup_factory(webhook_rule("desk", receiver.url), room)
        text = setup.config.read_text().replace(
            'timeout = "3s"', 'timeout = "3s"\ngive_up_after = "1s"'
        )
        setup.config.write_text(text)
        setup.app.close()
        setup.app = open_app(setup.config)
        setup.poll()
        setup.deliver_until(lambda: setup.rows()[0].state != "pending", timeout=10)
        (row,) = setup.rows()
        assert row.state == "failed" and row.last_status == 503

        failed = json.loads(setup.cli("alerts", "--failed", "--json").stdout)
        assert [f["id"] for f in failed] == [row.id]
        assert failed[0]["last_error"] == "HTTP 503: down"
        assert failed[0]["events"][0]["title"] == DEEPSEEK.title
        assert json.loads(setup.cli("alerts", "--pending", "--json").stdout) == []
        status = json.loads(setup.cli("status", "--json").stdout)
        assert (status["alerts_pending"], status["alerts_failed"]) == (0, 1)
        table = setup.cli("alerts", "--failed")
        assert "failed" in table.stdout and "HTTP 503: down" in table.stdout

        retried = setup.cli("alerts", "retry", str(row.id))
        assert retried.exit_code == 0, retried.output
        assert retried.stdout.strip() == f"1 delivery pending again: {row.id}"
        again = setup.cli("alerts", "retry", str(row.id))
        assert again.exit_code == 2
        assert f"delivery {row.id} is pending, not failed" in again.output
        setup.deliver_until(lambda: setup.rows()[0].state == "delivered", timeout=10)
        assert len(receiver.accepted) == 1

        tested = setup.cli("alerts", "test", "desk")
        assert tested.exit_code == 0, tested.output
        assert tested.stdout.startswith("desk: delivered to http://127.0.0.1")
        assert "HTTP 200" in tested.stdout
        unknown = setup.cli("alerts", "test", "nope")
        assert unknown.exit_code == 2
        assert unknown.output.strip() == (
            "monitor: no alert rule named 'nope' in the configuration (rules: desk)"
        )
        both = setup.cli("alerts", "retry")
        assert both.exit_code == 2 and "name one delivery (ID) or --all-failed" in both.output


def test_a_rule_missing_its_secret_is_one_line(setup_factory: Any, monkeypatch: Any) -> None:
    setup = setup_factory(webhook_rule("desk", "http://127.0.0.1:9/hook"))
    monkeypatch.delenv("MONITOR_WEBHOOK_SECRET")
    result = setup.cli("alerts", "test", "desk")
    assert result.exit_code == 2
    assert result.output.strip() == (
        "monitor: alerts: desk: secret_env: the environment variable MONITOR_WEBHOOK_SECRET "
        "is not set"
    )


HOSTILE_TITLE = (
    "DeepSeek <script>alert(1)</script> **bold** [click](http://evil.example) "
    "\x1b[31mred\x1b[0m _x_ `code` " + "long " * 2000
)


def test_hostile_headlines_arrive_escaped_for_each_format_and_within_limits(
    setup_factory: Any,
) -> None:
    """The same story to three channels of Apprise's json:// plugin, told to be Markdown,
    HTML and text: Markdown escaped, HTML escaped, no terminal escape anywhere, and the
    10 kB headline cut so the message fits the channel."""
    room = Newsroom()
    room.publish(NewsArticle(DEEPSEEK.slug, HOSTILE_TITLE, DEEPSEEK.paragraphs), "tech")
    got: dict[str, Any] = {}

    def take(request: Request) -> Response:
        got[request.path] = json.loads(request.body)
        return Response(status=200, body=b"{}")

    server = WebServer()
    with server:
        host = server.base_url.split("://", 1)[1]
        alerts = ""
        for fmt in ("markdown", "html", "text"):
            server.route(f"/{fmt}", handler=take)
            alerts += f'[[alerts]]\nname = "{fmt}"\napprise = "json://{host}/{fmt}?format={fmt}"\n'
        receiver = Receiver(server, secret=SECRET)
        alerts += webhook_rule("hook", receiver.url)
        setup = setup_factory(alerts, room)
        setup.poll()
        setup.deliver_until(lambda: len(got) == 3 and len(receiver.accepted) == 1)
    stored = json.loads(setup.cli("list", "--json").stdout)[0]["title"]
    assert "<script>" in stored  # the headline as the page had it …
    for message in got.values():
        text = message["title"] + message["message"]
        assert "\x1b" not in text
        assert len(message["message"]) < 2000  # 10 kB of headline, cut
    markdown = got["/markdown"]["message"].splitlines()[0]
    assert r"\*\*bold\*\*" in markdown and r"\[click\]\(http://evil\.example\)" in markdown
    html = got["/html"]["message"]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<script>alert(1)</script>" in got["/text"]["message"]  # text is text
    (hooked,) = receiver.accepted.values()
    assert hooked["story"]["title"] == stored  # the webhook carries the headline as stored


def test_a_batched_rule_sends_one_message_per_window(
    setup_factory: Any, web_server: WebServer
) -> None:
    room = Newsroom()
    for article in (DEEPSEEK, CHIPS, BOTH):
        room.publish(article, "tech")
    receiver = Receiver(web_server, secret=SECRET)
    setup = setup_factory(webhook_rule("desk", receiver.url, 'batch = "2s"'), room)
    setup.poll()
    events = setup.events()
    assert [e.delivery_id for e in events] == [None] * 3  # waiting for the window
    # Windows are aligned to the clock: a poll can straddle the end of one.
    windows = {int(as_utc(e.created_at).timestamp()) // 2 for e in events}
    setup.deliver_until(lambda: len(receiver.accepted) == len(windows), timeout=10)
    batches = list(receiver.accepted.values())
    for batch in batches:
        assert batch["event"] == "batch" and batch["rule"] == "desk"
        assert batch["id"].startswith("desk:batch:") and batch["id"].endswith("Z")
    assert sorted(e["story"]["title"] for b in batches for e in b["events"]) == sorted(
        [DEEPSEEK.title, CHIPS.title, BOTH.title]
    )
    if len(batches) > 1:
        return  # the straddling case: each window's message, checked above
    (batch,) = batches
    assert batch["topics"] == ["chip-exports", "deepseek"]
    (row,) = setup.rows()
    assert row.state == "delivered"
    assert {e.delivery_id for e in setup.events()} == {row.id}


def test_a_cluster_alerts_once_when_it_reaches_min_outlets(
    setup_factory: Any, web_server: WebServer, tmp_path: Path
) -> None:
    from monitor.demo.newsroom import THE_DAILY_TEST, Feed, Outlet
    from tests.support.paths import unrelated_seeds
    from tests.test_clusters import APP_STORE_A, APP_STORE_B

    wire = Outlet("wire", "Pacific Wire", style="wire")
    room = Newsroom(
        outlets=(THE_DAILY_TEST, wire),
        feeds=(
            Feed("tech", "", "/feeds/tech.xml", "The Daily Test: tech"),
            Feed("latest", "wire", "/feeds/latest.xml", "Pacific Wire"),
        ),
    )
    room.publish(APP_STORE_A, "tech")
    room.publish(APP_STORE_B, "latest")
    room.publish(CHIPS, "latest")
    receiver = Receiver(web_server, secret=SECRET)
    alerts = webhook_rule("two", receiver.url, 'on = ["cluster"]\nmin_outlets = 2') + (
        '[[alerts]]\nname = "three"\non = ["cluster"]\nmin_outlets = 3\n'
        'webhook = "http://127.0.0.1:9/never"\n'
    )
    setup = setup_factory(alerts, room, unrelated_seeds(tmp_path))
    setup.poll()
    setup.poll()
    assert [(e.rule, e.kind) for e in setup.events()] == [("two", "cluster")]
    setup.deliver_until(lambda: len(receiver.accepted) == 1)
    (payload,) = receiver.accepted.values()
    assert sorted(payload["cluster"]["outlets"]) == ["Pacific Wire", "The Daily Test"]
    assert payload["cluster"]["count"] == 2
    assert payload["story"]["title"] in (APP_STORE_A.title, APP_STORE_B.title)
    assert "deepseek" in payload["topics"]  # the story's topics (a rule for every topic)


def test_monitor_poll_sends_the_alerts_of_its_pass(
    setup_factory: Any, web_server: WebServer
) -> None:
    room = Newsroom()
    room.publish(DEEPSEEK, "tech")
    receiver = Receiver(web_server, secret=SECRET)
    setup = setup_factory(webhook_rule("desk", receiver.url), room)
    result = setup.cli("poll")
    assert result.exit_code == 0, result.output
    assert [p["story"]["title"] for p in receiver.accepted.values()] == [DEEPSEEK.title]
    assert [r.state for r in setup.rows()] == ["delivered"]


def test_alerts_test_says_what_an_apprise_channel_answered(
    setup_factory: Any, web_server: WebServer
) -> None:
    """No story stored yet: the sample is made up; a channel that refuses is exit 1 with
    Apprise's reason."""
    got: list[dict[str, Any]] = []

    def refuse(request: Request) -> Response:
        got.append(json.loads(request.body))
        return Response(status=500, body=b"no")

    def take(request: Request) -> Response:
        got.append(json.loads(request.body))
        return Response(status=200, body=b"{}")

    web_server.route("/refuse", handler=refuse)
    web_server.route("/take", handler=take)
    host = web_server.base_url.split("://", 1)[1]
    alerts = (
        f'[[alerts]]\nname = "ok"\napprise = "json://{host}/take"\n'
        f'[[alerts]]\nname = "bad"\napprise = "json://{host}/refuse"\n'
    )
    setup = setup_factory(alerts)
    good = setup.cli("alerts", "test", "ok")
    assert good.exit_code == 0, good.output
    assert good.stdout.strip().startswith("ok: delivered to json://… (")
    assert good.stdout.strip().endswith("sample: a made-up story (none stored yet)")
    assert got[0]["title"] == "all topics · new · monitor"
    bad = setup.cli("alerts", "test", "bad")
    assert bad.exit_code == 1
    assert bad.output.startswith("monitor: bad: json://… refused it (")
    assert "500" in bad.output
    assert setup.rows() == []  # a test is not recorded
