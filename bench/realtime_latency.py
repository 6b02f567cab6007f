"""Reading → WebSocket latency through the whole mesh: the reading pushed to a subscriber, and the alert it
raises pushed to the same subscriber (issue targets: push p99 ≤ 50 ms; alert p99 ≤ 100 ms at 10,000
readings/s with 100 active rules — where the spec's once-a-minute evaluator allowed 60 s).

`iotmon up` runs as a child process (in-process bus, or RabbitMQ with --bus rabbitmq). 100 rules are
active: 99 on the load's metrics that never fire and one on the probe devices that fires on every probe.
A load generator posts pre-encoded 500-record batches to POST /telemetry at --rate readings/s; meanwhile
each probe device sends one hot reading (its own small POST), and a WebSocket client subscribed to the probe
devices timestamps the `reading` and `alert` messages for it. Each probe device fires once (an open alert is
not raised twice), so every probe is a fresh alert. The same probes run first without load, as the baseline.

With --layout deployed, identity, device, telemetry, alerting and the gateway each run in their own
process (`iotmon serve`, as in the Helm chart) with RabbitMQ as the bus, so the work spreads over the cores.

    python bench/realtime_latency.py [--rate 10000] [--seconds 10] [--probes 150]
                                     [--bus inprocess|rabbitmq] [--layout up|deployed]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

from _harness import deployed_layout, iotmon_up, rabbitmq_namespace  # noqa: E402
from ingest_batch import mint_token, register_devices  # noqa: E402

DEPLOYED = ("identity", "device", "telemetry", "alerting")  # in start order; the gateway comes last
BATCH = 500
LOAD_DEVICES = 200
LOAD_CONNECTIONS = 4
LOAD_METRICS = ("temperature", "humidity", "co2", "battery")


def quiet_rules(count: int) -> list[dict[str, Any]]:
    """Rules evaluated against every load reading that never fire (thresholds beyond the load's values)."""
    rules = []
    for i in range(count):
        metric = LOAD_METRICS[i % len(LOAD_METRICS)]
        rules.append(
            {
                "name": f"quiet-{i}",
                "deviceType": "temperature-sensor-v2",
                "condition": {"metric": metric, "operator": ">", "threshold": 10_000 + i, "duration": 0},
                "severity": "info",
                "actions": {"notifications": [], "webhooks": []},
                "schedule": {"type": "always"},
            }
        )
    return rules


def probe_rule(probe_devices: list[str]) -> dict[str, Any]:
    return {
        "name": "probe-hot",
        "deviceType": "temperature-sensor-v2",
        "deviceIds": probe_devices,
        "condition": {"metric": "temperature", "operator": ">", "threshold": 60, "duration": 0},
        "severity": "warning",
        "actions": {"notifications": [], "webhooks": []},
        "cooldownPeriod": 0,
        "schedule": {"type": "always"},
    }


def load_bodies(devices: list[str], count: int) -> list[bytes]:
    """Pre-encoded batches with timestamps unique per device, so every reading is stored and evaluated."""
    start = int(time.time() * 1000) - 3_600_000
    bodies = []
    for b in range(count):
        records = [
            {
                "deviceId": devices[i % len(devices)],
                "timestamp": start + (b * BATCH + i) // len(devices) * 10 + 1,
                "data": {"temperature": 21.5, "humidity": 45.0, "co2": 600.0, "battery": 90.0},
            }
            for i in range(BATCH)
        ]
        bodies.append(orjson.dumps({"records": records}))
    return bodies


async def generate_load(client: httpx.AsyncClient, bodies: list[bytes], rate: float, stop: asyncio.Event) -> int:
    """Post batches at `rate` readings/s from a few connections; returns readings accepted."""
    accepted = 0
    interval = BATCH / rate
    next_batch = itertools.count()
    started = time.monotonic()

    async def worker() -> None:
        nonlocal accepted
        while not stop.is_set():
            n = next(next_batch)
            due = started + n * interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if stop.is_set():
                return
            reply = await client.post("/telemetry", content=bodies[n % len(bodies)])
            reply.raise_for_status()
            accepted += int(reply.json()["accepted"])

    await asyncio.gather(*(worker() for _ in range(LOAD_CONNECTIONS)))
    return accepted


class Probes:
    """Sends one hot reading per probe device and times what the WebSocket pushes for it."""

    def __init__(self, client: httpx.AsyncClient, ws: ClientConnection, devices: list[str]):
        self.client, self.ws, self.devices = client, ws, devices
        self.sent: dict[str, float] = {}
        self.reading: dict[str, float] = {}
        self.alert: dict[str, float] = {}

    async def listen(self) -> None:
        async for raw in self.ws:
            message = orjson.loads(raw)
            device, kind, now = message.get("deviceId"), message.get("type"), time.monotonic()
            if device in self.sent:
                if kind == "reading":
                    self.reading.setdefault(device, now)
                elif kind == "alert" and message.get("status") == "triggered":
                    self.alert.setdefault(device, now)

    async def send(self, devices: list[str], spacing: float) -> None:
        for device in devices:
            body = {
                "records": [{"deviceId": device, "timestamp": int(time.time() * 1000), "data": {"temperature": 70.0}}]
            }
            self.sent[device] = time.monotonic()
            reply = await self.client.post("/telemetry", json=body)
            reply.raise_for_status()
            await asyncio.sleep(spacing)

    def latencies(self, devices: list[str], arrived: dict[str, float]) -> list[float]:
        return [(arrived[d] - self.sent[d]) * 1000 for d in devices if d in arrived]


def summary(name: str, values: list[float], expected: int) -> str:
    if not values:
        return f"{name:<34} nothing arrived (of {expected})"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{name:<34} p50 {statistics.median(ordered):7.1f} ms   p99 {p99:7.1f} ms   "
        f"max {ordered[-1]:7.1f} ms   ({len(values)}/{expected} arrived)"
    )


async def measure(args: argparse.Namespace, gateway: str, data_dir: Path) -> None:
    token = mint_token(data_dir)
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    load_devices = await register_devices(gateway, headers, LOAD_DEVICES)
    probe_devices = await register_devices(gateway, headers, 2 * args.probes)
    async with httpx.AsyncClient(base_url=gateway, headers=headers, timeout=60) as client:
        for rule in [*quiet_rules(args.rules - 1), probe_rule(probe_devices)]:
            (await client.post("/alert-rules", json=rule)).raise_for_status()
        await asyncio.sleep(1)  # rule_changed events reach the evaluator's cache
        bodies = load_bodies(load_devices, max(8, int(args.rate * args.seconds / BATCH) + 1))
        url = gateway.replace("http://", "ws://") + f"/ws?token={token}"
        async with connect(url, max_queue=None) as ws:
            await ws.send(orjson.dumps({"action": "subscribe", "deviceIds": probe_devices}).decode())
            assert orjson.loads(await ws.recv())["type"] == "subscribed"
            probes = Probes(client, ws, probe_devices)
            listener = asyncio.create_task(probes.listen())
            idle, loaded = probe_devices[: args.probes], probe_devices[args.probes :]

            await probes.send(idle, spacing=args.seconds / args.probes / 2)
            await asyncio.sleep(1)

            stop = asyncio.Event()
            load = asyncio.create_task(generate_load(client, bodies, args.rate, stop))
            await asyncio.sleep(1)  # let the load settle before the first probe
            started = time.monotonic()
            await probes.send(loaded, spacing=args.seconds / args.probes)
            stop.set()
            accepted = await load
            elapsed = time.monotonic() - started + 1
            await asyncio.sleep(2)
            listener.cancel()

    print(f"layout: {args.layout}; bus: {args.bus}; rules active: {args.rules}; probe devices: {args.probes} per phase")
    print(f"load reached: {accepted / elapsed:,.0f} readings/s (asked {args.rate:,.0f})")
    print(summary("idle: reading → WebSocket push", probes.latencies(idle, probes.reading), len(idle)))
    print(summary("idle: reading → alert on WebSocket", probes.latencies(idle, probes.alert), len(idle)))
    print(summary("load: reading → WebSocket push", probes.latencies(loaded, probes.reading), len(loaded)))
    print(summary("load: reading → alert on WebSocket", probes.latencies(loaded, probes.alert), len(loaded)))
    print("targets: push p99 ≤ 50 ms; alert p99 ≤ 100 ms under 10,000 readings/s with 100 rules")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--probes", type=int, default=150)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--bus", choices=("inprocess", "rabbitmq"), default="inprocess")
    parser.add_argument("--layout", choices=("up", "deployed"), default="up")
    args = parser.parse_args()
    if args.layout == "deployed":
        args.bus = "rabbitmq"  # separate processes talk over the broker
    bus: AbstractContextManager[dict[str, str]] = rabbitmq_namespace() if args.bus == "rabbitmq" else nullcontext({})
    with bus as bus_env, tempfile.TemporaryDirectory() as tmp:
        env = {"IOTMON_LOG_LEVEL": "WARNING"} | bus_env
        if args.layout == "deployed":
            with deployed_layout(Path(tmp), env, DEPLOYED) as deployed:
                asyncio.run(measure(args, deployed.gateway, Path(tmp)))
        else:
            with iotmon_up(Path(tmp), env) as (gateway, _, _):
                asyncio.run(measure(args, gateway, Path(tmp)))


if __name__ == "__main__":
    main()
