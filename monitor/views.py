"""What the CLI shows: stories and versions as JSON-ready dicts and as safe terminal text.

Text from the web is never trusted: it goes through monitor.core.text.sanitize before it reaches
a terminal, and it is always handed to Rich as plain Text, never as markup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.core.dates import as_utc
from monitor.core.text import sanitize

if TYPE_CHECKING:  # annotations only: the views load neither the config nor the models
    from monitor.config import SourceConfig
    from monitor.core.topics import TopicMatch
    from monitor.store.models import LinkFailure, Seed, Source, Story, Version
    from monitor.store.reads import StoryRow, VersionRow
    from monitor.store.records import SourceHealth, Waiting
    from monitor.store.topic_rules import StoredStory, Trial

    AnyStory = Story | StoryRow  # a model (SQLAlchemy's path) or a record (monitor.store.reads)
    AnyVersion = Version | VersionRow


def clean(text: str | None) -> str:
    """Web text for a terminal: sanitised, its paragraphs kept (`monitor show` prints them)."""
    return sanitize(text, newlines=True)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, to the second, as every JSON time in the CLI contract."""
    if value is None:
        return None
    return as_utc(value).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def local(value: datetime, *, utc: bool = False) -> datetime:
    """A stored (UTC) time in the zone people read times in: the machine's, unless `utc`."""
    return as_utc(value) if utc else as_utc(value).astimezone()


def zone_name(*, utc: bool = False) -> str:
    """The zone `local` converts to, as people name it now ('CET', 'UTC')."""
    return "UTC" if utc else datetime.now().astimezone().tzname() or "local time"


def when(value: datetime | None, *, utc: bool = False) -> str:
    """'2026-11-22 08:14 CET': a time in a sentence names its zone."""
    if value is None:
        return "-"
    moment = local(value, utc=utc)
    return f"{moment:%Y-%m-%d %H:%M} {moment.tzname() or ''}".rstrip()


def outlet(story: AnyStory) -> str:
    """The publication's own name when the page or feed gives one, else the source's."""
    return story.outlet or (story.source.name if story.source else "-")


def waiting_line(waiting: Waiting, now: datetime) -> str:
    """Why a pass polled no source, and when the next poll is."""
    if not waiting.enabled:
        return "no source is enabled in the configuration"
    if waiting.next_poll is None:
        return "no source is due"
    from monitor.config import format_duration

    delay = format_duration(max(as_utc(waiting.next_poll) - as_utc(now), timedelta(0)))
    attempt = f"{when(waiting.next_poll)} (in {delay})"
    if waiting.backed_off == waiting.enabled:
        every = "the only source is" if waiting.enabled == 1 else "every source is"
        return f"{every} backed off after failures; the next attempt is at {attempt}"
    return f"no source is due; the next poll is at {attempt}"


def duplicate_of(story: AnyStory) -> dict[str, Any] | None:
    if story.duplicate_kind == "seed":
        return {"kind": "seed", "id": story.duplicate_of_seed_id, "similarity": story.similarity}
    if story.duplicate_kind == "story":
        return {
            "kind": "story",
            "id": story.duplicate_of_story_id,
            "similarity": story.similarity,
        }
    return None


def story_summary(story: AnyStory) -> dict[str, Any]:
    """The `monitor list --json` contract."""
    return {
        "id": story.id,
        "url": story.url,
        "title": story.title,
        "source": story.source.name if story.source else None,
        "outlet": outlet(story),
        "topics": [t.topic for t in story.topics],
        "first_seen": iso(story.first_seen_at),
        "last_changed": iso(story.last_changed_at),
        "version_count": story.version_count,
        "duplicate_of": duplicate_of(story),
        "change_class": story.change_class,
        "cluster": story.cluster_id,
    }


def version_summary(version: AnyVersion) -> dict[str, Any]:
    return {
        "number": version.number,
        "fetched_at": iso(version.fetched_at),
        "title": version.title,
        "byline": version.byline,
        "published": iso(version.published_at),
        "canonical_url": version.canonical_url,
        "final_url": version.final_url,
        "charset": version.charset,
        "content_hash": version.content_hash,
        "change_class": version.change_class,
        "words_added": version.words_added,
        "words_removed": version.words_removed,
    }


def story_detail(
    story: AnyStory, versions: Sequence[AnyVersion], aliases: list[str] | None = None
) -> dict[str, Any]:
    """The `monitor show --json` document: the summary, the current text, every version."""
    current = versions[-1] if versions else None
    detail = story_summary(story)
    detail.update(
        {
            "status": story.status,
            "removed_at": iso(story.last_changed_at) if story.change_class == "removed" else None,
            "published": iso(story.published_at),
            "byline": current.byline if current else None,
            "text": current.text if current else None,
            "topic_terms": {t.topic: list(t.terms) for t in story.topics},
            "matched": matched(story),
            "next_check": iso(story.next_check_at),
            "aliases": [url for url in aliases or [] if url != story.url],
            "canonical_hint": story.canonical_hint,
            "versions": [version_summary(v) for v in versions],
        }
    )
    return detail


def matched(story: AnyStory) -> list[dict[str, Any]]:
    """Why the story is in each of its topics (the `matched` field of `monitor show --json`):
    `by` "keywords" (the keywords found, in `terms`), "query" (the query's terms found, as
    written, in `terms`) or "like" (the closest example and its cosine `score`)."""
    from monitor.core.topics import explain

    return [
        {
            "topic": t.topic,
            "by": t.matched_by or "keywords",
            "terms": list(t.terms),
            "example": t.example,
            "score": t.score,
            "explanation": explain(t.matched_by, t.terms, t.example, t.score),
        }
        for t in story.topics
    ]


def explain_match(match: TopicMatch) -> str:
    from monitor.core.topics import explain

    return explain(match.by, match.terms, match.example, match.score)


def snippet(text: str, patterns: list[re.Pattern[str]], width: int = 200) -> str:
    """About `width` characters of `text` (sanitised, on one line) around the first match."""
    flat = sanitize(text)
    starts = [m.start() for p in patterns if (m := p.search(flat))]
    at = max(0, min(starts) - width // 4) if starts else 0
    piece = flat[at : at + width]
    return ("…" if at else "") + piece + ("…" if at + width < len(flat) else "")


def topic_trial(
    argument: str, configured: bool, compared_with: str | None, since: str, trial: Trial
) -> dict[str, Any]:
    """The `monitor topics test --json` document."""

    def row(story: StoredStory, match: TopicMatch | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": story.id,
            "title": story.title,
            "url": story.url,
            "status": story.status,
        }
        if match is not None:
            out.update(
                {
                    "by": match.by,
                    "terms": list(match.terms),
                    "example": match.example,
                    "score": match.score,
                    "explanation": explain_match(match),
                }
            )
        return out

    return {
        "topic": argument if configured else None,
        "query": None if configured else argument,
        "configured": configured,
        "compared_with": compared_with,
        "since": since,
        "stories": trial.stories,
        "without_text": trial.without_text,
        "matches": len(trial.matches),
        "added": [row(s, m) for s, m in trial.added],
        "dropped": None if trial.dropped is None else [row(s, None) for s in trial.dropped],
        "sample": [row(s, m) for s, m in trial.matches[:10]],
    }


def short_time(value: datetime | None, *, utc: bool = False) -> str:
    """A table cell: the column's header names the zone (see `zone_name`)."""
    return local(value, utc=utc).strftime("%Y-%m-%d %H:%M") if value else "-"


def extraction_summary(health: SourceHealth | None) -> dict[str, Any]:
    """A source's `extraction` in `monitor sources --json`: `state` ok, degraded or unknown
    (nothing extracted yet), why, since when, the re-checks held back, the pages judged."""
    if health is None:
        return {"state": "unknown", "reason": None, "since": None, "held": 0, "pages": 0}
    return {
        "state": health.state,
        "reason": health.reason,
        "since": iso(health.since),
        "held": health.held,
        "pages": health.pages,
    }


def source_summary(
    source: Source, stories: int, *, configured: bool, extraction: SourceHealth | None = None
) -> dict[str, Any]:
    """The `monitor sources --json` contract, for a source in the database; `configured`:
    the config file read names it (another config's sources are listed too)."""
    return {
        "name": source.name,
        "kind": source.kind,
        "url": source.url,
        "enabled": source.enabled,
        "last_polled": iso(source.last_polled_at),
        "last_status": source.last_status,
        "last_error": source.last_error,
        "warning": source.warning,
        "consecutive_failures": source.consecutive_failures,
        "next_poll": iso(source.next_poll_at) if source.enabled else None,
        "stories": stories,
        "configured": configured,
        "in_database": True,
        "extraction": extraction_summary(extraction),
    }


def unsynced_source_summary(source: SourceConfig) -> dict[str, Any]:
    """The same contract for a configured source not in the database yet: read-only
    commands do not add it (`monitor run` and `monitor poll` do), so it is not yet polled."""
    return {
        "name": source.name,
        "kind": source.kind,
        "url": source.url,
        "enabled": source.enabled,
        "last_polled": None,
        "last_status": None,
        "last_error": None,
        "warning": None,
        "consecutive_failures": 0,
        "next_poll": None,
        "stories": 0,
        "configured": True,
        "in_database": False,
        "extraction": extraction_summary(None),
    }


def link_failure_summary(failure: LinkFailure, source: str | None) -> dict[str, Any]:
    """One row of `monitor links --json`."""
    return {
        "url": failure.url,
        "source": source,
        "failures": failure.failures,
        "last_status": failure.last_status,
        "last_error": failure.last_error,
        "last_failed": iso(failure.last_failed_at),
        "next_attempt": None if failure.quarantined else iso(failure.next_attempt_at),
        "crashes": failure.crashes,
        "quarantined": failure.quarantined,
    }


SEED_TITLE_WORDS = 12


def seed_summary(seed: Seed, copies: int) -> dict[str, Any]:
    """One row of `monitor seeds --json`. A seed file is text alone: its title is the
    opening words of its first line."""
    first = next((line.strip() for line in seed.text.splitlines() if line.strip()), "")
    words = first.split()
    title = " ".join(words[:SEED_TITLE_WORDS]) + (" …" if len(words) > SEED_TITLE_WORDS else "")
    return {
        "id": seed.id,
        "title": title,
        "words": len(seed.text.split()),
        "copies": copies,
        "loaded": iso(seed.loaded_at),
    }


def cluster_summary(cluster_id: int, stories: Sequence[AnyStory]) -> dict[str, Any]:
    """One line of `monitor list --clusters`: the lead story, the outlets, the count."""
    lead = stories[0]
    outlets = list(dict.fromkeys(outlet(s) for s in stories))
    sources = list(dict.fromkeys(s.source.name if s.source else "-" for s in stories))
    return {
        "cluster": cluster_id,
        "lead": story_summary(lead),
        "outlets": outlets,  # the publications' names (see `outlet`)
        "sources": sources,  # the configured sources' names
        "count": len(stories),
        "stories": [s.id for s in stories],
    }
