"""A webhook receiver on loopback, as a careful receiver behaves: it checks the signature,
honours Idempotency-Key (a key it has accepted is answered 200 and not counted again), and
answers what the test scripts (500, 429 with Retry-After…) before it accepts.

It is a route of the real test web server (monitor.demo.webserver), so every request is
recorded with its time and headers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from monitor.demo.webserver import Request, Response, WebServer


@dataclass
class Receiver:
    server: WebServer
    path: str = "/hook"
    secret: str | None = None
    script: list[Response] = field(default_factory=list)  # answered first, in order
    delay: float = 0.0  # seconds before accepting (a slow receiver: deliveries stay in flight)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # key → payload
    repeats: int = 0  # requests whose key was accepted before (answered, not counted)
    bad_signatures: int = 0
    arrivals: list[float] = field(default_factory=list)  # time.monotonic() of each request
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server.route(self.path, handler=self._handle)

    @property
    def url(self) -> str:
        return self.server.url(self.path)

    def answer(self, responses: Iterable[Response]) -> None:
        with self._lock:
            self.script.extend(responses)

    def _handle(self, request: Request) -> Response:
        with self._lock:
            self.arrivals.append(request.received_at)
            if self.secret is not None:
                expected = (
                    "sha256="
                    + hmac.new(self.secret.encode(), request.body, hashlib.sha256).hexdigest()
                )
                given = request.headers.get("x-monitor-signature", "")
                if not hmac.compare_digest(expected, given):
                    self.bad_signatures += 1
                    return Response(status=401, body=b"bad signature")
            if self.script:
                return self.script.pop(0)
            key = request.headers.get("idempotency-key", "")
            payload = json.loads(request.body)
            if not key or payload.get("id") != key:
                return Response(status=400, body=b"the key and the payload's id differ")
            if key in self.accepted:
                self.repeats += 1
                return Response(status=200, body=b"already had it")
        if self.delay:
            threading.Event().wait(self.delay)
        with self._lock:
            if key in self.accepted:  # a concurrent repeat accepted meanwhile
                self.repeats += 1
            else:
                self.accepted[key] = payload
        return Response(status=200, body=b"ok")
