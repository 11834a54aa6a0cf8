"""The pages: coverage, events, a story, a diff, a topic, sources, seeds. Server-rendered,
every filter in the URL; each handler reads through the functions the CLI uses."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from monitor import reports, views
from monitor.app import App
from monitor.core.dates import parse_iso
from monitor.core.diff import compute_diff, paragraph_pieces, title_pieces, version_text
from monitor.store import browse, queries
from monitor.store.models import Story
from monitor.web.render import render, stories_chart

KINDS = ("", "new", "changed", "removed")
WINDOWS = (("24h", "last 24 hours"), ("7d", "last 7 days"), ("30d", "last 30 days"), ("all", "all"))
CHART_DAYS = (30, 90)
MAX_PAGE = 500


class BadRequest(ValueError):
    """A query parameter that cannot be right: answered 400 with this one line."""


CACHE_SECONDS = 30.0


@dataclass
class Site:
    """The app's state: the monitor app, and aggregates reused for CACHE_SECONDS (counting
    every story of a source, a topic or a seed takes a scan at 100,000 stories; such
    figures may be that stale, a listing or a story never is)."""

    app: App
    cache_seconds: float = CACHE_SECONDS
    _cache: dict[tuple[Any, ...], tuple[float, Any]] = field(default_factory=dict)

    @property
    def page_size(self) -> int:
        return self.app.config.web.page_size

    def cached(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        value = compute()
        if len(self._cache) > 1000:
            self._cache.clear()
        self._cache[key] = (now, value)
        return value

    def topics(self, session: Session) -> list[str]:
        def read() -> list[str]:
            configured = {t.name for t in self.app.config.topics}
            return sorted(configured | queries.topic_names(session))

        return self.cached(("topics",), read)  # type: ignore[no-any-return]

    def source_rows(self, session: Session) -> list[dict[str, Any]]:
        """`monitor sources --json`'s rows."""
        return self.cached(  # type: ignore[no-any-return]
            ("sources",), lambda: reports.source_rows(session, self.app.config)
        )

    def outlets(self, session: Session) -> list[str]:
        return self.cached(("outlets",), lambda: browse.outlet_names(session))  # type: ignore[no-any-return]


def parse_since(value: str, now: datetime) -> datetime | None:
    """'24h' / '7d' (back from now), '2026-01-27' (a UTC day), an ISO time, or 'all': the
    CLI's `--since`."""
    from monitor.config import parse_duration

    text = value.strip()
    if text.lower() == "all":
        return None
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    moment = parse_iso(text)
    if moment is None:
        raise BadRequest(f"since: {value!r} is neither a duration (24h, 7d) nor a date")
    return moment


def flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes", "on")


def integer(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}: {raw!r} is not a number") from None
    if not low <= value <= high:
        raise BadRequest(f"{name}: {value} is out of range ({low}–{high})")
    return value


@dataclass(frozen=True)
class Filters:
    """The coverage filters of a request, as the URL gave them and as a query."""

    params: dict[str, Any]
    wanted: browse.Browse
    cursor: browse.Cursor | None
    limit: int


def read_filters(request: Request, site: Site, session: Session) -> Filters:
    qp = request.query_params
    kind = qp.get("kind", "")
    if kind not in KINDS:
        raise BadRequest(f"kind: {kind!r} is not one of new, changed, removed")
    since = qp.get("since", "24h") or "24h"
    topics = [t for t in qp.getlist("topic") if t]
    known = site.topics(session)
    for topic in topics:
        if topic not in known:
            raise BadRequest(f"topic: no topic named {topic!r}")
    cutoff = parse_since(since, datetime.now(UTC))
    both = not kind
    listing = queries.ListFilter(
        since=cutoff,
        new=kind == "new" or both,
        changed=kind == "changed" or both,
        removed=kind == "removed",
        topics=tuple(topics),
        include_duplicates=flag(request, "duplicates") or flag(request, "include_duplicates"),
    )
    cursor_text = qp.get("cursor")
    try:
        cursor = browse.Cursor.decode(cursor_text) if cursor_text else None
    except ValueError:
        raise BadRequest(f"cursor: {cursor_text!r} is not a cursor this server gave") from None
    event = integer(request, "event", None, 1, 2**62)
    outlet = qp.get("outlet") or None
    search = (qp.get("q") or "").strip()[:200] or None
    limit = integer(request, "limit", site.page_size, 1, MAX_PAGE) or site.page_size
    params = {
        "topic": topics,
        "kind": kind,
        "outlet": outlet,
        "since": since if since != "24h" else "",
        "duplicates": listing.include_duplicates,
        "q": search,
        "event": event,
    }
    return Filters(
        params,
        browse.Browse(listing, outlet=outlet, search=search, cluster=event),
        cursor,
        limit,
    )


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(render(template, **context), status_code=status)


def problem(status: int, message: str) -> HTMLResponse:
    return page(
        "error.html",
        status=status,
        title="Not found" if status == 404 else "Error",
        message=message,
    )


def guarded(handler: Any) -> Any:
    """A page handler whose BadRequest becomes a 400 page with its line."""

    def endpoint(request: Request) -> Response:
        try:
            return handler(request)  # type: ignore[no-any-return]
        except BadRequest as exc:
            return problem(400, str(exc))

    endpoint.__name__ = handler.__name__
    return endpoint


def story_row(story: Story, cluster_sizes: dict[int, int]) -> dict[str, Any]:
    row = views.story_summary(story)
    row["cluster_size"] = cluster_sizes.get(story.cluster_id or -1, 1)
    row["story"] = story
    return row


def routes(site: Site) -> list[BaseRoute]:
    sessions = site.app.sessions

    def coverage(request: Request) -> Response:
        with sessions() as session:
            filters = read_filters(request, site, session)
            stories, after = browse.browse_stories(
                session, filters.wanted, filters.limit, filters.cursor
            )
            sizes = browse.cluster_sizes(session, [s.cluster_id for s in stories if s.cluster_id])
            rows = [story_row(s, sizes) for s in stories]
            return page(
                "coverage.html",
                title="Coverage",
                rows=rows,
                params=filters.params,
                next_cursor=after.encode() if after else None,
                first_page=filters.cursor is None,
                topics=site.topics(session),
                outlets=site.outlets(session),
                kinds=KINDS,
                windows=WINDOWS,
                since=filters.params["since"] or "24h",
            )

    def events(request: Request) -> Response:
        since = request.query_params.get("since", "7d") or "7d"
        cutoff = parse_since(since, datetime.now(UTC))
        topic = request.query_params.get("topic") or None
        offset = integer(request, "offset", 0, 0, 10**6) or 0
        with sessions() as session:
            if topic is not None and topic not in site.topics(session):
                raise BadRequest(f"topic: no topic named {topic!r}")
            flt = queries.ListFilter(since=cutoff, topics=(topic,) if topic else ())
            size = max(1, site.page_size // 2)  # an event shows its stories: half as many
            groups, more = browse.event_groups(session, flt, size, offset)
            rows = reports.cluster_rows(groups)
            for row in rows:
                members = groups[row["cluster"]]
                row["members"] = [views.story_summary(s) for s in members]
                row["last_seen"] = max(
                    (s.last_changed_at or s.first_seen_at for s in members), default=None
                )
            return page(
                "events.html",
                title="Events",
                rows=rows,
                since=since,
                windows=WINDOWS,
                topic=topic,
                topics=site.topics(session),
                params={"since": since, "topic": topic},
                offset=offset,
                next_offset=offset + size if more else None,
            )

    def story(request: Request) -> Response:
        story_id = int(request.path_params["story_id"])
        with sessions() as session:
            found = session.get(Story, story_id)
            if found is None:
                return problem(404, f"no story with id {story_id}")
            versions = queries.versions(session, story_id)
            detail = views.story_detail(found, versions, queries.aliases(session, story_id))
            text = detail["text"]
            last_text = None
            if found.change_class == "removed":
                last = next((v for v in reversed(versions) if v.change_class != "removed"), None)
                last_text = last.text if last else None
            seed = None
            if found.duplicate_kind == "seed" and found.duplicate_of_seed_id:
                seed = found.duplicate_of_seed_id
            return page(
                "story.html",
                title=detail["title"] or f"story {story_id}",
                story=detail,
                paragraphs=[p for p in (last_text or text or "").split("\n\n") if p.strip()],
                removed=found.change_class == "removed",
                seed=seed,
            )

    def diff(request: Request) -> Response:
        story_id = int(request.path_params["story_id"])
        with sessions() as session:
            found = session.get(Story, story_id)
            if found is None:
                return problem(404, f"no story with id {story_id}")
            count = found.version_count
            to = integer(request, "to", count, 1, 10**9) or count
            start = integer(request, "from", max(to - 1, 1), 1, 10**9) or 1
            old = queries.version(session, story_id, start)
            new = queries.version(session, story_id, to)
            for number, row in ((start, old), (to, new)):
                if row is None:
                    return problem(
                        404, f"story {story_id} has no version {number} (it has {count})"
                    )
            assert old is not None and new is not None
            result = compute_diff(version_text(old), version_text(new))
            versions = queries.versions(session, story_id)
            return page(
                "diff.html",
                title=f"Changes to “{found.title}”",
                story=views.story_summary(found),
                old=views.version_summary(old),
                new=views.version_summary(new),
                title_pieces=title_pieces(result),
                paragraphs=paragraph_pieces(result),
                diff=result,
                versions=[views.version_summary(v) for v in versions],
            )

    def topic(request: Request) -> Response:
        name = request.path_params["name"]
        days = integer(request, "days", 30, 1, 366) or 30
        today = datetime.now(UTC).date()
        with sessions() as session:
            if name not in site.topics(session):
                return problem(404, f"no topic named {name!r}")
            counts = site.cached(
                ("counts", name, days, today),
                lambda: browse.topic_counts(session, name, days, today),
            )
            since = datetime.now(UTC) - timedelta(days=days)
            voices = site.cached(
                ("voices", name, days, today),
                lambda: browse.share_of_voice(session, name, since),
            )
            latest, _ = browse.browse_stories(
                session,
                browse.Browse(queries.ListFilter(since=None, topics=(name,))),
                10,
            )
            total = sum(n for _, n in voices) or 1
            return page(
                "topic.html",
                title=f"Topic: {name}",
                topic=name,
                days=days,
                choices=CHART_DAYS,
                counts=counts,
                chart=stories_chart(counts, f"Stories per day about {name}, last {days} days"),
                voices=[(outlet, n, round(100 * n / total)) for outlet, n in voices],
                latest=[views.story_summary(s) for s in latest],
            )

    def sources(request: Request) -> Response:
        with sessions() as session:
            rows = [dict(row) for row in site.source_rows(session)]
        rows.sort(key=lambda r: (-(r["consecutive_failures"] > 0), -bool(r["warning"]), r["name"]))
        return page("sources.html", title="Sources", rows=rows)

    def seeds(request: Request) -> Response:
        def read(session: Session) -> list[dict[str, Any]]:
            rows = [views.seed_summary(seed, n) for seed, n in queries.seed_copies(session)]
            copies = browse.seed_copy_stories(session)
            for row in rows:
                row["stories"] = [views.story_summary(s) for s in copies.get(row["id"], [])]
            return rows

        with sessions() as session:
            rows = site.cached(("seeds",), lambda: read(session))
        return page("seeds.html", title="Seeds", rows=rows)

    return [
        Route("/", guarded(coverage), name="coverage"),
        Route("/events", guarded(events), name="events"),
        Route("/stories/{story_id:int}", guarded(story), name="story"),
        Route("/stories/{story_id:int}/diff", guarded(diff), name="diff"),
        Route("/topics/{name}", guarded(topic), name="topic"),
        Route("/sources", guarded(sources), name="sources"),
        Route("/seeds", guarded(seeds), name="seeds"),
    ]
