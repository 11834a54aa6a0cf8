"""Claims that cannot race: a source or story is in one worker's hands at a time, a stale
lease is taken over, a held one is not, and renewing keeps only what is still held."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.app import open_app
from monitor.demo.webserver import WebServer
from monitor.store import db, queries
from monitor.store.claims import renew_leases
from monitor.store.models import Source, Story
from monitor.store.source_state import FinishedSource, PollRecord, SourceStateWriter
from tests.support.databases import fresh_postgres_url
from tests.support.paths import unrelated_seeds

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
ROWS = 24
ROUNDS = 25

Claimer = Callable[[Session, str, int, datetime], list[int]]


def claim_sources(session: Session, owner: str, limit: int, now: datetime) -> list[int]:
    return [s.id for s in queries.claim_sources(session, NOW, owner, LEASE, limit=limit, now=now)]


def claim_stories(session: Session, owner: str, limit: int, now: datetime) -> list[int]:
    return [
        s.id for s in queries.claim_due_stories(session, NOW, owner, LEASE, limit=limit, now=now)
    ]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated database with ROWS due sources and ROWS stories due for a re-check."""
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine)
        with db.session_factory(engine).begin() as session:
            session.execute(
                insert(Source),
                [
                    {
                        "name": f"s{n:02d}",
                        "kind": "feed",
                        "url": f"http://127.0.0.1/{n}.xml",
                        "enabled": True,
                        "next_poll_at": NOW - timedelta(seconds=n),
                        "consecutive_failures": 0,
                        "created_at": NOW,
                    }
                    for n in range(ROWS)
                ],
            )
            session.execute(
                insert(Story),
                [
                    {
                        "url": f"http://127.0.0.1/news/{n}",
                        "first_seen_at": NOW,
                        "status": "active",
                        "next_check_at": NOW - timedelta(seconds=n),
                    }
                    for n in range(ROWS)
                ],
            )
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return db.session_factory(engine)


def owners(sessions: sessionmaker[Session], model: type[Source] | type[Story]) -> dict[int, str]:
    with sessions() as session:
        return {
            row_id: owner
            for row_id, owner in session.execute(select(model.id, model.lease_owner))
            if owner is not None
        }


def race(factories: list[sessionmaker[Session]], claimer: Claimer) -> dict[str, list[int]]:
    """Workers start together, each claiming three rows at a time until none is left (as a
    pass does): what each won, by owner."""
    start = threading.Barrier(len(factories))
    won: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def worker(sessions: sessionmaker[Session], owner: str) -> None:
        try:
            start.wait()
            mine: list[int] = []
            while True:
                with sessions.begin() as session:
                    batch = claimer(session, owner, 3, NOW)
                if not batch:
                    break
                mine.extend(batch)
            won[owner] = mine
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(factory, f"worker-{n}"))
        for n, factory in enumerate(factories)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return won


@pytest.mark.parametrize(
    ("model", "claimer"),
    [(Source, claim_sources), (Story, claim_stories)],
    ids=["sources", "stories"],
)
def test_two_workers_racing_for_the_same_rows_never_both_win(
    engine: Engine, db_url: str, model: type[Source] | type[Story], claimer: Claimer
) -> None:
    """Each worker has its own engine (its own connections), as two processes would."""
    other = db.make_engine(db_url)
    try:
        factories = [db.session_factory(engine), db.session_factory(other)]
        for round_ in range(ROUNDS):
            with factories[0].begin() as session:
                session.execute(update(model).values(lease_owner=None, lease_expires_at=None))
            won = race(factories, claimer)
            first, second = won["worker-0"], won["worker-1"]
            assert set(first) & set(second) == set(), f"round {round_}: both won some rows"
            assert len(first) + len(second) == ROWS, f"round {round_}: rows left unclaimed"
            expected = {row_id: "worker-0" for row_id in first}
            expected.update({row_id: "worker-1" for row_id in second})
            assert owners(factories[0], model) == expected, f"round {round_}"
    finally:
        other.dispose()


def test_claims_take_the_most_overdue_first_and_give_the_claimed_state(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        session.execute(update(Source).where(Source.name == "s23").values(etag='"v7"'))
    with sessions.begin() as session:
        claimed = queries.claim_sources(session, NOW, "me", LEASE, limit=2)
    assert [(s.name, s.etag) for s in claimed] == [("s23", '"v7"'), ("s22", None)]
    with sessions.begin() as session:
        stories = queries.claim_due_stories(session, NOW, "me", LEASE, limit=2)
    assert [s.url for s in stories] == ["http://127.0.0.1/news/23", "http://127.0.0.1/news/22"]
    assert all(s.lease_owner == "me" for s in stories)


def test_a_held_claim_is_not_taken_and_a_stale_one_is(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        first = claim_sources(session, "first", ROWS, NOW)
    assert len(first) == ROWS
    with sessions.begin() as session:  # the lease runs until NOW + 5 min
        assert claim_sources(session, "second", ROWS, NOW + timedelta(minutes=4)) == []
    with sessions.begin() as session:
        second = claim_sources(session, "second", ROWS, NOW + timedelta(minutes=6))
    assert sorted(second) == sorted(first)
    assert set(owners(sessions, Source).values()) == {"second"}


def test_named_sources_are_claimed_whatever_their_schedule_but_not_from_a_holder(
    sessions: sessionmaker[Session],
) -> None:
    """`monitor poll --source NAME` polls a source that is not due, unless a worker has it."""
    with sessions.begin() as session:
        session.execute(update(Source).values(next_poll_at=NOW + timedelta(hours=1)))
        assert queries.claim_sources(session, NOW, "service", LEASE) == []  # none is due
    with sessions.begin() as session:
        named = queries.claim_sources(session, NOW, "cli", LEASE, names=["s01", "s02"])
    assert sorted(s.name for s in named) == ["s01", "s02"]
    with sessions.begin() as session:
        assert queries.claim_sources(session, NOW, "cli-2", LEASE, names=["s01"]) == []


def test_renewal_extends_only_the_leases_the_owner_still_holds(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        mine = claim_sources(session, "me", 3, NOW)
        theirs = claim_sources(session, "them", 1, NOW)
    released, kept, taken_over = mine  # s23, s22, s21: the most overdue first
    with sessions.begin() as session:
        session.execute(
            update(Source)
            .where(Source.id == released)
            .values(lease_owner=None, lease_expires_at=None)
        )
        # "me" was too slow with `taken_over`: its lease ran out and another worker has it.
        session.execute(
            update(Source)
            .where(Source.id == taken_over)
            .values(lease_expires_at=NOW - timedelta(seconds=1))
        )
        (rescued,) = queries.claim_sources(session, NOW, "rescuer", LEASE, names=["s21"])
    assert rescued.id == taken_over
    later = NOW + timedelta(minutes=20)
    with sessions.begin() as session:
        held = renew_leases(session, Source, "me", [*mine, *theirs], later)
    assert held == {kept}
    with sessions() as session:
        leases = {
            row_id: (owner, until)
            for row_id, owner, until in session.execute(
                select(Source.id, Source.lease_owner, Source.lease_expires_at).where(
                    Source.id.in_([*mine, *theirs])
                )
            )
        }
    assert leases == {
        released: (None, None),
        kept: ("me", later),
        taken_over: ("rescuer", NOW + LEASE),
        theirs[0]: ("them", NOW + LEASE),
    }
    with sessions.begin() as session:  # the renewed lease outlives the others
        late = claim_sources(session, "late", ROWS, NOW + timedelta(minutes=10))
    assert late != [] and kept not in late
    assert owners(sessions, Source)[kept] == "me"


def test_renewal_keeps_a_lapsed_lease_no_one_took_over(sessions: sessionmaker[Session]) -> None:
    """Nobody else started on the row, so its owner may carry on; a claim after the
    renewal finds it held."""
    with sessions.begin() as session:
        (story,) = claim_stories(session, "me", 1, NOW)
    late = NOW + LEASE + timedelta(minutes=1)
    with sessions.begin() as session:
        assert renew_leases(session, Story, "me", [story], late + LEASE) == {story}
    with sessions.begin() as session:
        assert story not in claim_stories(session, "other", ROWS, late)
    with sessions.begin() as session:
        assert renew_leases(session, Story, "me", [], late) == set()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL: see below
def test_a_source_polled_by_another_worker_meanwhile_is_not_claimed_again(
    engine: Engine, db_url: str
) -> None:
    """Between this worker's choice of candidates and its UPDATE, another worker claims the
    source, polls it and writes its new state (lease ended, next poll in an hour): the
    UPDATE sees that it is no longer due and wins nothing. (On PostgreSQL the candidate
    rows are locked until the claim commits, so the other worker skips them instead: the
    race tests cover that.)"""
    other = db.make_engine(db_url)
    sessions, others = db.session_factory(engine), db.session_factory(other)
    with sessions.begin() as session:
        session.execute(update(Source).where(Source.name != "s05").values(enabled=False))
    interposed: list[list[int]] = []

    def poll_elsewhere(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if interposed or not statement.lstrip().upper().startswith("SELECT"):
            return
        with others.begin() as session:
            won = claim_sources(session, "other", ROWS, NOW)
        interposed.append(won)
        writer = SourceStateWriter(others, "other")
        for source_id in won:
            state = {"next_poll_at": NOW + timedelta(hours=1), "last_polled_at": NOW}
            writer.add(FinishedSource(source_id, PollRecord(started_at=NOW, status=200), state))
        writer.flush()

    event.listen(engine, "after_cursor_execute", poll_elsewhere)
    try:
        with sessions.begin() as session:
            mine = claim_sources(session, "me", ROWS, NOW)
    finally:
        event.remove(engine, "after_cursor_execute", poll_elsewhere)
        other.dispose()
    assert len(interposed) == 1 and len(interposed[0]) == 1, "the other worker polled s05"
    assert mine == []
    with sessions() as session:
        source = session.scalars(select(Source).where(Source.name == "s05")).one()
    assert (source.lease_owner, source.next_poll_at) == (None, NOW + timedelta(hours=1))


# ---------------------------------------------------------------- as a user runs it

FEEDS = 24
MONITOR = [sys.executable, "-c", "from monitor.cli import main; main()"]


def serve_feeds(server: WebServer) -> None:
    """FEEDS feeds of one story each."""
    for n in range(FEEDS):
        link = server.url(f"/news/{n}")
        rss = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>f</title>'
            f"<item><title>DeepSeek story {n}</title><link>{link}</link></item></channel></rss>"
        )
        server.route(f"/feeds/{n}.xml", rss, content_type="application/rss+xml")
        server.route(
            f"/news/{n}",
            f"<html><head><title>DeepSeek story {n}</title></head><body><article>"
            f"<h1>DeepSeek story {n}</h1><p>Story {n} about DeepSeek. "
            f"{' '.join(f'word{n}x{i}' for i in range(150))}</p></article></body></html>",
        )


def write_config(folder: Path, server: WebServer, database_url: str) -> Path:
    """One source at a time per process: many small claims, each a chance to race the other
    process's (with the old SELECT-then-UPDATE claim, about every other run polled a feed
    twice)."""
    sources = "".join(
        f'[[sources]]\nname = "feed-{n:02d}"\nurl = "{server.url(f"/feeds/{n}.xml")}"\n'
        for n in range(FEEDS)
    )
    config = folder / "monitor.toml"
    config.write_text(
        f"""
[database]
url = "{database_url}"
[fetch]
concurrency = 1
per_host_concurrency = 4
per_host_delay = "0s"
timeout = "10s"
allow_private_addresses = true
respect_robots = false
[polling]
interval = "1h"
recheck = ["1h"]
[service]
lease = "2m"
shutdown_timeout = "5s"
[seeds]
path = "{unrelated_seeds(folder)}"
[[topics]]
name = "deepseek"
keywords = ["DeepSeek"]
{sources}""",
        encoding="utf-8",
    )
    return config


def start(config: Path, *args: str) -> subprocess.Popen[str]:
    """A `monitor` process; its stderr goes to a log file next to the config."""
    with (config.parent / f"{args[0]}-{time.monotonic_ns()}.log").open("w") as log:
        return subprocess.Popen(
            [*MONITOR, "--config", str(config), *args],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )


def logs(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(folder.glob("*.log")))


def polled_sources(database_url: str) -> int:
    engine = db.make_engine(database_url)
    try:
        with engine.connect() as connection:
            query = (
                select(func.count()).select_from(Source).where(Source.last_polled_at.is_not(None))
            )
            return int(connection.execute(query).scalar() or 0)
    finally:
        engine.dispose()


def finish(process: subprocess.Popen[str], *, terminate: bool = False) -> str:
    """Its stdout once it has exited (asked to, with SIGTERM, when `terminate`)."""
    if terminate and process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def listed(config: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [*MONITOR, "--config", str(config), "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    stories: list[dict[str, Any]] = json.loads(done.stdout)
    return stories


def assert_each_fetched_once(server: WebServer, config: Path) -> None:
    """What the user sees: each feed and each article asked for once, each story listed once."""
    assert [server.count(f"/feeds/{n}.xml") for n in range(FEEDS)] == [1] * FEEDS, logs(
        config.parent
    )
    assert [server.count(f"/news/{n}") for n in range(FEEDS)] == [1] * FEEDS
    assert sorted(story["title"] for story in listed(config)) == sorted(
        f"DeepSeek story {n}" for n in range(FEEDS)
    )


@pytest.mark.integration
def test_the_service_and_a_cli_poll_on_one_sqlite_file_poll_each_source_once(
    tmp_path: Path, web_server: WebServer
) -> None:
    serve_feeds(web_server)
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    config = write_config(tmp_path, web_server, url)
    service = start(config, "run")
    poll = start(config, "poll", "--json")
    try:
        report = json.loads(finish(poll))
        deadline = time.monotonic() + 60
        while polled_sources(url) < FEEDS and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        finish(service, terminate=True)
        finish(poll, terminate=True)
    assert (poll.returncode, service.returncode) == (0, 0), logs(tmp_path)
    assert report["errors"] == [] and 0 <= report["sources_polled"] <= FEEDS
    assert_each_fetched_once(web_server, config)


@pytest.mark.integration
@pytest.mark.postgres
def test_two_cli_polls_at_once_on_postgresql_poll_each_source_once(
    tmp_path: Path, web_server: WebServer
) -> None:
    serve_feeds(web_server)
    url = fresh_postgres_url()
    config = write_config(tmp_path, web_server, url)
    subprocess.run(
        [*MONITOR, "--config", str(config), "db", "upgrade"], check=True, capture_output=True
    )
    polls = [start(config, "poll", "--json") for _ in range(2)]
    try:
        reports = [json.loads(finish(poll)) for poll in polls]
    finally:
        for poll in polls:
            finish(poll, terminate=True)
    assert [poll.returncode for poll in polls] == [0, 0], logs(tmp_path)
    assert sum(report["sources_polled"] for report in reports) == FEEDS
    assert all(report["errors"] == [] for report in reports)
    assert_each_fetched_once(web_server, config)


def test_a_source_still_working_keeps_its_lease(tmp_path: Path, web_server: WebServer) -> None:
    """A source whose article takes longer than a whole lease is not taken over meanwhile:
    its lease is renewed while it works, and released when it is written."""
    import asyncio

    from monitor.demo.newsroom import Newsroom
    from monitor.demo.webserver import Response, slow
    from tests.test_end_to_end import DEEPSEEK, write_config

    room = Newsroom()
    room.serve(web_server)
    room.publish(DEEPSEEK, "tech")
    page = room.article_html(DEEPSEEK.slug, web_server.base_url)
    assert page is not None
    web_server.route(f"/news/{DEEPSEEK.slug}", response=slow(3, Response(body=page)))
    config = write_config(tmp_path, web_server, f"sqlite:///{tmp_path / 'lease.db'}")
    config.write_text(config.read_text() + '\n[service]\nlease = "1s"\n')
    app = open_app(config)
    try:
        app.sync()
        taken_over: list[object] = []

        async def other_worker() -> None:
            await asyncio.sleep(2)  # the first lease (1 s) has long run out by now
            with app.sessions.begin() as session:
                taken_over.extend(
                    queries.claim_sources(
                        session,
                        datetime.now(UTC) + timedelta(days=1),
                        "other-worker",
                        timedelta(minutes=5),
                        names=["daily-test-tech"],
                        limit=1,
                        now=datetime.now(UTC),
                    )
                )

        async def both() -> None:
            async with app.pipeline() as pipeline:
                await asyncio.gather(
                    pipeline.run_pass(["daily-test-tech"], recheck=False), other_worker()
                )

        asyncio.run(both())
        assert taken_over == []
        with app.sessions() as session:
            source = session.scalars(select(Source).where(Source.name == "daily-test-tech")).one()
            assert (source.lease_owner, source.last_status) == (None, 200)
    finally:
        app.close()
