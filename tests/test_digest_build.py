"""The digest's content, from rows in a real database: grouping, seeds, diffs, removals."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitor.core.normalize import content_hash
from monitor.digest.build import build_digest
from monitor.digest.content import ChangedItem, Digest, Piece, RemovedItem
from monitor.digest.render import Rendered, render
from monitor.store import db
from monitor.store.models import Seed, Source, Story, StoryTopic, Version

START = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)
END = START + timedelta(days=1)
BEFORE = START - timedelta(hours=6)
DURING = START + timedelta(hours=3)

CHIPS_V1 = (
    "The Commerce Department said on Monday it would widen the range of accelerators "
    "covered. Officials expect licences for shipments to data centres in a longer list "
    "of countries, according to a notice in the Federal Register.\n\n"
    "A second paragraph that nobody edits, long enough to be left out of the digest."
)
CHIPS_V2 = CHIPS_V1.replace("a longer list of", "forty-three")


class Room:
    """Rows written straight into a migrated database, the way the pipeline writes them."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.sources: dict[str, int] = {}
        self.count = 0

    def source(self, name: str) -> int:
        if name not in self.sources:
            with self.sessions.begin() as session:
                row = Source(
                    name=name,
                    kind="feed",
                    url=f"https://{name.lower().replace(' ', '')}.example/feed",
                    enabled=True,
                    consecutive_failures=0,
                    created_at=BEFORE - timedelta(days=30),
                )
                session.add(row)
                session.flush()
                self.sources[name] = row.id
        return self.sources[name]

    def story(
        self,
        title: str,
        *,
        url: str | None = None,
        outlet: str | None = "Wire",
        topics: Sequence[str] = ("chips",),
        seen: datetime = DURING,
        text: str = "Body text of the story.",
        copy_of: int | None = None,
        seed: str | None = None,
        cluster: int | None = None,
    ) -> int:
        source_id = self.source(outlet) if outlet else None
        self.count += 1
        with self.sessions.begin() as session:
            story = Story(
                url=url or f"https://news.example/{self.count}",
                source_id=source_id,
                first_seen_at=seen,
                status="active",
                title=title,
                version_count=1,
                recheck_step=0,
                duplicate_kind="story" if copy_of else "seed" if seed else None,
                duplicate_of_story_id=copy_of,
                duplicate_of_seed_id=seed,
                similarity=0.95 if copy_of or seed else None,
                cluster_id=cluster,
            )
            session.add(story)
            session.flush()
            for topic in topics:
                session.add(StoryTopic(story_id=story.id, topic=topic, terms=[topic]))
            session.add(_version(story.id, 1, seen, title, text, None))
            return story.id

    def edit(
        self, story_id: int, at: datetime, title: str, text: str, change_class: str = "edit"
    ) -> None:
        with self.sessions.begin() as session:
            story = session.get(Story, story_id)
            assert story is not None
            story.version_count += 1
            story.title = title
            story.change_class = change_class
            story.last_changed_at = at
            session.add(_version(story_id, story.version_count, at, title, text, change_class))

    def seed(self, seed_id: str) -> str:
        with self.sessions.begin() as session:
            session.add(
                Seed(id=seed_id, text="seed", text_hash="0" * 64, scheme="x", loaded_at=BEFORE)
            )
        return seed_id

    def digest(self, topics: Sequence[str] = (), start: datetime = START) -> Digest:
        with self.sessions() as session:
            return build_digest(session, "desk@example.org", topics, start, END, "Europe/London")


def _version(
    story_id: int, number: int, at: datetime, title: str, text: str, change_class: str | None
) -> Version:
    return Version(
        story_id=story_id,
        number=number,
        fetched_at=at,
        title=title,
        text=text,
        content_hash=content_hash(title, text),
        change_class=change_class,
    )


@pytest.fixture
def room(db_url: str) -> Iterator[Room]:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    try:
        yield Room(db.session_factory(engine))
    finally:
        engine.dispose()


def _titles(digest: Digest) -> list[str]:
    return [item.story.title for section in digest.sections for item in section.new]


def _words(text: str) -> str:
    """Text as a reader takes it in: every run of whitespace (line wraps too) one space."""
    return " ".join(text.split())


def _seen_in_html(page: str) -> str:
    """What a client that drops every tag and style shows of the HTML part."""
    return _words(html.unescape(re.sub(r"<[^>]+>", " ", page)))


def _new_lists(text: str) -> str:
    """The plain-text part's "New" lists, the rest cut away."""
    lists = re.findall(r"\nNew\n(.*?)(?=\n\n|\Z)", text, flags=re.S)
    return "\n".join(lists)


def test_copies_are_grouped_under_the_original_and_seed_copies_left_out(room: Room) -> None:
    original = room.story("Chip rules widen", outlet="Reuters")
    for outlet in ("The Verge", "Ars Technica", "SCMP", "The Register", "TechCrunch"):
        room.story("Chip rules widen (copy)", outlet=outlet, copy_of=original)
    room.story("Seed republished", seed=room.seed("seed-1"))
    room.story("Unrelated chip story", outlet="FT")

    digest = room.digest()

    (section,) = digest.sections
    assert section.topic == "chips"
    lead, other = section.new
    assert lead.story.title == "Chip rules widen" and lead.story.outlet == "Reuters"
    assert lead.also == ("The Verge", "Ars Technica", "SCMP") and lead.also_more == 2
    assert other.story.title == "Unrelated chip story" and other.also == ()
    assert "Seed republished" not in _titles(digest)
    assert (digest.new_count, digest.changed_count, digest.removed_count) == (2, 0, 0)


def test_a_copy_of_an_older_story_leads_its_own_group(room: Room) -> None:
    old = room.story("Yesterday's story", seen=BEFORE)
    room.story("Copy one", outlet="A", copy_of=old, seen=DURING)
    room.story("Copy two", outlet="B", copy_of=old, seen=DURING + timedelta(minutes=5))

    (item,) = room.digest().sections[0].new

    assert item.story.title == "Copy one" and item.also == ("B",)


def test_coverage_clusters_are_grouped_with_their_copies(room: Room) -> None:
    first = room.story("Stargate site chosen", outlet="Reuters")
    with room.sessions.begin() as session:
        story = session.get(Story, first)
        assert story is not None
        story.cluster_id = first  # a cluster is named after its first story
    other = room.story("OpenAI picks Texas for Stargate", outlet="The Verge", cluster=first)
    room.story("OpenAI picks Texas for Stargate", outlet="Ars Technica", copy_of=other)
    room.story("Reuters again, another URL", outlet="Reuters", cluster=first)
    room.story("Unrelated", outlet="FT")

    digest = room.digest()

    lead, unrelated = digest.sections[0].new
    assert lead.story.title == "Stargate site chosen"
    assert lead.also == ("The Verge", "Ars Technica")  # the lead's own outlet is not repeated
    assert unrelated.story.title == "Unrelated"
    assert digest.new_count == 2


def test_changed_story_shows_its_class_headline_and_changed_sentence(room: Room) -> None:
    story = room.story("Commerce tightens AI chip exports", seen=BEFORE, text=CHIPS_V1)
    room.edit(story, BEFORE + timedelta(hours=1), "Commerce tightens AI chip exports", CHIPS_V1)
    room.edit(story, DURING, "US tightens AI chip exports", CHIPS_V2, "headline")
    room.edit(story, DURING + timedelta(hours=1), "US tightens AI chip exports", CHIPS_V2, "minor")
    room.edit(story, END + timedelta(hours=1), "After the period", "Later text.", "major")

    digest = room.digest()

    (item,) = digest.sections[0].changed
    assert isinstance(item, ChangedItem)
    assert item.change_class == "headline"  # the strongest of the period's changes
    assert item.story.title == "US tightens AI chip exports"  # as of the period's end
    assert item.title_diff == (
        Piece("delete", "Commerce"),
        Piece("insert", "US"),
        Piece("equal", " tightens AI chip exports"),
    )
    (snippet,) = item.snippets
    assert Piece("delete", "a longer list of") in snippet
    assert Piece("insert", "forty-three") in snippet
    text = "".join(piece.text for piece in snippet)
    assert text.startswith("Officials expect")  # the changed sentence, not the paragraph
    assert text.endswith("Federal Register.")
    assert "second paragraph" not in text
    assert digest.changed_count == 1 and digest.new_count == 0


def test_removed_and_reverted_stories(room: Room) -> None:
    gone = room.story("Taken down", seen=BEFORE, text="Some text here.")
    room.edit(gone, DURING, "Taken down", "", "removed")
    back = room.story("Edited and reverted", seen=BEFORE, text="Same words.")
    room.edit(back, DURING, "Edited and reverted", "Other words.", "edit")
    room.edit(back, DURING + timedelta(hours=1), "Edited and reverted", "Same words.", "edit")

    digest = room.digest()

    (section,) = digest.sections
    assert [i.story.title for i in section.removed] == ["Taken down"]
    assert section.changed == ()  # edits that cancel out are no change
    assert (digest.new_count, digest.changed_count, digest.removed_count) == (0, 0, 1)


def test_topics_filter_and_stories_without_topic(room: Room) -> None:
    room.story("On chips", topics=["chips"])
    room.story("On both", topics=["chips", "stargate"])
    room.story("On stargate", topics=["stargate"])
    room.story("Watched article", topics=[], outlet=None, url="https://site.example/a")

    only = room.digest(topics=["stargate"])
    every = room.digest()

    assert [s.topic for s in only.sections] == ["stargate"]
    assert _titles(only) == ["On both", "On stargate"]
    assert only.new_count == 2
    assert [s.topic for s in every.sections] == ["chips", "stargate", "other"]
    assert every.new_count == 4  # "On both" is listed twice but counted once
    assert every.sections[-1].new[0].story.outlet == "site.example"  # no source: the host


def test_web_text_is_cleaned_of_control_characters(room: Room) -> None:
    room.story(
        "Line one\nLine two \x1b[31mred\u202e reversed "
        "\x1b]8;;https://evil.example/\x1b\\linked\x1b]8;;\x1b\\"
    )

    (item,) = room.digest().sections[0].new

    assert item.story.title == "Line one Line two red reversed linked"


def test_nothing_in_the_period_is_an_empty_digest(room: Room) -> None:
    room.story("Old news", seen=BEFORE)

    digest = room.digest()

    assert digest.empty and digest.sections == ()


# ---------------------------------------------------------------- reading the digest


def test_a_story_that_came_and_went_in_the_period_is_removed_not_new(room: Room) -> None:
    gone_title = "Chipmaker seeks H20 licences"
    gone = room.story(gone_title, outlet="Pacific Wire", seen=DURING)
    room.edit(gone, DURING + timedelta(hours=2, minutes=30), gone_title, "", "removed")
    original = room.story("Chip rules widen", outlet="Reuters")
    copy = room.story("Chip rules widen", outlet="The Verge", copy_of=original)
    room.edit(copy, DURING + timedelta(hours=1), "Chip rules widen", "", "removed")
    back = room.story("Pulled and put back", outlet="FT")
    room.edit(back, DURING + timedelta(hours=1), "Pulled and put back", "", "removed")
    room.edit(back, DURING + timedelta(hours=2), "Pulled and put back", "Text.", "restored")
    later = room.story("Removed after the period", outlet="SCMP")
    room.edit(later, END + timedelta(hours=1), "Removed after the period", "", "removed")

    digest = room.digest()
    rendered = render(digest)

    assert "Chipmaker seeks H20 licences" not in _new_lists(rendered.text)
    assert "Chip rules widen" in _new_lists(rendered.text)
    assert "Pulled and put back" in _new_lists(rendered.text)
    assert "Removed after the period" in _new_lists(rendered.text)  # news in its period
    assert "also: The Verge" not in rendered.text  # a removed copy leaves its group
    assert (
        "Removed\n* Chipmaker seeks H20 licences\n  Pacific Wire · https://news.example/1\n"
        "  first seen Sat 21 Nov 10:00, removed 12:30\n"
    ) in rendered.text  # the headline it had, and how short-lived it was (Europe/London)
    assert "Pacific Wire · first seen Sat 21 Nov 10:00, removed 12:30" in rendered.html
    assert rendered.subject == "monitor: 3 new, 1 removed — 22 Nov 2026"


def test_a_removed_story_seen_before_the_period_says_since_when(room: Room) -> None:
    gone = room.story("Chipmaker denies report", seen=BEFORE - timedelta(days=2))
    room.edit(gone, DURING, "Chipmaker denies report", "", "removed")

    (item,) = room.digest().sections[0].removed

    assert isinstance(item, RemovedItem) and item.story.title == "Chipmaker denies report"
    assert "first seen Thu 19 Nov 01:00, removed Sat 21 Nov 10:00" in render(room.digest()).text


LEAD = (
    "Chip rules widen\n\n"  # the headline, repeated by the page
    "By Jane Doe, Washington\n\nAdvertisement\n\nUpdated 5 minutes ago\n\n"
    "The U.S. Commerce Department on Tuesday widened its export controls on AI chips "
    "made by AT&T's suppliers. Officials said the rule takes effect in 30 days. "
    "A third sentence that the snippet leaves out.\n\n"
    "A second paragraph, also left out of the snippet."
)


def test_a_new_story_has_the_first_sentences_of_its_lead(room: Room) -> None:
    story = room.story("Chip rules widen", text="An earlier draft, long enough to be prose.")
    room.edit(story, DURING + timedelta(hours=1), "Chip rules widen", LEAD)  # as of the end
    long = "Officials " + "said the rules would apply to many more countries and " * 8 + "end."
    room.story("A long-winded lead", outlet="FT", text=long)

    rendered = render(room.digest())

    lead = (
        "The U.S. Commerce Department on Tuesday widened its export controls on AI chips "
        "made by AT&T's suppliers. Officials said the rule takes effect in 30 days."
    )
    text = _words(rendered.text)
    assert f"Wire · https://news.example/1 {lead} * A long-winded lead" in text
    assert "third sentence" not in text and "Jane Doe" not in text
    assert "Advertisement" not in text and "Updated 5" not in text
    assert lead in _seen_in_html(rendered.html) and "AT&amp;T" in rendered.html  # escaped
    (cut,) = re.findall(r"Officials said the rules .*?…", text)
    assert 200 <= len(cut) <= 240  # cut at a whole word, with an ellipsis
    assert long.startswith(cut[:-1]) and long[len(cut) - 1] == " "
    snippet_lines = [line for line in rendered.text.splitlines() if line.startswith("  ")]
    assert max(len(line) for line in snippet_lines if "http" not in line) <= 78  # wrapped


def test_the_header_counts_stories_not_entries(room: Room) -> None:
    room.story("On both topics", topics=["chips", "stargate"], outlet="Reuters")
    room.story("Only on chips", topics=["chips"], outlet="FT")
    first = room.story("Stargate site chosen", topics=["stargate"], outlet="Reuters")
    with room.sessions.begin() as session:
        story = session.get(Story, first)
        assert story is not None
        story.cluster_id = first
    room.story("Stargate's chip bill", topics=["chips"], outlet="SCMP", cluster=first)

    digest = room.digest()
    rendered = render(digest)

    entries = re.findall(r"^\* (.+)$", rendered.text, flags=re.M)
    assert len(entries) == 5 and len(set(entries)) == 4  # "On both topics" twice
    assert rendered.subject == "monitor: 4 new — 22 Nov 2026"
    assert rendered.text.startswith("4 new\n")
    assert ">4 new</h1>" in rendered.html
    chips, stargate = rendered.text.split("== stargate ==")
    assert "* On both topics\n  Reuters · https://news.example/1\n  also under: stargate" in chips
    assert "* On both topics\n  Reuters · https://news.example/1\n  also under: chips" in stargate
    assert "Reuters · also under: stargate" in rendered.html
    assert "listed under each and counted once" in rendered.text


def test_insertions_and_deletions_read_apart_without_colour(room: Room) -> None:
    story = room.story("Commerce tightens AI chip exports", seen=BEFORE, text=CHIPS_V1)
    room.edit(story, DURING, "US tightens AI chip exports", CHIPS_V2, "headline")

    rendered: Rendered = render(room.digest())

    assert "Headline: [-Commerce-] {+US+} tightens AI chip exports" in rendered.text
    assert "data centres in [-a longer list of-] {+forty-three+} countries" in rendered.text
    unstyled = re.sub(r' style="[^"]*"', "", rendered.html)
    assert "<del>Commerce</del> <ins>US</ins> tightens" in unstyled  # struck, then underlined
    assert "in <del>a longer list of</del> <ins>forty-three</ins> countries" in unstyled
    assert "data centres in a longer list of forty-three countries" in _seen_in_html(rendered.html)
    assert "text-decoration:line-through" in rendered.html
    assert "text-decoration:underline" in rendered.html
