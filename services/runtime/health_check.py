"""The health check of spec §6.3, as data: each service's gRPC health, the time-series and dead-letter stores,
the bus, consumer lag and dead-letter depth. `iotmon job health-check` prints it, raises a system alert when
something failed and publishes the results (jobs.health_checked).

What is measured where (docs/jobs.md):
- services: the standard gRPC health check of every service address (a process that answers and serves);
- stores: telemetry's internal CountDailyDatapoints over one millisecond (a query through the time-series
  store) and ListDeadLetters (the dead-letter store; its total is the telemetry DLQ depth);
- bus on RabbitMQ: a connection, then a passive declare of each consumer group's partition queues (events
  waiting = consumer lag) and of its dead-letter queue (`iotmon.<group>.dead`); queues that do not exist are
  groups not deployed, and skipped;
- in-process bus (`iotmon up`): delivery is inline (no lag); its dead letters are counted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import grpc.aio
from google.protobuf import timestamp_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from iot.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc

from services.runtime.bus import EventBus, InProcessBus
from services.runtime.bus_topology import dead_queue, partition_queue
from services.runtime.clients import open_channel
from services.runtime.service_tokens import ServiceTokens
from services.runtime.settings import SERVICE_NAMES, RuntimeSettings


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    value: float = 0.0


@dataclass(frozen=True)
class HealthLimits:
    max_queue_depth: int = 10_000
    max_dead_letters: int = 0
    timeout_seconds: float = 5.0
    bus_groups: tuple[str, ...] = ("alerting", "notification", "device", "analytics", "firmware", "telemetry")


def healthy(results: Sequence[CheckResult]) -> bool:
    return all(r.status is not Status.FAILED for r in results)


def depth_result(name: str, depth: int, limit: int, what: str) -> CheckResult:
    status = Status.OK if depth <= limit else Status.FAILED
    return CheckResult(name, status, f"{depth:,} {what} (limit {limit:,})", float(depth))


class HealthChecker:
    def __init__(
        self,
        settings: RuntimeSettings,
        tokens: ServiceTokens,
        limits: HealthLimits,
        bus: EventBus | None = None,
    ):
        self._settings = settings
        self._tokens = tokens
        self._limits = limits
        self._bus = bus

    async def run(self) -> list[CheckResult]:
        services = await asyncio.gather(*(self._service(name) for name in SERVICE_NAMES))
        stores, bus = await asyncio.gather(self._telemetry_stores(), self._bus_checks())
        return [*services, *stores, *bus]

    async def _service(self, name: str) -> CheckResult:
        address = self._settings.addr(name)
        async with grpc.aio.insecure_channel(address) as channel:
            started = time.perf_counter()
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=self._limits.timeout_seconds
                )
            except grpc.aio.AioRpcError as error:
                return CheckResult(f"service:{name}", Status.FAILED, f"{address}: {error.code().name}")
            took = (time.perf_counter() - started) * 1000
            if reply.status != health_pb2.HealthCheckResponse.SERVING:
                status_name = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                return CheckResult(f"service:{name}", Status.FAILED, f"{address}: {status_name}", took)
            return CheckResult(f"service:{name}", Status.OK, f"{address} serving in {took:.1f} ms", took)

    async def _telemetry_stores(self) -> list[CheckResult]:
        async with open_channel(self._settings.telemetry_addr, service_tokens=self._tokens) as channel:
            stub = telemetry_pb2_grpc.TelemetryServiceStub(channel)
            now_ms = time.time_ns() // 1_000_000
            probe = telemetry_pb2.CountDailyDatapointsRequest(
                organization_id="health-check", start_time=_stamp(now_ms - 1), end_time=_stamp(now_ms)
            )
            store = await self._timed("store:timeseries", lambda: stub.CountDailyDatapoints(probe, timeout=self._t))
            try:
                letters = await stub.ListDeadLetters(telemetry_pb2.ListDeadLettersRequest(page_size=1), timeout=self._t)
            except grpc.aio.AioRpcError as error:
                return [store, CheckResult("dlq:telemetry", Status.FAILED, f"dead-letter store: {error.code().name}")]
            total = letters.pagination.total_items
            return [store, depth_result("dlq:telemetry", total, self._limits.max_dead_letters, "dead letters")]

    @property
    def _t(self) -> float:
        return self._limits.timeout_seconds

    async def _timed(self, name: str, call: Callable[[], Awaitable[object]]) -> CheckResult:
        started = time.perf_counter()
        try:
            await call()
        except grpc.aio.AioRpcError as error:
            return CheckResult(name, Status.FAILED, error.code().name)
        took = (time.perf_counter() - started) * 1000
        return CheckResult(name, Status.OK, f"answered in {took:.1f} ms", took)

    async def _bus_checks(self) -> list[CheckResult]:
        if self._settings.amqp_url:
            return await rabbitmq_checks(self._settings, self._limits)
        if isinstance(self._bus, InProcessBus):
            dead = len(self._bus.dead_letters)
            return [
                CheckResult("bus", Status.OK, "in-process: events are delivered inline (no lag)"),
                depth_result("dlq:bus", dead, self._limits.max_dead_letters, "events dead-lettered"),
            ]
        return [CheckResult("bus", Status.SKIPPED, "in-process bus of another process: run inside `iotmon up`")]


async def rabbitmq_checks(settings: RuntimeSettings, limits: HealthLimits) -> list[CheckResult]:
    """Connection, then depth of each group's partition queues (lag) and dead-letter queue."""
    import aio_pika  # only processes on RabbitMQ load it
    import aiormq

    assert settings.amqp_url is not None
    started = time.perf_counter()
    try:
        connection = await asyncio.wait_for(aio_pika.connect(settings.amqp_url), limits.timeout_seconds)
    except (OSError, TimeoutError, aiormq.exceptions.AMQPError) as error:
        return [CheckResult("bus", Status.FAILED, f"RabbitMQ: {type(error).__name__}: {error}")]
    took = (time.perf_counter() - started) * 1000
    results = [CheckResult("bus", Status.OK, f"RabbitMQ connected in {took:.1f} ms", took)]
    prefix = settings.bus_queue_prefix

    async def depth(name: str) -> int | None:
        channel = await connection.channel()  # a failed passive declare closes its channel
        try:
            queue = await channel.declare_queue(name, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            return None
        finally:
            if not channel.is_closed:
                await channel.close()
        return int(queue.declaration_result.message_count or 0)

    try:
        for group in limits.bus_groups:
            lags = [await depth(partition_queue(group, p, prefix)) for p in range(settings.bus_partitions)]
            present = [n for n in lags if n is not None]
            if present:
                results.append(depth_result(f"lag:{group}", sum(present), limits.max_queue_depth, "events waiting"))
            dead = await depth(dead_queue(group, prefix))
            if dead is not None:
                results.append(depth_result(f"dlq:{group}", dead, limits.max_dead_letters, "dead letters"))
    finally:
        await connection.close()
    return results


def _stamp(ms: int) -> timestamp_pb2.Timestamp:
    seconds, millis = divmod(ms, 1000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=millis * 1_000_000)
