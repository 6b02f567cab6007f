"""An ASGI app under uvicorn on a real local port, in the test's own event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import uvicorn
from starlette.types import ASGIApp

from tests.support.servers import free_port


@asynccontextmanager
async def serving_app(
    app: ASGIApp, *, port: int | None = None, lifespan: Literal["auto", "on", "off"] = "off", **options: Any
) -> AsyncIterator[str]:
    """uvicorn serving `app` on 127.0.0.1 (a free port unless `port` is given) until the block ends; yields
    its base URL. A startup that fails raises its error here."""
    port = free_port() if port is None else port
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan=lifespan, log_config=None, access_log=False, **options
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
