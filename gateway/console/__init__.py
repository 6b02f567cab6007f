"""The operator console at /console: static HTML, CSS and JavaScript modules shipped inside the package.

The console is a client of the public REST and WebSocket APIs like any other (docs/console.md): the gateway
only serves its files. No build step and no CDN, so `pip install` alone brings a working console.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

CONSOLE_PATH = "/console"
STATIC_DIR = Path(__file__).parent / "static"


async def _to_index(request: Request) -> Response:
    # Relative module and asset URLs resolve against /console/, not against the site root.
    return RedirectResponse(f"{CONSOLE_PATH}/", status_code=308)


def console_routes() -> list[BaseRoute]:
    return [
        Route(CONSOLE_PATH, _to_index, methods=["GET", "HEAD"]),
        Mount(CONSOLE_PATH, StaticFiles(directory=str(STATIC_DIR), html=True), name="console"),
    ]
