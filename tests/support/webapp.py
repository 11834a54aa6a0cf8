"""The web app served for real (uvicorn on 127.0.0.1, a free port) from a thread of the test
process, for tests that talk HTTP to it without starting a `monitor web` process."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp

from monitor.web.server import RunningServer, start


@contextmanager
def serving(asgi: ASGIApp) -> Iterator[str]:
    """The base URL (no trailing slash) while the block runs."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, RunningServer | BaseException] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def main() -> None:
            try:
                server = await start(asgi, "127.0.0.1", 0)
            except BaseException as exc:
                holder["error"] = exc
                ready.set()
                return
            holder["server"] = server
            ready.set()
            await server.wait_closed()

        loop.run_until_complete(main())
        loop.close()

    thread = threading.Thread(target=run, name="web-under-test", daemon=True)
    thread.start()
    assert ready.wait(20), "the web server did not start"
    server = holder.get("server")
    if not isinstance(server, RunningServer):
        raise RuntimeError(f"the web server did not start: {holder.get('error')!r}")
    try:
        yield server.url.rstrip("/")
    finally:
        loop.call_soon_threadsafe(server.close)
        thread.join(20)
