"""The channels: a webhook (httpx, signed, with an Idempotency-Key) and Apprise (Slack, Teams,
Telegram, Matrix, ntfy, Discord, email…). Each send returns an Outcome and never raises.

A webhook is the operator's own endpoint, named in the config, not a link from the web: it is
sent with a client of its own, without the fetcher's guard against private addresses.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx

from monitor.core.text import error_line, one_line
from monitor.deliver import format as fmt
from monitor.deliver.outbox import Outcome
from monitor.deliver.rules import AlertRule
from monitor.errors import ConfigError

if TYPE_CHECKING:
    import apprise

USER_AGENT = "monitor/0.1 alerts"
ERROR_CHARS = 300


def secret_of(rule: AlertRule) -> str | None:
    """The rule's signing secret from its environment variable (ConfigError when unset)."""
    if rule.secret_env is None:
        return None
    value = os.environ.get(rule.secret_env)
    if not value:
        raise ConfigError(
            f"alerts: {rule.name}: secret_env: the environment variable {rule.secret_env} "
            "is not set"
        )
    return value


def check_rule(rule: AlertRule, index: int) -> None:
    """What config validation cannot see, checked when the service starts: the secret is in
    the environment, Apprise knows the URL. One line naming the key."""
    secret_of(rule)
    if rule.apprise is not None and _apprise_for(rule.apprise) is None:
        raise ConfigError(
            f"alerts[{index}].apprise: Apprise does not know this URL "
            f"({rule.channel}; see its list of services)"
        )


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (now if now is not None else time.time()))


async def send_webhook(
    client: httpx.AsyncClient, rule: AlertRule, key: str, payload: dict[str, Any]
) -> Outcome:
    """POST the payload; 2xx is delivered, anything else a failure to retry."""
    assert rule.webhook is not None
    started = time.monotonic()
    try:
        body = fmt.webhook_body(payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            fmt.IDEMPOTENCY_HEADER: key,
        }
        secret = secret_of(rule)
        if secret is not None:
            headers[fmt.SIGNATURE_HEADER] = fmt.signature(secret, body)
        response = await client.post(rule.webhook, content=body, headers=headers)
    except ConfigError as exc:
        return Outcome(False, error=str(exc), duration=time.monotonic() - started)
    except httpx.HTTPError as exc:
        message = one_line(str(exc)) or type(exc).__name__
        return Outcome(False, error=message[:ERROR_CHARS], duration=time.monotonic() - started)
    duration = time.monotonic() - started
    if response.is_success:
        return Outcome(True, status=response.status_code, duration=duration)
    text = one_line(response.text)[:200]
    error = f"HTTP {response.status_code}" + (f": {text}" if text else "")
    return Outcome(
        False,
        status=response.status_code,
        error=error,
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        duration=duration,
    )


def _apprise_for(url: str) -> apprise.Apprise | None:
    import apprise

    target = apprise.Apprise()
    return target if target.add(url) else None


class _Captured(logging.Handler):
    """Apprise says why a send failed only in its log (from threads of its own): keep its
    recent warnings, numbered, so a send can take those logged while it ran and say them
    itself, once, with the delivery. (Two sends failing at once may see each other's.)"""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: deque[tuple[int, str]] = deque(maxlen=50)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:  # under the handler's lock (handle())
        self.count += 1
        self.lines.append((self.count, record.getMessage()))

    def mark(self) -> int:
        return self.count

    def since(self, mark: int) -> str | None:
        lines = [line for number, line in list(self.lines) if number > mark]
        return lines[-1] if lines else None


_captured: _Captured | None = None
_captured_lock = threading.Lock()


def _apprise_log() -> _Captured:
    global _captured
    with _captured_lock:
        if _captured is None:
            _captured = _Captured()
            logger = logging.getLogger("apprise")
            logger.addHandler(_captured)
            logger.propagate = False
        return _captured


def send_apprise_sync(rule: AlertRule, payload: dict[str, Any]) -> Outcome:
    """Send through Apprise (blocking: call it in a thread)."""
    import apprise

    assert rule.apprise is not None
    started = time.monotonic()
    target = _apprise_for(rule.apprise)
    if target is None:
        return Outcome(False, error="Apprise does not know this URL", permanent=True)
    plugin = target[0]
    channel = plugin.resolve_format(apprise.NotifyFormat.TEXT)
    kind: fmt.ChannelFormat = (
        "markdown"
        if channel == apprise.NotifyFormat.MARKDOWN
        else "html"
        if channel == apprise.NotifyFormat.HTML
        else "text"
    )
    title, body = fmt.chat_message(
        payload,
        fmt=kind,
        title_max=int(plugin.title_maxlen or 0),
        body_max=int(plugin.body_maxlen or 0),
    )
    # Markdown is escaped here and sent as Markdown; text goes as text, which Apprise
    # escapes for an HTML channel.
    body_format = apprise.NotifyFormat.MARKDOWN if kind == "markdown" else apprise.NotifyFormat.TEXT
    captured = _apprise_log()
    mark = captured.mark()
    try:
        ok = target.notify(body=body, title=title, body_format=body_format)
    except Exception as exc:  # a plugin's bug is this delivery's failure
        return Outcome(False, error=error_line(exc), duration=time.monotonic() - started)
    duration = time.monotonic() - started
    if ok:
        return Outcome(True, duration=duration)
    reason = one_line(captured.since(mark) or "Apprise reported a failure")[:ERROR_CHARS]
    return Outcome(False, error=reason, duration=duration)


async def send(
    client: httpx.AsyncClient, rule: AlertRule, key: str, payload: dict[str, Any]
) -> Outcome:
    """One attempt through the rule's channel."""
    if rule.webhook is not None:
        return await send_webhook(client, rule, key, payload)
    return await asyncio.to_thread(send_apprise_sync, rule, payload)
