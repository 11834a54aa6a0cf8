"""The read commands read on the DB-API (monitor.store.reads) what the web API and the rest
read through SQLAlchemy (monitor.store.queries): on a varied database, on SQLite and on
PostgreSQL, `monitor list/show/diff/status --json` print exactly the documents that the
SQLAlchemy-based functions build. And the read path still migrates an out-of-date SQLite
file and refuses an out-of-date PostgreSQL database in one line, as every command does."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bench import startup
from monitor import reports, views
from monitor.app import app_context
from monitor.cli import cli
from monitor.core.breakage import Stats
from monitor.core.diff import compute_diff, diff_to_json, version_text
from monitor.store import db, queries
from monitor.store.models import (
    AlertDelivery,
    AlertEvent,
    LinkFailure,
    Poll,
    Seed,
    Source,
    SourceExtraction,
    Story,
    StoryAlias,
    StoryTopic,
    Version,
)
from tests.support.databases import fresh_postgres_url, sqlite_url

TOPICS = ["chip-exports", "deepseek", "Ölpreis", "stargate"]
SOURCES = ["outlet-a", "outlet-b", "outlet-c", "outlet-ä"]
TITLES = [
    "Export controls: licences reviewed case by case",
    "Ausfuhrkontrollen für Chips — „H20“ gestoppt",
    "出口管制：英伟达 H20 芯片",
    "DeepSeek's new model 🚀 tops the charts",
    "Stargate: the first site opens in Abilene",
    "Ölpreis steigt nach Förderkürzung",
]


def write_config(folder: Path, url: str) -> Path:
    return startup.write_config(folder, url, {name: ["H20"] for name in TOPICS}, SOURCES)


def fill(config: Path, now: datetime) -> None:
    """Sources in every state, stories new, changed, removed and restored, duplicates of a
    seed and of a story, clusters, off-topic and failed stories, aliases, failing links,
    polls, degraded extraction and alert deliveries; text in several scripts."""
    with app_context(config, migrate=False) as app:
        db.upgrade(app.engine)
        app.sync()
        with app.sessions.begin() as session:
            sources = {s.name: s for s in session.query(Source)}
            seed_id = session.scalars(select(Seed.id)).first()
            a, b, c, d = (sources[name] for name in SOURCES)
            a.last_success_at = now - timedelta(hours=5, minutes=30)
            b.consecutive_failures, b.last_error = 3, "HTTP 503"
            b.next_poll_at = now - timedelta(hours=3)
            c.warning = "the feed has an undefined entity"
            c.last_success_at = now - timedelta(hours=2, minutes=30)
            d.enabled = False
            stats = replace(Stats(), seen=12).as_json()
            session.add(
                SourceExtraction(
                    source_id=a.id,
                    stats=stats,
                    degraded_reason="most pages have no text",
                    degraded_since=now - timedelta(hours=4),
                    held=2,
                    updated_at=now,
                )
            )
            session.add(SourceExtraction(source_id=c.id, stats=stats, held=0, updated_at=now))
            for minutes, error in ((10, None), (20, "timed out"), (30, "HTTP 503"), (200, None)):
                session.add(
                    Poll(
                        source_id=b.id if error else a.id,
                        started_at=now - timedelta(minutes=minutes),
                        duration=0.5,
                        status=None if error else 200,
                        error=error,
                    )
                )
            stories = []
            for index in range(16):
                seen = now - timedelta(hours=3 * index + 1)
                versions = 1 + index % 3
                source = [a, b, c, d, None][index % 5]
                story = Story(
                    url=f"https://outlet.example.org/{index}/{TITLES[index % len(TITLES)][:5]}",
                    source_id=source.id if source else None,
                    first_seen_at=seen,
                    status="offtopic" if index == 7 else "failed" if index == 11 else "active",
                    title=TITLES[index % len(TITLES)] + f" ({index})",
                    outlet="The Daily Demo" if index % 2 else None,
                    published_at=seen - timedelta(hours=1) if index % 4 else None,
                    version_count=versions,
                    last_changed_at=seen + timedelta(hours=versions) if versions > 1 else None,
                    change_class=["major", "removed", "restored"][index % 3]
                    if versions > 1
                    else None,
                    next_check_at=now - timedelta(minutes=5) if index % 2 else now + timedelta(1),
                    recheck_step=0,
                    canonical_hint="https://partner.example.com/original" if index == 4 else None,
                    cluster_id=1 if index in (1, 2, 3) else None,
                )
                if index == 5:
                    story.duplicate_kind, story.duplicate_of_seed_id = "seed", seed_id
                    story.similarity = 0.93
                topics = [TOPICS[(index + k) % len(TOPICS)] for k in range(1 + index % 3)]
                story.topics = [
                    StoryTopic(
                        topic=name,
                        terms=["H20", "export controls"][: 1 + k % 2],
                        matched_by=[None, "keywords", "query", "like"][(index + k) % 4],
                        example="the first seed" if (index + k) % 4 == 3 else None,
                        score=0.71 if (index + k) % 4 == 3 else None,
                    )
                    for k, name in enumerate(reversed(topics))
                ]
                session.add(story)
                session.flush()
                stories.append(story)
                for number in range(1, versions + 1):
                    removed = story.change_class == "removed" and number == versions
                    session.add(
                        Version(
                            story_id=story.id,
                            number=number,
                            fetched_at=seen + timedelta(hours=number - 1),
                            title=story.title + ("" if number == 1 else f" – update {number}"),
                            byline="Zoë Müller" if index % 2 else None,
                            published_at=story.published_at,
                            canonical_url=story.url if index % 3 else None,
                            final_url=story.url,
                            charset="utf-8" if number > 1 else None,
                            text=""
                            if removed
                            else "\n\n".join(
                                f"{TITLES[(index + p) % len(TITLES)]}: paragraph {p}, version "
                                f"{number}."
                                for p in range(3 + number)
                            ),
                            content_hash=f"{index:04d}-{number}",
                            change_class=None if number == 1 else "removed" if removed else "minor",
                            words_added=3 * (number - 1),
                            words_removed=number - 1,
                        )
                    )
            stories[6].duplicate_kind, stories[6].duplicate_of_story_id = "story", stories[0].id
            stories[6].similarity = 0.88
            for suffix in ("?amp=1", "", "/print", "?utm_source=x"):
                session.add(
                    StoryAlias(
                        key=f"alias-{suffix}", url=stories[1].url + suffix, story_id=stories[1].id
                    )
                )
            for index, ahead in enumerate((timedelta(hours=2), -timedelta(hours=2))):
                session.add(
                    LinkFailure(
                        key=f"link-{index}",
                        url=f"https://outlet.example.org/gone/{index}",
                        source_id=b.id,
                        failures=2,
                        last_status=404,
                        last_error="HTTP 404",
                        last_failed_at=now - timedelta(hours=1),
                        next_attempt_at=now + ahead,
                    )
                )
            for index, state in enumerate(("pending", "failed", "failed", "delivered")):
                session.add(
                    AlertDelivery(
                        key=f"delivery-{index}",
                        rule="newsroom",
                        state=state,
                        created_at=now - timedelta(hours=1),
                        give_up_at=now + timedelta(days=1),
                    )
                )
            session.add(
                AlertEvent(
                    key="event-batched",
                    rule="newsroom",
                    kind="new",
                    story_id=stories[0].id,
                    payload="{}",
                    created_at=now,
                )
            )


@pytest.fixture(params=["sqlite", "postgres"])
def varied(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    url = sqlite_url(tmp_path) if request.param == "sqlite" else fresh_postgres_url()
    config = write_config(tmp_path, url)
    fill(config, datetime.now(UTC))
    return config


def printed(config: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def as_printed(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


WINDOWS: list[tuple[list[str], queries.ListFilter]] = [
    ([], queries.ListFilter(since=None)),
    (["--new"], queries.ListFilter(since=None, changed=False)),
    (["--changed"], queries.ListFilter(since=None, new=False)),
    (["--removed"], queries.ListFilter(since=None, new=False, changed=False, removed=True)),
    (["--include-duplicates"], queries.ListFilter(since=None, include_duplicates=True)),
    (["--topic", "Ölpreis"], queries.ListFilter(since=None, topics=("Ölpreis",))),
    (
        ["--topic", "deepseek", "--topic", "stargate"],
        queries.ListFilter(since=None, topics=("deepseek", "stargate")),
    ),
]


def test_the_read_commands_print_what_sqlalchemy_reads(varied: Path) -> None:
    cutoff = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=20)
    with app_context(varied) as app, app.sessions() as session:
        for flags, flt in WINDOWS:
            for since, bound in (("all", None), (views.iso(cutoff), cutoff)):
                wanted = queries.list_stories(session, replace(flt, since=bound))
                assert wanted or flags[:1] == ["--removed"]
                shown = printed(varied, "list", "--json", "--since", str(since), *flags)
                assert shown == as_printed([views.story_summary(s) for s in wanted]), flags
        stories = queries.list_stories(session, queries.ListFilter(since=None))
        clusters = reports.cluster_rows(queries.clusters(session, stories))
        assert printed(varied, "list", "--clusters", "--json", "--since", "all") == as_printed(
            clusters
        )
        every = list(session.scalars(select(Story).order_by(Story.id)))
        assert {s.status for s in every} == {"active", "offtopic", "failed"}
        for story in every:
            detail = views.story_detail(
                story, queries.versions(session, story.id), queries.aliases(session, story.id)
            )
            assert printed(varied, "show", str(story.id), "--json") == as_printed(detail)
            if story.version_count < 2:
                continue
            for numbers in (
                (story.version_count - 1, story.version_count),
                (1, story.version_count),
            ):
                old, new = (queries.version(session, story.id, n) for n in numbers)
                assert old is not None and new is not None
                document = diff_to_json(
                    compute_diff(version_text(old), version_text(new)), story.id, *numbers
                )
                document["change_class"] = new.change_class
                shown = printed(
                    varied, "diff", str(story.id), "--json", "--from", str(numbers[0]),
                    "--to", str(numbers[1]),
                )  # fmt: skip
                assert shown == as_printed(document)
        facts = reports.status_facts(session, app.engine, app.config, app.clock())
    status = printed(varied, "status", "--json")
    assert status == as_printed(reports.status_document(facts))
    assert json.loads(status)["sources_failing"] == ["outlet-b"]
    assert json.loads(status)["extraction"]["held"] == 2


def test_an_out_of_date_sqlite_file_is_migrated_by_a_read_command(tmp_path: Path) -> None:
    config = write_config(tmp_path, sqlite_url(tmp_path))
    with app_context(config, migrate=False) as app:
        from alembic import command

        command.upgrade(db.alembic_config(app.engine), "0011")
        assert db.current_revision(app.engine) == "0011"
    assert printed(config, "list", "--json", "--since", "all") == "[]\n"
    with app_context(config, migrate=False) as app:
        assert db.current_revision(app.engine) == db.HEAD_REVISION


def test_a_new_sqlite_file_is_created_by_a_read_command(tmp_path: Path) -> None:
    config = write_config(tmp_path, sqlite_url(tmp_path))
    assert json.loads(printed(config, "status", "--json"))["stories"] == 0
    assert (tmp_path / "monitor.db").is_file()


@pytest.mark.parametrize("revision", [None, "0011"])
def test_an_out_of_date_postgres_database_is_refused_in_one_line(
    tmp_path: Path, revision: str | None
) -> None:
    config = write_config(tmp_path, fresh_postgres_url())
    if revision is not None:
        with app_context(config, migrate=False) as app:
            from alembic import command

            command.upgrade(db.alembic_config(app.engine), revision)
    state = "has no schema" if revision is None else f"is at revision {revision}, not 0012"
    for command_line in (["list"], ["show", "1"], ["diff", "1"], ["status", "--json"]):
        result = CliRunner().invoke(cli, ["--config", str(config), *command_line])
        assert (result.exit_code, result.stdout, result.stderr) == (
            3,
            "",
            f"monitor: the database {state}: run `monitor db upgrade`\n",
        )
