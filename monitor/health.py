"""What the service tells the outside: /healthz, /metrics (Prometheus) and JSON log lines.

Served by a tiny asyncio HTTP server when `[service] http_port` is set; no framework, two
fixed routes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LOG_FIELDS = ("source", "status", "duration", "entries", "new", "bytes", "error")


@dataclass
class Metrics:
    """Counters since the process started, and a histogram of fetch latencies."""

    polls: Counter[str] = field(default_factory=Counter)  # by outcome
    stories: Counter[str] = field(default_factory=Counter)  # new, changed, duplicate
    passes: Counter[str] = field(default_factory=Counter)  # ok, failed
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    latency_sum: float = 0.0
    started: float = field(default_factory=time.time)
    last_pass_ok: float | None = None

    def observe_poll(self, outcome: str, seconds: float) -> None:
        self.polls[outcome] += 1
        self.latency_sum += seconds
        index = next((i for i, edge in enumerate(LATENCY_BUCKETS) if seconds <= edge), -1)
        self.latency_counts[index] += 1

    def observe_pass(self, ok: bool, new: int = 0, changed: int = 0, duplicates: int = 0) -> None:
        self.passes["ok" if ok else "failed"] += 1
        self.stories.update({"new": new, "changed": changed, "duplicate": duplicates})
        if ok:
            self.last_pass_ok = time.time()

    def healthy(self, max_age: float, now: float | None = None) -> bool:
        """A pass succeeded within max_age seconds (or the process is younger than that)."""
        now = time.time() if now is None else now
        reference = self.last_pass_ok if self.last_pass_ok is not None else self.started
        return now - reference <= max_age

    def render(self) -> str:
        """The Prometheus text exposition format."""
        lines = [
            "# HELP monitor_polls_total Source polls by outcome.",
            "# TYPE monitor_polls_total counter",
            *(f'monitor_polls_total{{outcome="{k}"}} {v}' for k, v in sorted(self.polls.items())),
            "# HELP monitor_poll_failures_total Source polls that failed.",
            "# TYPE monitor_poll_failures_total counter",
            f"monitor_poll_failures_total {self.polls['failed']}",
            "# HELP monitor_stories_total Stories found, by kind.",
            "# TYPE monitor_stories_total counter",
            *(
                f'monitor_stories_total{{kind="{k}"}} {self.stories[k]}'
                for k in ("new", "changed", "duplicate")
            ),
            "# HELP monitor_passes_total Passes by result.",
            "# TYPE monitor_passes_total counter",
            *(f'monitor_passes_total{{result="{k}"}} {self.passes[k]}' for k in ("ok", "failed")),
            "# HELP monitor_fetch_seconds Time to fetch a source.",
            "# TYPE monitor_fetch_seconds histogram",
        ]
        cumulative = 0
        for edge, count in zip(LATENCY_BUCKETS, self.latency_counts, strict=False):
            cumulative += count
            lines.append(f'monitor_fetch_seconds_bucket{{le="{edge}"}} {cumulative}')
        total = sum(self.latency_counts)
        lines += [
            f'monitor_fetch_seconds_bucket{{le="+Inf"}} {total}',
            f"monitor_fetch_seconds_sum {self.latency_sum:.6f}",
            f"monitor_fetch_seconds_count {total}",
        ]
        if self.last_pass_ok is not None:
            lines += [
                "# HELP monitor_last_pass_timestamp_seconds When the last pass succeeded.",
                "# TYPE monitor_last_pass_timestamp_seconds gauge",
                f"monitor_last_pass_timestamp_seconds {self.last_pass_ok:.3f}",
            ]
        return "\n".join(lines) + "\n"


async def serve_health(metrics: Metrics, host: str, port: int, max_age: float) -> asyncio.Server:
    """Start the /healthz and /metrics server; the caller closes it."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)).strip():
                pass  # headers: not needed
            path = request.split()[1].decode("ascii", "replace") if request.split() else ""
            status, body, kind = _route(path.split("?")[0], metrics, max_age)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


def _route(path: str, metrics: Metrics, max_age: float) -> tuple[str, bytes, str]:
    if path == "/healthz":
        if metrics.healthy(max_age):
            return "200 OK", b"ok\n", "text/plain; charset=utf-8"
        return "503 Service Unavailable", b"no successful pass lately\n", "text/plain"
    if path == "/metrics":
        return "200 OK", metrics.render().encode(), "text/plain; version=0.0.4; charset=utf-8"
    return "404 Not Found", b"not found\n", "text/plain"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and a poll's fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in LOG_FIELDS:
            if key in record.__dict__:
                document[key] = record.__dict__[key]
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)
