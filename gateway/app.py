"""create_app: the gateway as one Starlette app.

A handful of fixed routes (health, OpenAPI, docs); everything else goes to the transcoder, whose own
matcher knows every google.api.http binding. Channels to the services open in the lifespan and close on
shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.catalog import load_services
from gateway.comments import load_comments
from gateway.console import console_routes
from gateway.docs import ApiDocuments
from gateway.errors import HttpError
from gateway.health import Readiness, healthz
from gateway.limits import RateLimiter, RateLimitMiddleware
from gateway.middleware import RequestContextMiddleware, http_exception_handler
from gateway.openapi import build_openapi
from gateway.routes import HttpRoute, RouteConflict, RouteMatcher, build_routes
from gateway.settings import GatewaySettings
from gateway.transcode import Transcoder
from gateway.uploads import ObjectEndpoints
from gateway.upstream import Upstreams
from gateway.usage import ApiCallCounter
from gateway.ws import WS_PATH, Realtime
from services.runtime.auth import TokenVerifier
from services.runtime.bus import EventBus
from services.runtime.settings import SERVICE_NAMES, RuntimeSettings

log = logging.getLogger("iotmon.gateway")


def create_app(
    settings: RuntimeSettings,
    *,
    verifier: TokenVerifier | None = None,
    addresses: dict[str, str] | None = None,
    gateway_settings: GatewaySettings | None = None,
    bus: EventBus | None = None,
) -> Starlette:
    """The gateway app. `addresses` overrides settings.<svc>_addr per service name; the rest keep theirs."""
    options = gateway_settings or GatewaySettings()
    services = load_services()
    routes = build_routes(services)
    resolved = {name: (addresses or {}).get(name) or settings.addr(name) for name in SERVICE_NAMES}
    upstreams = Upstreams(services, resolved, options.upstream_timeout_seconds)
    verifier = verifier or TokenVerifier.from_settings(settings)
    transcoder = Transcoder(routes, upstreams, verifier, options.max_body_bytes)
    # /ws exists when the process has a bus to feed it.
    realtime = Realtime(bus, settings, resolved["device"], verifier, options) if bus is not None else None
    readiness = Readiness(upstreams, options.readiness_cache_seconds, options.health_check_timeout_seconds)
    docs = ApiDocuments(lambda: build_openapi(routes, services, load_comments()))
    fixed: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readiness.endpoint, methods=["GET"]),
        *docs.routes(),
        # The embedded object store's upload and download endpoints (firmware images).
        *ObjectEndpoints(settings, bus).routes(),
        # The operator console: static files that call the public API like any client (docs/console.md).
        *console_routes(),
    ]
    _refuse_shadowed_bindings(transcoder.matcher, fixed)

    usage = ApiCallCounter(transcoder, verifier, bus)  # API calls per organization (§6.4, gateway/usage.py)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await upstreams.open(routes)
        if realtime is not None:
            await realtime.start()
        log.info("gateway started", extra={"routes": len(routes), "upstreams": resolved})
        try:
            yield
        finally:
            if realtime is not None:
                await realtime.stop()
            await usage.stop()
            await upstreams.close()

    api: ASGIApp = usage
    if options.rate_limit_per_second > 0:  # per-token 429s (docs/security.md)
        limiter = RateLimiter(options.rate_limit_per_second, options.rate_limit_burst)
        api = RateLimitMiddleware(api, verifier, limiter)
    app = GatewayApp(
        api,
        websocket=realtime.endpoint if realtime is not None else None,
        routes=fixed,
        middleware=[Middleware(RequestContextMiddleware)],
        exception_handlers={HTTPException: http_exception_handler},
        lifespan=lifespan,
    )
    app.state.realtime = realtime
    return app


class GatewayApp(Starlette):
    """Starlette for the fixed routes; every other request goes straight to the transcoder.

    The transcoded path is the hot one (the benchmark's), so it skips Starlette's router and exception
    layers: the transcoder renders its own errors and the request-context middleware catches the rest.
    """

    def __init__(
        self, transcoder: ASGIApp, *, routes: list[BaseRoute], websocket: ASGIApp | None = None, **options: Any
    ):
        super().__init__(routes=routes, **options)
        self._websocket = websocket
        self._transcoded = RequestContextMiddleware(transcoder)
        self._fixed_paths = {r.path for r in routes if isinstance(r, Route)}
        self._fixed_prefixes = tuple(r.path + "/" for r in routes if isinstance(r, Mount))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path not in self._fixed_paths and not path.startswith(self._fixed_prefixes):
            scope["app"] = self
            await self._transcoded(scope, receive, send)
            return
        if scope["type"] == "websocket" and path == WS_PATH and self._websocket is not None:
            await self._websocket(scope, receive, send)  # straight to the hub: no router frames per connection
            return
        await super().__call__(scope, receive, send)


def _refuse_shadowed_bindings(matcher: RouteMatcher, fixed: list[BaseRoute]) -> None:
    """A proto binding on a gateway-owned path would never be reached: fail at startup instead."""
    for route in fixed:
        path = getattr(route, "path", "")
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            try:
                shadowed: HttpRoute = matcher.match(method, path).route
            except HttpError:
                continue
            raise RouteConflict(f"{shadowed.method.full_name} is bound to {path}, which the gateway serves itself")
