"""Serving the ASGI app with uvicorn on a socket we bind ourselves (a busy port is one clear
line, not uvicorn's exit), inside the caller's event loop and without uvicorn's signal
handlers (the service handles SIGINT and SIGTERM itself)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from monitor.errors import ConfigError


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the caller's loop owns the signals


def bind(host: str, port: int, key: str = "web.listen") -> socket.socket:
    """A listening socket, or ConfigError naming `key` and why."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"{key}: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"{key}: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


class RunningServer:
    """A server started by `start`: `close()`, then `await wait_closed()`."""

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], sock: socket.socket):
        self.server = server
        self.task = task
        self.socket = sock
        self.host, self.port = sock.getsockname()[:2]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def close(self) -> None:
        self.server.should_exit = True

    async def wait_closed(self) -> None:
        try:
            await self.task
        finally:
            self.socket.close()


async def start(app: ASGIApp, host: str, port: int, *, key: str = "web.listen") -> RunningServer:
    """Serve `app` on host:port from the running loop until `close()`."""
    sock = bind(host, port, key)
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=5,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"web {host}:{port}")
    while not server.started:
        if task.done():
            sock.close()
            task.result()  # its exception, if any
            raise ConfigError(f"{key}: the server on {host}:{port} stopped at start")
        await asyncio.sleep(0.01)
    return RunningServer(server, task, sock)
