"""Serve the chat (uvicorn, on the daemon's event loop) beside another coroutine."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterator
from typing import TypeVar

import structlog
import uvicorn
from fastapi import FastAPI

from gpusteward.core.errors import SettingsError

log = structlog.get_logger("gpusteward.chat.server")
T = TypeVar("T")


class _Server(uvicorn.Server):
    """uvicorn without its own SIGINT / SIGTERM handling: the daemon's handlers finish the
    current tick, then `serve_beside` stops the chat."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_server(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,  # open WebSockets must not hold up a stop
    )
    return _Server(config)


async def serve_beside(main: Awaitable[T], app: FastAPI, host: str, port: int) -> T:
    """Start the chat, run `main`, then stop the chat; a port in use is a `SettingsError`."""
    server = make_server(app, host, port)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():  # failed to bind (uvicorn logs and exits)
            raise SettingsError(
                f"chat: cannot listen on {host}:{port} (in use or not allowed). Fix: set "
                "GPUSTEWARD_CHAT_PORT to a free port."
            )
        await asyncio.sleep(0.02)
    log.warning("approval chat listening", url=f"http://{host}:{port}/")
    try:
        return await main
    finally:
        server.should_exit = True
        await serving
