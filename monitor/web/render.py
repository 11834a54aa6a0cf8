"""Templates and what they need: every value is escaped (autoescape) and sanitised
(no control, escape or bidi-override character reaches a page), links are made only of
http(s) URLs, and the topic chart is SVG drawn here, readable without colour."""

from __future__ import annotations

import functools
from datetime import date, datetime
from html import escape
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from monitor import views
from monitor.core.dates import as_utc
from monitor.core.text import count as counted
from monitor.core.text import sanitize
from monitor.store.browse import DayCount

TITLE_LIMIT = 300  # characters of a headline shown in a listing (a hostile one can be 10 kB)


def _finalize(value: Any) -> Any:
    """Applied to every `{{ … }}`: text from the web is sanitised before it is escaped."""
    if value is None:
        return ""
    if isinstance(value, str) and not isinstance(value, Markup):
        return sanitize(value)
    return value


def safe_href(url: str | None) -> str | None:
    """The URL when it may be a link (http or https with a host), else None: a
    `javascript:` or `data:` URL from a page is shown as text, never as a link."""
    if not url:
        return None
    cleaned = sanitize(url).strip()
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return cleaned


def short(text: str | None, limit: int = TITLE_LIMIT) -> str:
    text = " ".join(sanitize(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def when(value: datetime | str | None) -> str:
    """'2026-11-30 10:14 UTC': the server's readers may be anywhere, so times are UTC."""
    if value is None:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return f"{as_utc(value):%Y-%m-%d %H:%M} UTC"


def query(params: dict[str, Any], **changes: Any) -> str:
    """The current filters with some changed, as a query string ('' when empty)."""
    merged = {**params, **changes}
    pairs: list[tuple[str, str]] = []
    for key, value in merged.items():
        if value in (None, "", False):
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append((key, "1" if item is True else str(item)))
    return ("?" + urlencode(pairs)) if pairs else ""


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("monitor.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(href=safe_href, short=short, when=when, outlet=views.outlet)
    env.globals.update(query=query, count=counted)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


# ---------------------------------------------------------------- the chart

CHART_WIDTH = 720
CHART_HEIGHT = 240
_MARGIN_LEFT, _MARGIN_BOTTOM, _MARGIN_TOP = 40, 30, 10
SERIES = (("new", "new stories"), ("changed", "changed"), ("removed", "removed"))


def stories_chart(counts: list[DayCount], title: str) -> Markup:
    """Stacked bars of new, changed and removed stories per day. Each series has its own
    pattern (solid, hatched, dotted) as well as its colour, a legend names them, and every
    bar carries a <title> with its numbers; the page repeats them in a table."""
    totals = [c.new + c.changed + c.removed for c in counts]
    top = max([*totals, 1])
    step = _nice_step(top)
    top = -(-top // step) * step
    plot_w = CHART_WIDTH - _MARGIN_LEFT - 10
    plot_h = CHART_HEIGHT - _MARGIN_BOTTOM - _MARGIN_TOP
    slot = plot_w / max(len(counts), 1)
    bar = max(slot * 0.7, 1.0)
    out = [
        f'<svg class="chart" role="img" aria-labelledby="chart-title" '
        f'viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT + 24}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(title)}</title>',
        "<defs>",
        '<pattern id="p-new" width="6" height="6" patternUnits="userSpaceOnUse">'
        '<rect width="6" height="6" class="s-new"/></pattern>',
        '<pattern id="p-changed" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" class="s-bg"/>'
        '<rect width="3" height="6" class="s-changed"/></pattern>',
        '<pattern id="p-removed" width="6" height="6" patternUnits="userSpaceOnUse">'
        '<rect width="6" height="6" class="s-bg"/><circle cx="3" cy="3" r="1.6" '
        'class="s-removed"/></pattern>',
        "</defs>",
    ]
    for tick in range(0, top + 1, step):
        y = _MARGIN_TOP + plot_h - plot_h * tick / top
        out.append(
            f'<line class="grid" x1="{_MARGIN_LEFT}" x2="{CHART_WIDTH - 10}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{_MARGIN_LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{tick}</text>'
        )
    for index, count in enumerate(counts):
        x = _MARGIN_LEFT + index * slot + (slot - bar) / 2
        base = _MARGIN_TOP + plot_h
        label = (
            f"{count.day:%d %b}: {count.new} new, {count.changed} changed, {count.removed} removed"
        )
        out.append(f"<g><title>{escape(label)}</title>")
        for key, _ in SERIES:
            value = getattr(count, key)
            if not value:
                continue
            height = plot_h * value / top
            base -= height
            out.append(
                f'<rect class="bar" x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="url(#p-{key})"/>'
            )
        out.append("</g>")
        if (len(counts) <= 31 and index % 7 == 0) or (len(counts) > 31 and index % 14 == 0):
            out.append(
                f'<text class="axis" x="{x + bar / 2:.1f}" y="{CHART_HEIGHT - 12}" '
                f'text-anchor="middle">{_day_label(count.day)}</text>'
            )
    for position, (key, name) in enumerate(SERIES):
        x = _MARGIN_LEFT + position * 150
        out.append(
            f'<rect class="bar" x="{x}" y="{CHART_HEIGHT + 6}" width="14" height="14" '
            f'fill="url(#p-{key})"/><text class="legend" x="{x + 20}" '
            f'y="{CHART_HEIGHT + 18}">{escape(name)}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def _nice_step(top: int) -> int:
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000):
        if top / step <= 5:
            return step
    return 10_000


def _day_label(day: date) -> str:
    return f"{day:%d %b}"
