"""Alert messages and rules as plain data: summaries, escaping per channel format, limits,
batch windows, Retry-After, and config mistakes refused in one line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.deliver.format import (
    HEADLINE_CHARS,
    ChannelFormat,
    change_summary,
    chat_message,
    escape_markdown,
    signature,
    webhook_body,
)
from monitor.deliver.outbox import window_end
from monitor.deliver.rules import AlertRule
from monitor.deliver.send import retry_after_seconds
from monitor.errors import ConfigError

SEEDS = Path(__file__).resolve().parents[1] / "config" / "seeds"
HOSTILE = (
    "<script>alert(1)</script> **bold** [click](http://evil.example) "
    "\x1b]8;;http://evil.example\x07link\x1b]8;;\x07 \x1b[31mred\x1b[0m _x_ `code` # h"
)


def event(title: str = "DeepSeek raises prices", **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": "desk:new:7",
        "rule": "desk",
        "event": "new",
        "topics": ["deepseek"],
        "story": {
            "id": 7,
            "url": "https://example.org/news/7",
            "title": title,
            "outlet": "The Daily Demo",
            "source": "daily",
            "snippet": "DeepSeek said on Tuesday it would raise prices.",
        },
    }
    payload.update(extra)
    return payload


def test_the_title_and_body_of_a_new_story() -> None:
    title, body = chat_message(event(), fmt="text", title_max=250, body_max=32768)
    assert title == "deepseek · new · The Daily Demo"
    assert body.splitlines() == [
        "DeepSeek raises prices",
        "https://example.org/news/7",
        "",
        "DeepSeek said on Tuesday it would raise prices.",
    ]


def test_a_change_shows_the_summary_and_the_marked_sentences() -> None:
    diff = {
        "summary": "edit: 1 word added, 1 word removed",
        "sentences": ["about [-350-] {+150+} permanent staff"],
    }
    _, body = chat_message(event(event="edit", diff=diff), fmt="text", title_max=250, body_max=1000)
    assert body.splitlines()[3:] == [
        "edit: 1 word added, 1 word removed",
        "… about [-350-] {+150+} permanent staff …",
    ]


def test_change_summaries_read_as_sentences() -> None:
    headline = {"old": "Old title", "new": "New title"}
    assert (
        change_summary("headline", headline, 2, 2) == "headline changed: “Old title” → “New title”"
    )
    assert change_summary("edit", None, 1, 3) == "edit: 1 word added, 3 words removed"
    assert change_summary("major", headline, 40, 2) == (
        "major edit: 40 words added, 2 words removed, headline changed"
    )
    assert change_summary("removed", None, 0, 300) == "the page was taken down"


def test_hostile_titles_are_escaped_for_markdown_and_stripped_of_terminal_escapes() -> None:
    title, body = chat_message(event(HOSTILE), fmt="markdown", title_max=250, body_max=4000)
    headline = body.splitlines()[0]
    assert "\x1b" not in body and "\x07" not in body
    assert r"\*\*bold\*\*" in headline and r"\[click\]\(http://evil\.example\)" in headline
    assert "<script>" not in headline and r"\<script\>" in headline
    assert title == r"deepseek · new · The Daily Demo"


def test_a_10kb_headline_is_cut_to_the_channels_limits() -> None:
    huge = "DeepSeek " + "word " * 2000
    formats: tuple[ChannelFormat, ...] = ("text", "markdown", "html")
    for fmt in formats:
        title, body = chat_message(event(huge), fmt=fmt, title_max=250, body_max=1000)
        headline, link = body.splitlines()[:2]
        assert len(headline) <= HEADLINE_CHARS and headline.endswith("…")
        # the link survives a long headline (an autolink in Markdown: nothing escaped in it)
        assert link.strip("<>") == "https://example.org/news/7"
        title, body = chat_message(event(huge), fmt=fmt, title_max=20, body_max=120)
        assert len(title) <= 20 and len(body) <= 120 and body.endswith("…")
    _, no_title = chat_message(event(huge), fmt="text", title_max=0, body_max=500)
    assert no_title.startswith("deepseek · new · The Daily Demo\n")
    assert len(no_title) <= 500


def test_markdown_escaping_never_ends_on_a_lone_backslash() -> None:
    for limit in range(20, 60):
        _, body = chat_message(
            event("a.b.c.d.e.f.g.h.i.j.k.l.m"), fmt="markdown", title_max=9, body_max=limit
        )
        stripped = body.rstrip("…")
        assert (len(stripped) - len(stripped.rstrip("\\"))) % 2 == 0
    assert escape_markdown("1. *x*") == r"1\. \*x\*"


def test_the_webhook_body_is_json_with_escapes_and_a_signature_of_its_bytes() -> None:
    body = webhook_body(event(HOSTILE))
    assert json.loads(body)["story"]["title"] == HOSTILE  # the contract: the title as stored
    assert b"\x1b" not in body  # JSON escapes control characters
    assert signature("k", body) == signature("k", bytes(body))
    assert signature("k", body) != signature("k", body + b" ")
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()
    assert signature("k", b"{}") == f"sha256={expected}"


def test_batch_windows_are_aligned_and_retry_after_reads_both_forms() -> None:
    at = datetime(2026, 11, 30, 10, 7, 30, tzinfo=UTC)
    assert window_end(at, timedelta(minutes=15)) == datetime(2026, 11, 30, 10, 15, tzinfo=UTC)
    assert window_end(at.replace(minute=15, second=0), timedelta(minutes=15)) == at.replace(
        minute=30, second=0
    )
    assert retry_after_seconds("120") == 120.0
    assert (
        retry_after_seconds(
            "Mon, 30 Nov 2026 10:00:30 GMT", now=at.replace(minute=0, second=0).timestamp()
        )
        == 30.0
    )
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_a_rule_alerts_once_on_the_topics_it_follows() -> None:
    rule = AlertRule(name="desk", topics=["deepseek", "chips"], on=["new"], webhook="http://x")
    assert rule.wants("new", ["chips", "deepseek", "stargate"]) == ("chips", "deepseek")
    assert rule.wants("new", ["stargate"]) is None
    assert rule.wants("edit", ["deepseek"]) is None
    everything = AlertRule(name="all", apprise="slack://T000/B000/XXXX")
    assert everything.wants("new", []) == ()
    assert everything.channel == "slack://…"  # the token is not shown
    assert AlertRule(name="w", webhook="https://u:p@hooks.example.org/x?t=1").channel == (
        "https://hooks.example.org/…"
    )


@pytest.mark.parametrize(
    ("toml", "line"),
    [
        (
            '[[alerts]]\nname = "a"\nwebhook = "http://x"\non = ["new", "bogus"]\n',
            "alerts[0].on[1]: Input should be 'new', 'headline', 'minor', 'edit', 'major', "
            "'removed', 'restored', 'cluster', 'degraded' or 'recovered' (got 'bogus')",
        ),
        (
            '[[alerts]]\nname = "a"\n',
            "alerts[0].webhook: a rule needs either webhook or apprise (one of them)",
        ),
        (
            '[[alerts]]\nname = "a"\napprise = "json://x"\nsecret_env = "X"\n',
            "alerts[0].secret_env: only webhook rules are signed",
        ),
        (
            '[[alerts]]\nname = "a"\napprise = "hooks.slack.com"\n',
            "alerts[0].apprise: not an Apprise URL (scheme://…, like slack://… or ntfy://…)",
        ),
        (
            '[[alerts]]\nname = "a"\nwebhook = "ftp://x"\n',
            "alerts[0].webhook: 'ftp://x' is not an http(s) URL",
        ),
        (
            '[[alerts]]\nname = "a"\nwebhook = "http://x"\ntopics = ["nope"]\n',
            "alerts[0].topics: no topic named 'nope'",
        ),
        (
            '[[alerts]]\nname = "a"\nwebhook = "http://x"\nbatch = "soon"\n',
            "alerts[0].batch: 'soon' is not a duration (use e.g. 30s, 15m, 1h, 2d)",
        ),
        (
            '[[alerts]]\nname = "a"\nwebhook = "http://x"\n[[alerts]]\nname = "a"\nwebhook = "http://y"\n',
            "alerts[1].name: duplicate name 'a'",
        ),
        ('[delivery]\ngive_up_after = "0s"\n', "delivery.give_up_after: must be longer than zero"),
        ("[delivery]\nretries = 3\n", "delivery.retries: unknown key"),
        (
            '[[alerts]]\nname = "a"\nwebhook = "http://x"\ncolour = 1\n',
            "alerts[0].colour: unknown key",
        ),
        (
            '[[alerts]]\nname = "a"\nwebhook = "http://x"\nmin_outlets = 0\n',
            "alerts[0].min_outlets: Input should be greater than or equal to 1 (got 0)",
        ),
    ],
)
def test_alert_config_mistakes_are_one_line_naming_the_key(
    tmp_path: Path, toml: str, line: str
) -> None:
    path = tmp_path / "monitor.toml"
    path.write_text(
        f'[seeds]\npath = "{SEEDS}"\n[[topics]]\nname = "deepseek"\nkeywords = ["DeepSeek"]\n'
        + toml,
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value) == f"monitor.toml: {line}"
    assert "\n" not in str(raised.value)


def test_a_valid_rule_has_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "monitor.toml"
    path.write_text(
        f'[seeds]\npath = "{SEEDS}"\n[[topics]]\nname = "deepseek"\nkeywords = ["DeepSeek"]\n'
        '[[alerts]]\nname = "desk-slack"\ntopics = ["deepseek"]\napprise = "slack://T000/B000/XXXX"\n'
        'on = ["new", "headline", "cluster"]\nbatch = "15m"\n',
        encoding="utf-8",
    )
    config = load_config(path)
    (rule,) = config.alerts
    assert (rule.min_outlets, rule.batch, config.delivery.give_up_after) == (
        2,
        timedelta(minutes=15),
        timedelta(days=1),
    )


def test_a_rule_may_alert_on_a_source_s_extraction_whatever_its_topics(tmp_path: Path) -> None:
    path = tmp_path / "monitor.toml"
    path.write_text(
        f'[seeds]\npath = "{SEEDS}"\n[[topics]]\nname = "deepseek"\nkeywords = ["DeepSeek"]\n'
        '[[alerts]]\nname = "ops"\ntopics = ["deepseek"]\nwebhook = "http://127.0.0.1:9/x"\n'
        'on = ["degraded", "recovered", "new"]\n',
        encoding="utf-8",
    )
    (rule,) = load_config(path).alerts
    assert rule.on == ["degraded", "recovered", "new"]
    assert rule.wants_source("degraded") and rule.wants_source("recovered")
    assert rule.wants("degraded", ["deepseek"]) is None  # not a story's event
    assert not AlertRule(name="desk", webhook="http://x", on=["new"]).wants_source("degraded")
    assert not rule.wants_source("new")


def source_event(
    kind: str = "degraded", reason: str = "pages extract empty (4 of 6)"
) -> dict[str, Any]:
    return {
        "id": "ops:degraded:3:2026-11-30T14:00:00Z",
        "rule": "ops",
        "event": kind,
        "created": "2026-11-30T15:00:00Z",
        "topics": [],
        "story": None,
        "source": {
            "name": "tech",
            "url": "https://example.org/feed.xml",
            "reason": reason,
            "since": "2026-11-30T14:00:00Z",
        },
    }


def test_a_degraded_source_says_why_since_when_and_what_to_do() -> None:
    title, body = chat_message(source_event(), fmt="text", title_max=250, body_max=32768)
    assert title == "extraction degraded · tech"
    lines = body.splitlines()
    assert lines[0] == "tech: pages extract empty (4 of 6)"
    assert lines[1].startswith("Since 2026-11-30T14:00:00Z. Re-checks of its stories are held")
    assert "`monitor sources`" in lines[-1] and "`monitor reextract`" in lines[-1]
    assert "selector" in lines[-1]
    title, body = chat_message(source_event("recovered"), fmt="text", title_max=250, body_max=32768)
    assert title == "extraction recovered · tech"
    assert body.splitlines()[1] == (
        "It was degraded since 2026-11-30T14:00:00Z: pages extract empty (4 of 6)"
    )
    # In a batch, one line and the source's URL.
    _, body = chat_message(
        {
            "id": "ops:batch:x",
            "rule": "ops",
            "event": "batch",
            "topics": [],
            "events": [source_event()],
        },
        fmt="text",
        title_max=250,
        body_max=32768,
    )
    assert body.splitlines() == [
        "extraction degraded · tech: pages extract empty (4 of 6)",
        "https://example.org/feed.xml",
    ]


def test_a_source_event_in_markdown_is_escaped_and_within_limits() -> None:
    title, body = chat_message(
        source_event(reason=HOSTILE * 50), fmt="markdown", title_max=100, body_max=500
    )
    assert title == "extraction degraded · tech"
    assert "\x1b" not in body and "<script>" not in body and len(body) <= 500
    assert "\\*\\*bold\\*\\*" in body and "**bold**" not in body


def test_metrics_export_the_outbox_backlog_and_attempts() -> None:
    from monitor.health import Metrics

    metrics = Metrics()
    assert "monitor_alerts_pending" not in metrics.render()  # no rules, no alert metrics
    metrics.set_alert_counts({"pending": 2, "batching": 3, "failed": 1, "delivered": 9})
    for outcome in ("delivered", "delivered", "pending", "failed"):
        metrics.observe_delivery(outcome)
    lines = metrics.render().splitlines()
    assert "monitor_alerts_pending 5" in lines
    assert "monitor_alerts_failed 1" in lines
    assert 'monitor_alert_attempts_total{outcome="delivered"} 2' in lines
    assert 'monitor_alert_attempts_total{outcome="pending"} 1' in lines
    assert 'monitor_alert_attempts_total{outcome="failed"} 1' in lines
