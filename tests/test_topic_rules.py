"""Topic queries and examples through the whole path: a local newsroom polled with the default
topics, why each story matched (`monitor show`), `monitor topics test`, and stored stories
matched again when the rules change."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email import message_from_string
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from monitor.app import open_app
from monitor.cli import cli
from monitor.config import load_config
from monitor.core.topics import TopicRule
from monitor.demo.newsroom import NewsArticle, Newsroom
from monitor.demo.webserver import WebServer
from monitor.store.models import Source, Story, StoryTopic, Version
from monitor.store.topic_rules import BATCH, build_rules, reevaluate
from tests.test_end_to_end import CHIPS, DEEPSEEK, FOOTBALL, STARGATE, Monitor

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = (ROOT / "config" / "monitor.toml").read_text(encoding="utf-8")
DEFAULT_TOPICS = DEFAULTS[DEFAULTS.index("[matching]") : DEFAULTS.index("# Sources:")]

# The seed article as another outlet retells it, its maker unnamed: no query term, only
# its likeness to the seed.
UNNAMED = NewsArticle(
    slug="assistant-tops-chart",
    title="AI assistant overtakes ChatGPT on Apple's chart in under three weeks",
    byline="Wire staff",
    paragraphs=(
        "An AI assistant released just 17 days ago has overtaken OpenAI's ChatGPT to become "
        "the top-rated free app on Apple's U.S. App Store, according to a report published on "
        "January 27.",
        "Its developer says the assistant runs on its V3 model, an open-source alternative "
        "that it claims can compete with the leading closed-source models, a boast that has "
        "drawn attention in Silicon Valley.",
        "The surge has revived the debate over U.S. chip export controls. The developer's "
        "researchers wrote that the model was trained on Nvidia H800 chips for less than $6 "
        "million, raising questions about restrictions the Biden administration has expanded "
        "since 2021.",
        "Venture capitalist Nic Carter said the app's success dispels the notion that the "
        "United States holds an unassailable lead in artificial intelligence.",
    ),
)
# Named once, in a list further down: not about it.
APP_LIST = NewsArticle(
    slug="best-free-apps",
    title="The 50 best free iPhone apps this year",
    byline="Reviews desk",
    paragraphs=(
        "Whether you just bought a new iPhone or want to refresh your home screen, these are "
        "the free apps worth downloading, from photo editors to budgeting tools.",
        "Our picks include maps, music, language lessons and note-taking apps, plus chatbots "
        "such as ChatGPT, Claude, Gemini, Perplexity and DeepSeek.",
        "For each app we note what is free and what needs a subscription.",
    ),
)
STARGATE_FILM = NewsArticle(
    slug="stargate-at-30",
    title="Stargate at 30: how a sci-fi gamble became a franchise",
    byline="Film desk",
    paragraphs=(
        "When Stargate opened in October 1994, critics were lukewarm. Instead the film about "
        "an ancient ring that opens a portal to a desert planet became a surprise hit.",
        "Its success led to Stargate SG-1 and two more television series.",
    ),
)


def write_config(folder: Path, server: WebServer, db_url: str, topics: str) -> Path:
    seeds = ROOT / "config" / "seeds"
    config = folder / "monitor.toml"
    config.write_text(
        f"""
[database]
url = "{db_url}"
[fetch]
timeout = "5s"
per_host_delay = "0s"
per_host_concurrency = 4
allow_private_addresses = true
[polling]
interval = "1s"
recheck = ["1h"]
[seeds]
path = "{seeds}"
{topics}
[[sources]]
name = "daily-test-tech"
url = "{server.url("/feeds/tech.xml")}"
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def newsroom(web_server: WebServer) -> Newsroom:
    room = Newsroom()
    room.serve(web_server)
    for article in (DEEPSEEK, CHIPS, STARGATE, UNNAMED, APP_LIST, STARGATE_FILM, FOOTBALL):
        room.publish(article, "tech")
    return room


def by_title(monitor: Monitor) -> dict[str, dict[str, object]]:
    return {s["title"]: s for s in monitor.json("list", "--since", "all")}


def test_default_topics_find_explain_and_try(
    tmp_path: Path, web_server: WebServer, newsroom: Newsroom, db_url: str
) -> None:
    config = write_config(tmp_path, web_server, db_url, DEFAULT_TOPICS)
    monitor = Monitor(config, CliRunner())
    monitor("db", "upgrade")
    assert "4 new" in monitor("poll")
    listed = by_title(monitor)
    assert {title: s["topics"] for title, s in listed.items()} == {
        DEEPSEEK.title: ["deepseek"],
        CHIPS.title: ["chip-exports"],
        STARGATE.title: ["stargate"],
        UNNAMED.title: ["deepseek"],
    }

    # why: the query's terms, or the example and its score
    named = monitor.json("show", str(listed[DEEPSEEK.title]["id"]))
    assert named["matched"] == [
        {
            "topic": "deepseek",
            "by": "query",
            "terms": ["lead:DeepSeek* (deepseek)", "lead:Hangzhou", 'lead:"reasoning model"'],
            "example": None,
            "score": None,
            "explanation": (
                'query terms lead:DeepSeek* (deepseek), lead:Hangzhou, lead:"reasoning model"'
            ),
        }
    ]
    unnamed = monitor.json("show", str(listed[UNNAMED.title]["id"]))
    (like,) = unnamed["matched"]
    assert like["by"] == "like" and like["example"] == "seed 000_9edbe6fc9148524f"
    assert 0.25 <= like["score"] < 1
    shown = monitor("show", str(listed[UNNAMED.title]["id"]))
    assert f"in deepseek: similar to seed 000_9edbe6fc9148524f (score {like['score']:.2f})" in shown
    # the digest says why a story is there when no word of the topic's is in it
    message = message_from_string(monitor("digest", "--since", "1h", "--to", "desk@example.org"))
    parts = {
        part.get_content_type(): cast(bytes, part.get_payload(decode=True)).decode()
        for part in message.walk()
        if not part.is_multipart()
    }
    digest = parts["text/plain"]
    assert "why: similar to seed 000_9edbe6fc9148524f" in parts["text/html"]
    entry = digest[digest.index(UNNAMED.title) :]
    assert entry.index(f"why: similar to seed 000_9edbe6fc9148524f (score {like['score']:.2f})") < (
        entry.index("\n* ") if "\n* " in entry else len(entry)
    )
    assert digest.count("why: ") == 1  # stories matched by their words need no "why"
    shown = monitor("show", str(listed[CHIPS.title]["id"]))
    assert "in chip-exports: query terms export* (export), control* (controls)" in shown

    # a topic tried as configured: nothing to add or drop
    tried = monitor.json("topics", "test", "deepseek")
    assert tried["stories"] == 7 and tried["matches"] == 2
    assert tried["added"] == [] and tried["dropped"] == []
    # an ad-hoc query against a topic: what it would add and drop
    tried = monitor.json("topics", "test", "Stargate", "--topic", "stargate", "--since", "all")
    assert [row["title"] for row in tried["added"]] == [STARGATE_FILM.title]
    assert tried["dropped"] == []
    text = monitor("topics", "test", "DeepSeek OR title:cup", "--topic", "deepseek")
    # the app list is stored off-topic without its text: only its headline is matched
    assert (
        "2 matches; compared with topic deepseek as stored: 1 would be added, 1 would be "
        "dropped" in text
    )
    added = text[text.index("would be added:") : text.index("would be dropped:")]
    dropped = text[text.index("would be dropped:") : text.index("sample of the matches")]
    assert FOOTBALL.title in added and UNNAMED.title in dropped
    assert "lead:DeepSeek*" not in text  # the ad-hoc query's terms, not the topic's
    assert "query terms title:cup" in text
    sample = text[text.index("sample of the matches") :]  # piped: the terms between asterisks
    assert "Late goal settles a tense *cup* final" in sample
    assert "*DeepSeek* raises prices" in sample


def test_a_query_error_and_an_unknown_topic_are_one_line(
    tmp_path: Path, web_server: WebServer, db_url: str
) -> None:
    config = write_config(tmp_path, web_server, db_url, DEFAULT_TOPICS)
    Monitor(config, CliRunner())("db", "upgrade")
    for args, message in (
        (
            ("chips AND (",),
            "monitor: 'chips AND (' is not a topic (topics: deepseek, chip-exports, stargate) "
            "nor a query: column 12: the query ends where a term was expected\n",
        ),
        (
            ("chips", "--topic", "chip"),
            "monitor: no topic named 'chip' (topics: deepseek, chip-exports, stargate)\n",
        ),
    ):
        result = CliRunner().invoke(cli, ["--config", str(config), "topics", "test", *args])
        assert result.exit_code != 0
        assert result.stderr == message


def test_changed_rules_match_stored_stories_again(
    tmp_path: Path, web_server: WebServer, newsroom: Newsroom, db_url: str
) -> None:
    topics = '[[topics]]\nname = "deepseek"\nquery = "DeepSeek"\n'
    config = write_config(tmp_path, web_server, db_url, topics)
    monitor = Monitor(config, CliRunner())
    monitor("db", "upgrade")
    assert "2 new" in monitor("poll")  # DEEPSEEK and APP_LIST: the name anywhere
    assert set(by_title(monitor)) == {DEEPSEEK.title, APP_LIST.title}

    # the rule narrowed, a new topic whose headline matches a story stored off-topic
    topics = (
        '[[topics]]\nname = "deepseek"\nquery = "title:DeepSeek"\n'
        '[[topics]]\nname = "football"\nquery = "title:(cup OR goal)"\n'
    )
    write_config(tmp_path, web_server, db_url, topics)
    monitor("poll")
    listed = by_title(monitor)
    assert {t: s["topics"] for t, s in listed.items()} == {
        DEEPSEEK.title: ["deepseek"],
        FOOTBALL.title: ["football"],
    }
    # the story stored off-topic had no text: it was fetched at once
    football = monitor.json("show", str(listed[FOOTBALL.title]["id"]))
    assert football["version_count"] == 1 and "header in the last minute" in football["text"]
    # unchanged rules: nothing matched again
    assert "topics changed" not in monitor("poll")


def test_housekeeping_weighs_the_examples_by_the_stories_stored_since(
    tmp_path: Path, web_server: WebServer, newsroom: Newsroom, db_url: str
) -> None:
    """The words of the examples are weighed by the stored corpus at start and again by
    housekeeping: a word all the examples have, and few stored stories, counts for more."""
    config = write_config(tmp_path, web_server, db_url, DEFAULT_TOPICS)
    Monitor(config, CliRunner())("db", "upgrade")
    app = open_app(config)
    app.sync()

    async def run() -> tuple[float, float]:
        async with app.pipeline() as pipeline:
            before = _idf(pipeline.stories.rules, "chatgpt")
            await pipeline.run_pass()  # prepares the topics, then stores the newsroom's stories
            pipeline.refresh_topics()
            return before, _idf(pipeline.stories.rules, "chatgpt")

    try:
        before, after = asyncio.run(run())
    finally:
        app.close()
    assert after > before  # the stored stories joined the corpus: few have the word


def _idf(rules: tuple[TopicRule, ...], word: str) -> float:
    (like,) = [rule.like for rule in rules if rule.like is not None]
    return like.idf[word]


def test_many_stored_stories_are_matched_again_in_batches(tmp_path: Path, db_url: str) -> None:
    """More stories than one batch (topic_rules.BATCH), listed and off-topic, some outside
    the window: each lands where the new rules put it, and only those in the window move."""
    config_path = tmp_path / "monitor.toml"
    config_path.write_text(
        f'[database]\nurl = "{db_url}"\n[seeds]\npath = "{ROOT / "config" / "seeds"}"\n'
        '[matching]\nreevaluate = "10d"\n'
        '[[topics]]\nname = "chips"\nquery = "title:chip*"\n',
        encoding="utf-8",
    )
    Monitor(config_path, CliRunner())("db", "upgrade")
    app = open_app(config_path)
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    count = BATCH * 2 + 50
    try:
        with app.sessions.begin() as session:
            source = Source(name="s", kind="feed", url="https://example.org/f", created_at=now)
            session.add(source)
            session.flush()
            for n in range(count):
                chips = n % 3 == 0  # the headline says chips; others were listed by a word
                story = Story(
                    url=f"https://example.org/{n}",
                    source_id=source.id,
                    first_seen_at=now - timedelta(days=20 if n % 10 == 9 else 1),
                    title=f"Story {n} about {'chips' if chips else 'rules'}",
                    status="active" if n % 2 == 0 else "offtopic",
                    version_count=1 if n % 2 == 0 else 0,
                )
                session.add(story)
                session.flush()
                if n % 2 == 0:
                    session.add(
                        Version(
                            story_id=story.id,
                            number=1,
                            fetched_at=now,
                            title=story.title,
                            text="Text.",
                            content_hash=str(n),
                        )
                    )
                    story.topics = [StoryTopic(topic="chips", terms=["rules"])]
        config = load_config(config_path)
        added, dropped = reevaluate(app.sessions, config, build_rules(config), now)
        with app.sessions() as session:
            stories = session.scalars(select(Story).order_by(Story.id)).all()
            for n, story in enumerate(stories):
                in_window = n % 10 != 9
                chips = n % 3 == 0
                listed_before = n % 2 == 0
                expected = chips if in_window else listed_before
                assert (story.status == "active") is expected, (n, story.status)
                assert [t.topic for t in story.topics] == (["chips"] if expected else [])
                if in_window and chips and not listed_before:
                    assert story.next_check_at == now  # fetched at once: it has no text
        window = [n for n in range(count) if n % 10 != 9]
        assert added == sum(1 for n in window if n % 3 == 0 and n % 2 == 1)
        assert dropped == sum(1 for n in window if n % 3 != 0 and n % 2 == 0)
        # recorded: the same rules again change nothing
        assert reevaluate(app.sessions, config, build_rules(config), now) == (0, 0)
    finally:
        app.close()
