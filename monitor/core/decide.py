"""What to do with a page, decided from plain data (pure: no database, no clock, no I/O).

The store gathers the state a decision needs (the topics that matched, the duplicate and
cluster look-ups, the story's latest version), these functions decide, and
`monitor.store.writer.StoryWriter` applies the decision. Every rule of the kind "a watched page is
never folded" or "a page that answers 404 is a removal" lives here, once, so that it holds
whichever path a page took to get here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from monitor.core.changes import is_removal
from monitor.core.extract import Article
from monitor.core.topics import TopicMatch
from monitor.core.urls import canonicalize_url, identity_key, same_site


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A copy of a seed or of a stored story, and how similar it is."""

    kind: Literal["seed", "story"]
    id: str | int
    similarity: float


# ---------------------------------------------------------------- a page that is not the article


def rejection(article: Article) -> str | None:
    """Why a fetched page is recorded as a rejection rather than read, or None to read it.

    A consent wall, a paywall stub or a teaser (extract.Article.not_article) is neither a
    new story nor a new version of one: stored, it would be taken for the article, and the
    next check that reaches the real page would look like an edit. It is recorded the way a
    failed link is (the reason in `monitor links`, tried again with back-off); a re-check
    that meets one keeps the story's last version."""
    return None if article.not_article is None else f"not the article: {article.not_article}"


# ---------------------------------------------------------------- a page seen for the first time


@dataclass(frozen=True, slots=True)
class NewStory:
    """How a page seen for the first time is stored."""

    listed: bool  # False: kept as off-topic (no version, no index), so it is not fetched again
    topics: tuple[TopicMatch, ...]
    duplicate: Duplicate | None  # folded as a copy: versioned, not indexed, not clustered
    cluster_id: int | None  # the cluster it joins; None: it starts its own
    rechecked: bool  # follows the re-check schedule (a watched page follows its source's)


def new_story(
    matches: Sequence[TopicMatch],
    *,
    watched: bool,
    duplicate: Duplicate | None,
    cluster_id: int | None,
) -> NewStory:
    """A watched page (an `article` source) is always listed and never folded: someone asked
    for that page by name. Any other page is listed when it matches a topic, and folded
    when it copies a seed or a story; only original coverage joins or starts a cluster."""
    if watched:
        return NewStory(True, tuple(matches), None, None, rechecked=False)
    if not matches:
        return NewStory(False, (), None, None, rechecked=False)
    if duplicate is not None:
        return NewStory(True, tuple(matches), duplicate, None, rechecked=True)
    return NewStory(True, tuple(matches), None, cluster_id, rechecked=True)


def needs_lookups(matches: Sequence[TopicMatch], *, watched: bool) -> bool:
    """Whether the duplicate and cluster look-ups can change the decision (they are the
    costly reads, skipped when they cannot)."""
    return bool(matches) and not watched


@dataclass(frozen=True, slots=True)
class StoryUrls:
    """The URLs a fetched page answers to, and the canonical it declares elsewhere."""

    urls: dict[str, str]  # identity key → URL, in order; the last one names the story
    canonical_hint: str | None  # a canonical on another registrable domain: recorded only


def story_urls(entry_url: str, final_url: str, canonical: str | None) -> StoryUrls:
    """Every URL a fetched article answers to: the link it was found by, where its redirects
    ended, and its declared canonical (rel=canonical, else og:url) last, so it names the
    story, when it is on the same registrable domain as the page that declared it.

    A canonical on another registrable domain (a syndication partner's page naming the
    original) is not adopted: the page would fold into, and be re-checked at, another site.
    It comes back as `canonical_hint`. A canonical naming a site's front page is a site bug
    and ignored."""
    final = canonicalize_url(final_url)
    urls = [entry_url, final]
    hint = None
    if canonical and urlsplit(canonical).path not in ("", "/"):
        if same_site(canonical, final):
            urls.append(canonicalize_url(canonical))
        else:
            hint = canonicalize_url(canonical)
    found: dict[str, str] = {}
    for url in urls:
        found.pop(identity_key(url), None)
        found[identity_key(url)] = url
    return StoryUrls(found, hint)


# ---------------------------------------------------------------- a known story checked again


@dataclass(frozen=True, slots=True)
class Latest:
    """What a check needs of a story's newest version."""

    content_hash: str
    removed: bool  # its change class is `removed`


@dataclass(frozen=True, slots=True)
class Fetched:
    """What a check observed: the page's status and where it ended, and its content hash."""

    status: int
    final_url: str
    content_hash: str


@dataclass(frozen=True, slots=True)
class Unreachable:
    """The check failed (an error status, a timeout, a page that killed its worker)."""

    status: int | None
    message: str


NotModified = Literal["not modified"]
Observation = Fetched | Unreachable | NotModified

Check = Literal["unchanged", "version", "restored", "removed", "failed"]


def check(story_url: str, latest: Latest | None, observed: Observation) -> Check:
    """What a re-check of a stored story found.

    - `removed`: the page answers 404/410 or redirects to the site's front page, and the
      latest version is not already a removal;
    - `restored`: the page is back after a removal;
    - `version`: the normalised headline or text differ from the latest version;
    - `failed`: nothing could be learnt (logged, no version written);
    - `unchanged`: otherwise.
    """
    if observed == "not modified":
        return "unchanged"
    if isinstance(observed, Unreachable):
        if not is_removal(observed.status, story_url):
            return "failed"
        return "unchanged" if latest is None or latest.removed else "removed"
    if is_removal(observed.status, story_url, observed.final_url):
        return "unchanged" if latest is None or latest.removed else "removed"
    if latest is None:
        return "version"
    if latest.removed:
        return "restored"
    return "unchanged" if latest.content_hash == observed.content_hash else "version"


def adopt_watched(*, listed: bool, folded: bool, has_version: bool) -> bool:
    """Whether a story a feed stored first must be made what a watched page is: listed,
    not folded, with a version."""
    return not listed or folded or not has_version
