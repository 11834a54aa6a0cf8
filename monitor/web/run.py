"""`monitor web`: the web view alone, over the database, until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from pydantic import ValidationError

from monitor.app import App
from monitor.config import WebConfig
from monitor.errors import ConfigError
from monitor.web.app import Health, create_app, database_judge
from monitor.web.auth import credentials_for
from monitor.web.server import start


def listen_config(app: App, listen: str | None) -> WebConfig:
    """`[web]` with `--listen` applied, checked by the same rules as the file."""
    web = app.config.web
    if listen is None:
        return web
    try:
        return WebConfig.model_validate({**web.model_dump(exclude_unset=True), "listen": listen})
    except ValidationError as exc:
        first = exc.errors()[0]
        cause = first.get("ctx", {}).get("error")
        key = f"web.{getattr(cause, 'key', 'listen')}"
        message = str(cause) if cause is not None else first["msg"]
        raise ConfigError(f"--listen: {key}: {message}") from None


def serve_web(app: App, listen: str | None, announce: Callable[[str], None]) -> None:
    web = listen_config(app, listen)
    credentials = credentials_for(web.auth)
    host, port = web.address

    async def main() -> None:
        site = create_app(app, Health(database_judge(app)), credentials=credentials)
        server = await start(site, host, port)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.close)
        announce(f"serving the web view on {server.url} (Ctrl-C to stop)")
        try:
            await server.wait_closed()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    asyncio.run(main())
