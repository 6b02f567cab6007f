"""Start services and the gateway in one process, on real ports, and stop them in order."""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
from collections.abc import Mapping
from contextlib import AsyncExitStack, nullcontext
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from services.runtime.auth import TokenVerifier
from services.runtime.bus import EventBus
from services.runtime.bus_select import open_bus
from services.runtime.server import BoundServer, RunningServer
from services.runtime.service import Bootstrap, BuildContext
from services.runtime.settings import SERVICE_NAMES, RuntimeSettings

log = logging.getLogger("iotmon.mesh")

# Identity first: it creates the signing keys the other services verify tokens with.
START_ORDER = ("identity", *(name for name in SERVICE_NAMES if name != "identity"))


def load_bootstrap(service: str) -> Bootstrap:
    module = importlib.import_module(f"services.{service}.bootstrap")
    build: Bootstrap = module.build
    return build


class _GatewayServer(uvicorn.Server):
    """uvicorn without its own signal handling: the mesh owns SIGINT/SIGTERM and drains in order."""

    def capture_signals(self) -> Any:
        return nullcontext()


@dataclass
class Mesh:
    settings: RuntimeSettings
    addresses: dict[str, str]
    gateway_url: str | None = None
    servers: list[RunningServer] = field(default_factory=list)
    resources: AsyncExitStack = field(default_factory=AsyncExitStack)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    gateway: _GatewayServer | None = None
    gateway_task: asyncio.Task[None] | None = None
    bus: EventBus | None = None

    async def stop(self) -> None:
        """Gateway first (no new HTTP requests), then every gRPC server drains, then resources close."""
        grace = self.settings.grace_seconds
        if self.gateway is not None and self.gateway_task is not None:
            # Let uvicorn finish in-flight requests and its lifespan (closing upstream channels) by itself.
            self.gateway.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(self.gateway_task), grace + 5)
            except (TimeoutError, asyncio.CancelledError):
                self.gateway_task.cancel()
        await asyncio.gather(*(server.stop(grace) for server in self.servers))
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.resources.aclose()


def _bind_socket(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP, and
    # without it every response waits ~40 ms for a delayed ACK (Nagle).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


async def start_mesh(
    settings: RuntimeSettings,
    services: list[str],
    *,
    service_ports: Mapping[str, int],
    gateway_port: int | None,
) -> Mesh:
    """Bind every port first, then build each service knowing its peers' addresses, then serve."""
    verifier = TokenVerifier.from_settings(settings)
    bound = {
        name: BoundServer.bind(host=settings.host, port=service_ports[name], verifier=verifier) for name in services
    }
    addresses = {name: settings.addr(name) for name in SERVICE_NAMES} | {n: b.address for n, b in bound.items()}
    update: dict[str, Any] = {f"{name}_addr": addr for name, addr in addresses.items()}
    # The gateway's port is known before the services are built: firmware upload URLs point at it.
    gateway_socket = _bind_socket(settings.host, gateway_port) if gateway_port is not None else None
    if gateway_socket is not None and settings.public_url is None:
        update["public_url"] = _http_url(settings.host, gateway_socket.getsockname()[1])
    settings = settings.model_copy(update=update)
    mesh = Mesh(settings, addresses)
    bus = mesh.bus = open_bus(settings)
    # Connected before any bootstrap runs: bootstraps publish (identity creates the demo admin) and each
    # subscription starts consuming as it is made. The bus closes after the servers drained.
    mesh.resources.push_async_callback(bus.close)
    try:
        await bus.start()
        for name in (n for n in START_ORDER if n in services):
            ctx = BuildContext(settings=settings, bus=bus, resources=mesh.resources)
            built = await load_bootstrap(name)(ctx)
            mesh.servers.append(await bound[name].start(built.registrations))
            mesh.tasks.extend(asyncio.create_task(job()) for job in built.background)
        if gateway_socket is not None:
            await _start_gateway(mesh, verifier, gateway_socket, bus)
        # Ready means subscribed (the services' bootstraps and the gateway's WebSocket hub): an event
        # published once the banner is out must find every queue bound.
        await bus.wait_subscribed()
    except BaseException:
        if gateway_socket is not None and mesh.gateway is None:
            gateway_socket.close()
        await mesh.stop()
        raise
    return mesh


def _http_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _start_gateway(mesh: Mesh, verifier: TokenVerifier, sock: socket.socket, bus: EventBus) -> None:
    from gateway.app import create_app

    settings = mesh.settings
    app = create_app(settings, verifier=verifier, addresses=mesh.addresses, bus=bus)
    # No uvicorn access log (the gateway writes its own JSON line), no Server header, and no proxy-header
    # rewriting: behind the AWS load balancer X-Forwarded-For is logged as sent, not trusted as the peer.
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        # /ws refuses client messages over 256 KiB itself; uvicorn need not buffer up to its 16 MiB default.
        ws_max_size=1_048_576,
    )
    server = _GatewayServer(config)
    mesh.gateway = server
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the gateway stopped during start-up")
        await asyncio.sleep(0.01)
    mesh.gateway_task = task
    mesh.gateway_url = _http_url(settings.host, sock.getsockname()[1])
