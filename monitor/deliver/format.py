"""Events into messages (pure: plain data in, text and bytes out).

The webhook gets the event's payload as JSON (the README's contract); a chat or email
channel gets a title and a body built from the same payload: web text made safe (no escape
sequence or control character), escaped for the channel's format, and cut to its limits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from monitor.core.text import one_line

SIGNATURE_HEADER = "X-Monitor-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
HEADLINE_CHARS = 300  # a headline longer than this is cut in a chat message
SENTENCES = 3  # changed sentences shown in a chat message

ChannelFormat = Literal["text", "markdown", "html"]

# What Markdown (CommonMark, Slack's and Telegram's dialects) reads as markup.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~>=])")


def change_summary(
    kind: str, title_changed: dict[str, str] | None, words_added: int, words_removed: int
) -> str:
    """One readable line for a change event: what a reader sees first."""
    if kind == "removed":
        return "the page was taken down"
    if kind == "restored":
        return "the page is back after it was taken down"
    if kind == "headline" and title_changed:
        return (
            f"headline changed: “{one_line(title_changed['old'])}” → "
            f"“{one_line(title_changed['new'])}”"
        )
    words = f"{_words(words_added)} added, {_words(words_removed)} removed"
    label = {"minor": "minor edit", "edit": "edit", "major": "major edit"}.get(kind, kind)
    headline = ", headline changed" if title_changed else ""
    return f"{label}: {words}{headline}"


def _words(n: int) -> str:
    return f"{n} word" if n == 1 else f"{n} words"


def webhook_body(payload: dict[str, Any]) -> bytes:
    """The bytes POSTed (and signed): compact JSON, UTF-8."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    """X-Monitor-Signature: 'sha256=' and the hex HMAC-SHA256 of the body."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def batch_payload(key: str, rule: str, events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A batched rule's message: the window's events, oldest first."""
    topics = sorted({t for event in events for t in event.get("topics", [])})
    return {"id": key, "rule": rule, "event": "batch", "topics": topics, "events": list(events)}


def message_payload(
    key: str, rule: str, events: Sequence[dict[str, Any]], *, batched: bool
) -> dict[str, Any]:
    """What one delivery sends: the event itself, or the batch of a window."""
    if not batched and len(events) == 1:
        return events[0]
    return batch_payload(key, rule, events)


def escape_markdown(text: str) -> str:
    """Every character Markdown could read as markup, backslash-escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _is_url(line: str) -> bool:
    return bool(re.fullmatch(r"https?://\S+", line))


def _autolink(url: str) -> str:
    return "<" + url.replace("<", "%3C").replace(">", "%3E") + ">"


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word with an ellipsis when it had to be."""
    if limit <= 0 or len(text) <= limit:
        return text
    if limit == 1:
        return "…"
    head = text[: limit - 1]
    if " " in head[-40:]:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip() + "…"


def chat_message(
    payload: dict[str, Any], *, fmt: ChannelFormat, title_max: int, body_max: int
) -> tuple[str, str]:
    """(title, body) for a chat or email channel: 'deepseek · new · The Daily Demo', then the
    headline, the link and the snippet, or the change with [-deleted-] and {+inserted+} words;
    for a source event 'extraction degraded · tech', the reason, since when, what to do.

    `fmt` is the channel's format: Markdown is escaped here (Apprise passes text through to a
    Markdown channel as it is), HTML is escaped by Apprise when it converts the text; either
    way a title from the web can neither format nor link. `title_max` 0: the channel has no
    title, so it leads the body. Lengths are counted after escaping.
    """
    if payload.get("event") == "batch":
        title, lines = _batch_lines(payload)
    else:
        title, lines = _event_title(payload), _event_lines(payload)
    if fmt == "markdown":  # a link stays a link: an autolink, which escapes nothing inside
        title = escape_markdown(title)
        lines = [_autolink(line) if _is_url(line) else escape_markdown(line) for line in lines]
    if title_max <= 0:
        lines = [title, "", *lines]
        title = ""
    else:
        title = cut(title, title_max)
    body = "\n".join(lines).strip()
    return title, _cut_body(body, body_max, fmt)


def _cut_body(body: str, limit: int, fmt: ChannelFormat) -> str:
    if limit <= 0 or len(body) <= limit:
        return body
    out = cut(body, limit)
    if fmt == "markdown":  # never end on a lone escaping backslash
        stripped = out.rstrip("…")
        trailing = len(stripped) - len(stripped.rstrip("\\"))
        if trailing % 2:
            out = stripped[:-1] + "…"
    return out


def source_title(kind: str, name: object) -> str:
    """A source event's title: 'extraction degraded · tech' (or 'recovered')."""
    state = "recovered" if kind == "recovered" else "degraded"
    return one_line(f"extraction {state} · {one_line(str(name or '-'))}")


def _source_lines(payload: dict[str, Any]) -> list[str]:
    """A source event's body: the reason, since when, and what to do."""
    source = payload.get("source") or {}
    name = one_line(str(source.get("name") or "-"))
    reason = one_line(source.get("reason")) or "(no reason recorded)"
    since = one_line(source.get("since")) or "-"
    if payload.get("event") == "recovered":
        return [
            f"{name}: no longer degraded at {one_line(payload.get('created'))} (its pages "
            "extract as before again, or `monitor reextract` cleared the alarm).",
            f"It was degraded since {since}: {reason}",
            "The re-checks held back meanwhile are written or dropped now; `monitor sources` "
            "shows the source.",
        ]
    return [
        f"{name}: {reason}",
        f"Since {since}. Re-checks of its stories are held back (not written as versions) "
        "while it lasts.",
        "",
        "What to do: `monitor sources` shows the source and its held re-checks. If the site "
        "changed its template, fix the source's selector in the config, then run "
        "`monitor reextract`: it writes what was really edited and drops the rest.",
    ]


def _event_title(payload: dict[str, Any]) -> str:
    if payload.get("event") in ("degraded", "recovered"):
        return source_title(str(payload.get("event")), (payload.get("source") or {}).get("name"))
    story = payload.get("story") or {}
    topics = ", ".join(payload.get("topics") or []) or "all topics"
    event = str(payload.get("event", ""))
    where = story.get("outlet") or story.get("source") or "-"
    if event == "cluster":
        cluster = payload.get("cluster") or {}
        where = f"{len(cluster.get('outlets') or [])} outlets"
    return one_line(f"{topics} · {event} · {where}")


def _event_lines(payload: dict[str, Any]) -> list[str]:
    if payload.get("event") in ("degraded", "recovered"):
        return _source_lines(payload)
    story = payload.get("story") or {}
    lines = [cut(one_line(story.get("title")) or "(no headline)", HEADLINE_CHARS)]
    lines.append(one_line(story.get("url")))
    diff = payload.get("diff")
    cluster = payload.get("cluster")
    if diff is not None:
        lines += ["", one_line(diff.get("summary"))]
        for sentence in (diff.get("sentences") or [])[:SENTENCES]:
            lines.append("… " + one_line(sentence) + " …")
    elif cluster is not None:
        outlets = ", ".join(one_line(o) for o in cluster.get("outlets") or [])
        lines += ["", f"{len(cluster.get('outlets') or [])} outlets on one event: {outlets}"]
    elif story.get("snippet"):
        lines += ["", one_line(story["snippet"])]
    return lines


def _batch_lines(payload: dict[str, Any]) -> tuple[str, list[str]]:
    events = payload.get("events") or []
    topics = ", ".join(payload.get("topics") or []) or "all topics"
    title = one_line(f"{topics} · {len(events)} alerts · {payload.get('rule', '')}")
    lines: list[str] = []
    for event in events:
        if event.get("event") in ("degraded", "recovered"):
            source = event.get("source") or {}
            lines.append(
                f"{source_title(str(event.get('event')), source.get('name'))}: "
                f"{cut(one_line(source.get('reason')), HEADLINE_CHARS)}"
            )
            lines.append(one_line(source.get("url")))
            continue
        story = event.get("story") or {}
        headline = cut(one_line(story.get("title")) or "(no headline)", HEADLINE_CHARS)
        lines.append(f"{event.get('event')}: {headline} ({one_line(story.get('outlet'))})")
        lines.append(one_line(story.get("url")))
    return title, lines
