"""The JSON API under /api/: the CLI's `--json` documents, field for field (built by the same
functions), a list paginated with a `Link: <…>; rel="next"` header, and its OpenAPI
description at /api/openapi.json."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from monitor import reports, views
from monitor.core.diff import compute_diff, diff_to_json, version_text
from monitor.store import browse, queries
from monitor.store.models import Story
from monitor.web.openapi import openapi
from monitor.web.pages import MAX_PAGE, BadRequest, Site, integer, parse_since, read_filters


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def api(handler: Any) -> Any:
    def endpoint(request: Request) -> Response:
        try:
            return handler(request)  # type: ignore[no-any-return]
        except BadRequest as exc:
            return error(400, str(exc))

    endpoint.__name__ = handler.__name__
    return endpoint


def routes(site: Site) -> list[BaseRoute]:
    sessions = site.app.sessions

    def stories(request: Request) -> Response:
        with sessions() as session:
            filters = read_filters(request, site, session)
            found, after = browse.browse_stories(
                session, filters.wanted, filters.limit, filters.cursor
            )
            body = [views.story_summary(s) for s in found]
        headers = {}
        if after is not None:
            url = request.url.include_query_params(cursor=after.encode())
            headers["Link"] = f'<{url}>; rel="next"'
        return JSONResponse(body, headers=headers)

    def story(request: Request) -> Response:
        story_id = int(request.path_params["story_id"])
        with sessions() as session:
            found = session.get(Story, story_id)
            if found is None:
                return error(404, f"no story with id {story_id}")
            versions = queries.versions(session, story_id)
            return JSONResponse(
                views.story_detail(found, versions, queries.aliases(session, story_id))
            )

    def diff(request: Request) -> Response:
        story_id = int(request.path_params["story_id"])
        with sessions() as session:
            found = session.get(Story, story_id)
            if found is None:
                return error(404, f"no story with id {story_id}")
            count = found.version_count
            if (
                count < 2
                and "from" not in request.query_params
                and "to" not in request.query_params
            ):
                return error(404, f"story {story_id} has one version: nothing has changed yet")
            to = integer(request, "to", count, 1, 10**9) or count
            start = integer(request, "from", to - 1, 0, 10**9)
            old = queries.version(session, story_id, start or 0)
            new = queries.version(session, story_id, to)
            for number, row in ((start, old), (to, new)):
                if row is None:
                    return error(404, f"story {story_id} has no version {number} (it has {count})")
            assert old is not None and new is not None and start is not None
            document = diff_to_json(
                compute_diff(version_text(old), version_text(new)), story_id, start, to
            )
            document["change_class"] = new.change_class
        return JSONResponse(document)

    def events(request: Request) -> Response:
        cutoff = parse_since(request.query_params.get("since", "24h") or "24h", datetime.now(UTC))
        topics = tuple(t for t in request.query_params.getlist("topic") if t)
        limit = integer(request, "limit", site.page_size, 1, MAX_PAGE) or site.page_size
        offset = integer(request, "offset", 0, 0, 10**6) or 0
        with sessions() as session:
            flt = queries.ListFilter(since=cutoff, topics=topics)
            groups, more = browse.event_groups(session, flt, limit, offset)
            rows = reports.cluster_rows(groups)
        headers = {}
        if more:
            url = request.url.include_query_params(offset=offset + limit, limit=limit)
            headers["Link"] = f'<{url}>; rel="next"'
        return JSONResponse(rows, headers=headers)

    def topic_counts(request: Request) -> Response:
        name = request.path_params["name"]
        days = integer(request, "days", 30, 1, 366) or 30
        with sessions() as session:
            if name not in site.topics(session):
                return error(404, f"no topic named {name!r}")
            today = datetime.now(UTC).date()
            counts = site.cached(
                ("counts", name, days, today),
                lambda: browse.topic_counts(session, name, days, today),
            )
        return JSONResponse(
            [
                {"day": c.day.isoformat(), "new": c.new, "changed": c.changed, "removed": c.removed}
                for c in counts
            ]
        )

    def sources(request: Request) -> Response:
        with sessions() as session:
            return JSONResponse(site.source_rows(session))

    def status(request: Request) -> Response:
        with sessions() as session:
            facts = reports.status_facts(
                session, site.app.engine, site.app.config, site.app.clock()
            )
        return JSONResponse(reports.status_document(facts))

    def description(request: Request) -> Response:
        return JSONResponse(openapi())

    return [
        Route("/api/stories", api(stories)),
        Route("/api/stories/{story_id:int}", api(story)),
        Route("/api/stories/{story_id:int}/diff", api(diff)),
        Route("/api/events", api(events)),
        Route("/api/topics/{name}/counts", api(topic_counts)),
        Route("/api/sources", api(sources)),
        Route("/api/status", api(status)),
        Route("/api/openapi.json", description),
    ]
