"""The ASGI app: pages, `/api/`, `/feeds/`, `/static/`, and `/healthz` + `/metrics`.

Every response carries a strict Content-Security-Policy (nothing from elsewhere, no inline
script or style) and is read-only: only GET and HEAD are routed. With `[web.auth]` every
route but /healthz asks for credentials.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from monitor.app import App
    from monitor.health import Metrics, Verdict
    from monitor.web.auth import Credentials

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
OPEN_PATHS = ("/healthz",)  # probes need no credentials


@dataclass
class Health:
    """What /healthz and /metrics answer from: a verdict, and the service's counters (None
    outside `monitor run`: /metrics is then not served)."""

    judge: Callable[[], Awaitable[Verdict]]
    metrics: Metrics | None = None


class Guard:
    """Adds the security headers to every answer and, with credentials, refuses a request
    without them (401 with the scheme to use)."""

    def __init__(self, app: ASGIApp, credentials: Credentials | None) -> None:
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *SECURITY_HEADERS]
            await send(message)

        if self.credentials is not None and scope["path"] not in OPEN_PATHS:
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            allowed = await run_in_threadpool(self.credentials.allows, header)
            if not allowed:
                realm = f'{self.credentials.scheme} realm="monitor"'
                denied = PlainTextResponse(
                    "credentials needed\n", status_code=401, headers={"WWW-Authenticate": realm}
                )
                await denied(scope, receive, secured)
                return
        await self.app(scope, receive, secured)


def health_routes(health: Health) -> list[BaseRoute]:
    async def healthz(request: Request) -> Response:
        result = await health.judge()
        return PlainTextResponse(f"{result.reason}\n", status_code=200 if result.ok else 503)

    routes: list[BaseRoute] = [Route("/healthz", healthz)]
    metrics = health.metrics
    if metrics is not None:

        async def render_metrics(request: Request) -> Response:
            return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

        routes.append(Route("/metrics", render_metrics))
    return routes


async def _not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("not found\n", status_code=404)


def create_app(
    app: App | None,
    health: Health,
    *,
    credentials: Credentials | None = None,
) -> ASGIApp:
    """The whole web view over `app`'s database; with `app` None, /healthz and /metrics
    alone (`[service] http_port` without `[web] listen`)."""
    routes = health_routes(health)
    if app is not None:
        from monitor.web import api, feeds, pages

        site = pages.Site(app)
        routes += [
            *pages.routes(site),
            *api.routes(site),
            *feeds.routes(site),
            Mount("/static", StaticFiles(packages=[("monitor.web", "static")]), name="static"),
        ]
    starlette = Starlette(routes=routes, exception_handlers={404: _not_found})
    return Guard(starlette, credentials)


def database_judge(app: App) -> Callable[[], Awaitable[Verdict]]:
    """/healthz for `monitor web` alone: the verdict `monitor status` gives, from the
    database's facts (no service process to look at)."""
    from monitor import health
    from monitor.store import queries

    def read() -> Verdict:
        now = app.clock()
        with app.sessions() as session:
            polls = queries.poll_health(session, now - health.POLL_WINDOW)
        return health.verdict(health.database_facts(app.config, polls, now))

    async def judge() -> Verdict:
        return await run_in_threadpool(read)

    return judge
