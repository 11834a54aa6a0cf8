"""What the CLI shows: stories and versions as JSON-ready dicts and as safe terminal text.

Text from the web is never trusted: it goes through monitor.core.text.sanitize before it reaches
a terminal, and it is always handed to Rich as plain Text, never as markup.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.core.dates import as_utc
from monitor.core.text import sanitize

if TYPE_CHECKING:  # annotations only: the views load neither the config nor the models
    from monitor.config import SourceConfig
    from monitor.store.models import LinkFailure, Source, Story, Version


def clean(text: str | None) -> str:
    """Web text for a terminal: sanitised, its paragraphs kept (`monitor show` prints them)."""
    return sanitize(text, newlines=True)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as every JSON time in the CLI contract."""
    if value is None:
        return None
    return as_utc(value).isoformat().replace("+00:00", "Z")


def duplicate_of(story: Story) -> dict[str, Any] | None:
    if story.duplicate_kind == "seed":
        return {"kind": "seed", "id": story.duplicate_of_seed_id, "similarity": story.similarity}
    if story.duplicate_kind == "story":
        return {
            "kind": "story",
            "id": story.duplicate_of_story_id,
            "similarity": story.similarity,
        }
    return None


def story_summary(story: Story) -> dict[str, Any]:
    """The `monitor list --json` contract."""
    return {
        "id": story.id,
        "url": story.url,
        "title": story.title,
        "source": story.source.name if story.source else None,
        "topics": [t.topic for t in story.topics],
        "first_seen": iso(story.first_seen_at),
        "last_changed": iso(story.last_changed_at),
        "version_count": story.version_count,
        "duplicate_of": duplicate_of(story),
        "change_class": story.change_class,
        "cluster": story.cluster_id,
    }


def version_summary(version: Version) -> dict[str, Any]:
    return {
        "number": version.number,
        "fetched_at": iso(version.fetched_at),
        "title": version.title,
        "byline": version.byline,
        "published": iso(version.published_at),
        "canonical_url": version.canonical_url,
        "content_hash": version.content_hash,
        "change_class": version.change_class,
        "words_added": version.words_added,
        "words_removed": version.words_removed,
    }


def story_detail(
    story: Story, versions: list[Version], aliases: list[str] | None = None
) -> dict[str, Any]:
    """The `monitor show --json` document: the summary, the current text, every version."""
    current = versions[-1] if versions else None
    detail = story_summary(story)
    detail.update(
        {
            "status": story.status,
            "published": iso(story.published_at),
            "byline": current.byline if current else None,
            "text": current.text if current else None,
            "topic_terms": {t.topic: list(t.terms) for t in story.topics},
            "next_check": iso(story.next_check_at),
            "aliases": [url for url in aliases or [] if url != story.url],
            "versions": [version_summary(v) for v in versions],
        }
    )
    return detail


def short_time(value: datetime | None) -> str:
    return as_utc(value).strftime("%Y-%m-%d %H:%M") if value else "-"


def source_summary(source: Source, stories: int, *, configured: bool) -> dict[str, Any]:
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
        "quarantined": failure.quarantined,
    }


def cluster_summary(cluster_id: int, stories: list[Story]) -> dict[str, Any]:
    """One line of `monitor list --clusters`: the lead story, the outlets, the count."""
    lead = stories[0]
    outlets = list(dict.fromkeys(s.source.name if s.source else "-" for s in stories))
    return {
        "cluster": cluster_id,
        "lead": story_summary(lead),
        "outlets": outlets,
        "count": len(stories),
        "stories": [s.id for s in stories],
    }
