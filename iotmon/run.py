"""The long-running commands: `iotmon up` (the whole mesh) and `iotmon serve <service>`."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import Callable, Sequence

from iotmon.demo import DemoAdmin
from iotmon.mesh import Mesh, start_mesh
from services.runtime.lifecycle import watch_shutdown_signals
from services.runtime.logging import configure_logging
from services.runtime.otel.setup import setup_observability
from services.runtime.settings import DEFAULT_PORTS, SERVICE_NAMES, RuntimeSettings

log = logging.getLogger("iotmon")


def settle_garbage_collector() -> None:
    """Move what start-up built (modules, descriptors, caches: ~120,000 objects for the mesh) out of the
    collector's sight and collect young objects less often. Full collections otherwise walk all of it about
    every 12,000 readings (~50 ms each, ~5 µs per reading ingested). IOTMON_GC=default keeps Python's own."""
    if os.environ.get("IOTMON_GC", "tuned") == "default":
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 100)


def _backends(settings: RuntimeSettings) -> str:
    return "embedded backends, RabbitMQ bus" if settings.amqp_url else "embedded backends"


async def up(settings: RuntimeSettings, gateway_port: int, log_level: str, without: Sequence[str] = ()) -> int:
    configure_logging(log_level)
    admin = DemoAdmin.load_or_create(settings.data_dir)
    admin.export_to_identity()
    # --port 0 means "pick free ports", for the gateway and every service alike.
    ports = {name: 0 if gateway_port == 0 else DEFAULT_PORTS[name] for name in SERVICE_NAMES}
    services = [name for name in SERVICE_NAMES if name not in without]
    with setup_observability([*services, "gateway"]):  # OpenTelemetry, when OTEL_* variables ask for it
        mesh = await start_mesh(settings, services, service_ports=ports, gateway_port=gateway_port)
        _schedule_jobs(mesh)
        return await _serve_until_signal(mesh, lambda: _print_banner(mesh, admin, services))


def _schedule_jobs(mesh: Mesh) -> None:
    """The scheduled jobs (docs/jobs.md) run in this process, on the mesh's own bus (IOTMON_JOBS_SCHEDULE)."""
    from iotmon.jobs.context import JobContext
    from iotmon.jobs.scheduler import scheduled_jobs
    from iotmon.jobs.settings import JobSettings

    context = JobContext(mesh.settings, JobSettings(), bus=mesh.bus)
    mesh.tasks.extend(asyncio.create_task(job()) for job in scheduled_jobs(context))


async def serve(settings: RuntimeSettings, service: str, port: int, log_level: str) -> int:
    configure_logging(log_level)
    with setup_observability([service]):  # OpenTelemetry, when OTEL_* variables ask for it
        if service == "gateway":
            mesh = await start_mesh(settings, [], service_ports={}, gateway_port=port)
            banner = f"gateway       {mesh.gateway_url}"
        else:
            mesh = await start_mesh(settings, [service], service_ports={service: port}, gateway_port=None)
            banner = f"{service:<13} {mesh.addresses[service]}"
        return await _serve_until_signal(mesh, lambda: print(banner, flush=True))


async def _serve_until_signal(mesh: Mesh, announce_ready: Callable[[], None]) -> int:
    """Settle the collector, catch SIGINT/SIGTERM, only then say ready; drain on the first signal."""
    settle_garbage_collector()
    stopping = watch_shutdown_signals()
    announce_ready()
    received = await stopping
    log.warning("draining", extra={"signal": received.name})
    await mesh.stop()
    print("stopped", flush=True)
    return 0


def _print_banner(mesh: Mesh, admin: DemoAdmin, started: Sequence[str]) -> None:
    url = mesh.gateway_url
    credentials = f'{{"email": "{admin.email}", "password": "{admin.password}"}}'
    lines = [
        f"iotmon is up ({_backends(mesh.settings)}, data in {mesh.settings.data_dir})",
        f"gateway       {url}",
        f"docs          {url}/docs",
        *(
            f"{name:<13} {mesh.addresses[name]}" + ("" if name in started else "  (not started here)")
            for name in SERVICE_NAMES
        ),
        f"demo admin    {admin.email} / {admin.password} (organization {admin.organization_id})",
        f"get a token:  curl -s -X POST {url}/auth/token -H 'content-type: application/json' -d '{credentials}'",
        f"  or:         iotmon token --org {admin.organization_id} --role admin --data-dir {mesh.settings.data_dir}",
        "Ctrl-C stops it.",
    ]
    print("\n".join(lines), flush=True)
