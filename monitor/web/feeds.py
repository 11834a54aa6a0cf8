"""Atom feeds: `/feeds/all.atom`, `/feeds/{topic}.atom`, `?changes=1` for changes only.

One entry per new story (its version 1) or new version; a change's content is the readable
HTML diff. Entry ids name the story and the version number, so they are the same at every
request and on every server; all text is sanitised (no character XML forbids) and escaped.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import UTC, datetime
from html import escape
from xml.etree import ElementTree as ET

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from monitor import views
from monitor.core.diff import compute_diff, render_html, version_text
from monitor.core.text import sanitize
from monitor.store import browse, queries
from monitor.store.models import Story, Version
from monitor.web.pages import Site
from monitor.web.render import safe_href

ATOM = "http://www.w3.org/2005/Atom"
ID_PREFIX = "tag:monitor.invalid,2026:"  # tag URIs: stable, and no server's address in them
ENTRIES = 50
LEAD_PARAGRAPHS = 2


def entry_id(story_id: int, number: int) -> str:
    return f"{ID_PREFIX}story/{story_id}/version/{number}"


def _text(value: str | None) -> str:
    return sanitize(value)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        element.text = _text(text)
    return element


class _Contents:
    """Entries' HTML by (story, version): a version never changes, so neither does its
    entry; a feed re-read does not diff its changes again."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._known: OrderedDict[tuple[int, int], str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: Session, story: Story, version: Version) -> str:
        key = (story.id, version.number)
        with self._lock:
            if key in self._known:
                self._known.move_to_end(key)
                return self._known[key]
        made = _content(session, story, version)
        with self._lock:
            self._known[key] = made
            while len(self._known) > self.size:
                self._known.popitem(last=False)
        return made


def _content(session: Session, story: Story, version: Version) -> str:
    """HTML: the lead paragraphs of a new story; the diff of a change."""
    if version.number == 1:
        paragraphs = [p for p in version.text.split("\n\n") if p.strip()][:LEAD_PARAGRAPHS]
        return "".join(f"<p>{escape(_text(p))}</p>" for p in paragraphs)
    if version.change_class == "removed":
        return "<p>The page was taken down (it answers 404 or 410, or redirects away).</p>"
    old = queries.latest_content_version(session, story.id, below=version.number)
    if old is None:
        return ""
    summary = (
        f"<p>Version {old.number} → {version.number}"
        f"{f' ({escape(version.change_class)})' if version.change_class else ''}</p>"
    )
    return summary + render_html(compute_diff(version_text(old), version_text(version)))


def atom(
    session: Session,
    base: str,
    topic: str | None,
    *,
    changes_only: bool,
    self_url: str,
    contents: _Contents,
) -> bytes:
    ET.register_namespace("", ATOM)
    rows = browse.feed_versions(session, topic, changes_only=changes_only, limit=ENTRIES)
    name = topic or "all"
    feed = ET.Element(f"{{{ATOM}}}feed")
    what = "Changes to" if changes_only else "New and changed"
    _sub(feed, "title", f"{what} {'all stories' if topic is None else topic + ' stories'}")
    _sub(feed, "id", f"{ID_PREFIX}feed/{name}{'/changes' if changes_only else ''}")
    newest = max((v.fetched_at for _, v in rows), default=datetime(2026, 1, 1, tzinfo=UTC))
    _sub(feed, "updated", views.iso(newest))
    _sub(feed, "link", rel="self", href=self_url)
    _sub(feed, "link", rel="alternate", type="text/html", href=base + "/")
    _sub(_sub(feed, "author"), "name", "monitor")
    _sub(feed, "generator", "monitor")
    for story, version in rows:
        entry = _sub(feed, "entry")
        title = version.title or story.title or "(no headline)"
        if version.number == 1:
            label = "New"
        else:
            label = f"Changed ({version.change_class})" if version.change_class else "Changed"
        _sub(entry, "title", f"{label}: {title}")
        _sub(entry, "id", entry_id(story.id, version.number))
        _sub(entry, "updated", views.iso(version.fetched_at))
        _sub(entry, "published", views.iso(version.fetched_at))
        page = f"{base}/stories/{story.id}"
        if version.number > 1:
            page += f"/diff?from={version.number - 1}&to={version.number}"
        _sub(entry, "link", rel="alternate", type="text/html", href=page)
        original = safe_href(story.url)
        if original:
            _sub(entry, "link", rel="related", href=original)
        _sub(_sub(entry, "author"), "name", views.outlet(story))
        for item in story.topics:
            _sub(entry, "category", term=_text(item.topic))
        _sub(entry, "content", contents.get(session, story, version), type="html")
    body: bytes = ET.tostring(feed, encoding="utf-8")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def routes(site: Site) -> list[BaseRoute]:
    contents = _Contents()  # this app's database's entries

    def serve(request: Request) -> Response:
        name = request.path_params["name"]
        if not name.endswith(".atom"):
            return PlainTextResponse("not found\n", status_code=404)
        topic: str | None = name.removesuffix(".atom")
        changes_only = request.query_params.get("changes", "") in ("1", "true", "yes")
        base = str(request.base_url).rstrip("/")
        with site.app.sessions() as session:
            if topic == "all":
                topic = None
            elif topic not in site.topics(session):
                return PlainTextResponse(f"no topic named {topic!r}\n", status_code=404)
            body = atom(
                session,
                base,
                topic,
                changes_only=changes_only,
                self_url=str(request.url),
                contents=contents,
            )
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    return [Route("/feeds/{name}", serve)]
