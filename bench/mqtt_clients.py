"""Which MQTT client, and how many consumer processes: subscriber ceilings against a fast publisher.

Each subscriber runs in its own process and only parses every payload with orjson:
  paho      bare paho-mqtt 2.x, network loop in the main thread, auto-acknowledge, MQTT 5;
  paho311   the same with MQTT 3.1.1 (no properties to decode; Mosquitto then keeps only 20 QoS 1
            messages in flight to it);
  aiomqtt   bare aiomqtt (`async for message in client.messages`) on uvloop;
  source    our MqttSource (paho loop in a thread, batches of 100 handed to asyncio, PUBACKs after the
            batch was "ingested"), with an ingest that parses each record;
  source×2  two MqttSource processes sharing one $share group (what replicas do), summed.
The publisher (bench/_mqtt_load.py) writes pre-encoded packets at a steady offered rate above what any
subscriber takes, for several seconds, so the subscriber is the limit and stays busy throughout. Mosquitto
drops what a slow subscriber cannot take beyond its queue limit; the rate is what the subscriber received
between its first and last message. The MQTT 5 clients ask for the same
Receive Maximum, so QoS 1 is not held back by Mosquitto's default of 20 messages in flight.

    python bench/mqtt_clients.py [--url mqtt://127.0.0.1:1883] [--offer 50000] [--seconds 6] [--qos 0 1] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))
from _mqtt_load import packets, publish  # noqa: E402 (a sibling script, not a package)

IDLE_SECONDS = 3.0  # a subscriber stops this long after its last message
RECEIVE_MAXIMUM = 10_000  # as MqttOptions: Mosquitto keeps this many in flight to each subscriber


class Counter:
    """First/last receive time and count; the subscriber's rate is count over that span.

    Also the process's CPU time from the first message to the report: messages per CPU-second is what the
    subscriber would reach on a core of its own, a figure that holds when other work shares the machine.
    """

    def __init__(self, expect: int) -> None:
        self.expect = expect
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.first_cpu = 0.0
        self.done = threading.Event()

    def hit(self, n: int = 1) -> None:
        now = time.perf_counter()
        if not self.count:
            self.first, self.first_cpu = now, time.process_time()
        self.count += n
        self.last = now
        if self.count >= self.expect:
            self.done.set()

    def idle(self) -> bool:
        return bool(self.count) and time.perf_counter() - self.last > IDLE_SECONDS

    def wait_finished(self) -> None:
        """Block until every expected message came, or none came for IDLE_SECONDS."""
        while not (self.done.wait(0.1) or self.idle()):
            pass

    def report(self) -> dict[str, Any]:
        span = max(self.last - self.first, 1e-9)
        cpu = max(time.process_time() - self.first_cpu, 1e-9)
        return {"received": self.count, "seconds": round(span, 3), "rate": round(self.count / span),
                "per_cpu_second": round(self.count / cpu)}  # fmt: skip


def _connect_properties() -> Any:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    properties = Properties(PacketTypes.CONNECT)
    properties.ReceiveMaximum = RECEIVE_MAXIMUM
    return properties


def subscribe_paho(host: str, port: int, topic: str, qos: int, counter: Counter, *, v5: bool = True) -> None:
    import paho.mqtt.client as mqtt

    loads = orjson.loads

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        loads(message.payload)
        counter.hit()

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        client.subscribe(topic, qos)

    def on_subscribe(*_: Any) -> None:
        print("ready", flush=True)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-paho-{uuid.uuid4().hex[:8]}",
                         protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)  # fmt: skip
    client.on_message, client.on_connect, client.on_subscribe = on_message, on_connect, on_subscribe
    client.connect(host, port, properties=_connect_properties() if v5 else None)
    _watch(counter, client.disconnect)
    client.loop_forever()


async def subscribe_aiomqtt(host: str, port: int, topic: str, qos: int, counter: Counter) -> None:
    import aiomqtt

    loads = orjson.loads
    async with aiomqtt.Client(host, port, protocol=aiomqtt.ProtocolVersion.V5, properties=_connect_properties(),
                              identifier=f"bench-aiomqtt-{uuid.uuid4().hex[:8]}") as client:  # fmt: skip
        await client.subscribe(topic, qos)
        print("ready", flush=True)
        reader = asyncio.ensure_future(_read_aiomqtt(client, loads, counter))
        await asyncio.to_thread(counter.wait_finished)
        reader.cancel()


async def _read_aiomqtt(client: Any, loads: Any, counter: Counter) -> None:
    async for message in client.messages:
        loads(message.payload)
        counter.hit()


async def subscribe_source(url: str, prefix: str, group: str | None, qos: int, counter: Counter) -> None:
    from services.telemetry.adapters.mqtt_source import MqttSource
    from services.telemetry.adapters.source_mqtt_config import MqttOptions
    from services.telemetry.domain.model import BatchResult, RawRecord

    loads = orjson.loads

    async def ingest(records: Any) -> BatchResult:
        for record in records:
            assert isinstance(record, RawRecord)
            loads(record.payload)  # type: ignore[arg-type]
        counter.hit(len(records))
        return BatchResult(accepted=len(records))

    options = MqttOptions(client_id=f"bench-source-{uuid.uuid4().hex[:8]}", group=group, topic_prefix=prefix,
                          receive_maximum=RECEIVE_MAXIMUM, session_expiry_seconds=60)  # fmt: skip
    source = MqttSource(url, options)
    task = asyncio.ensure_future(source.run(ingest))
    await source.subscribed.wait()
    print("ready", flush=True)
    await asyncio.to_thread(counter.wait_finished)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _watch(counter: Counter, stop: Any) -> None:
    def watch() -> None:
        counter.wait_finished()
        stop()

    threading.Thread(target=watch, daemon=True).start()


def run_subscriber(args: argparse.Namespace) -> None:
    """The child process: subscribe, print "ready", count until done or idle, print the figures."""
    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 1883
    topic = f"{args.prefix}/+/telemetry"
    counter = Counter(args.expect)
    if args.client in ("paho", "paho311"):
        subscribe_paho(host, port, topic, args.qos, counter, v5=args.client == "paho")
    else:
        import uvloop

        if args.client == "aiomqtt":
            uvloop.run(subscribe_aiomqtt(host, port, topic, args.qos, counter))
        else:
            uvloop.run(subscribe_source(args.url, args.prefix, args.group, args.qos, counter))
    print(json.dumps(counter.report()), flush=True)


def measure(url: str, client: str, qos: int, offer: int, seconds: float, processes: int = 1) -> dict[str, Any]:
    """Start the subscriber process(es), publish, and collect the figures."""
    messages = int(offer * seconds)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    group = f"g{uuid.uuid4().hex[:8]}" if processes > 1 else None
    children = []
    for _ in range(processes):
        command = [sys.executable, __file__, "--subscriber", client, "--url", url, "--prefix", prefix,
                   "--qos", str(qos), "--expect", str(messages // processes)]  # fmt: skip
        if group:
            command += ["--group", group]
        child = subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True, env=os.environ | {"PYTHONPATH": str(BENCH.parent)}
        )
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{client} subscriber did not start")
        children.append(child)
    encoded = list(packets([f"dev-{i:04d}" for i in range(1000)], messages, qos, 1_700_000_000_000, prefix))
    published_seconds = publish(url, encoded, rate=offer)
    reports = [json.loads(child.communicate(timeout=120)[0].strip().splitlines()[-1]) for child in children]
    received = sum(r["received"] for r in reports)
    return {
        "client": client + (f"×{processes}" if processes > 1 else ""),
        "qos": qos,
        "published_rate": round(messages / published_seconds),
        "received": received,
        "rate": sum(r["rate"] for r in reports),  # processes run side by side: their rates add up
        "per_cpu_second": round(sum(r["per_cpu_second"] for r in reports) / len(reports)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--offer", type=int, default=50_000, help="published messages/s")
    parser.add_argument("--seconds", type=float, default=6.0, help="how long the publisher publishes")
    parser.add_argument("--qos", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--clients", nargs="+", default=["paho", "paho311", "aiomqtt", "source", "source×2"])
    parser.add_argument("--repeat", type=int, default=2, help="runs per case; the best is kept")
    # Internal: the subscriber child process.
    parser.add_argument("--subscriber", dest="client", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--group", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        args.qos = args.qos[0] if isinstance(args.qos, list) else args.qos
        run_subscriber(args)
        return
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'client':<12}{'QoS':>4}{'published/s':>13}{'received':>10}{'msg/s':>9}{'msg/CPU-s':>11}")
    best: dict[tuple[str, int], int] = {}
    per_cpu: dict[tuple[str, int], int] = {}
    for qos in args.qos:
        for name in args.clients:
            client, _, copies = name.partition("×")
            runs = [
                measure(args.url, client, qos, args.offer, args.seconds, int(copies or 1)) for _ in range(args.repeat)
            ]
            top = max(runs, key=lambda r: r["rate"])
            best[(name, qos)] = top["rate"]
            per_cpu[(name, qos)] = top["per_cpu_second"]
            print(
                f"{top['client']:<12}{qos:>4}{top['published_rate']:>13,}{top['received']:>10,}{top['rate']:>9,}"
                f"{top['per_cpu_second']:>11,}"
            )
    for figures, unit in ((best, "msg/s"), (per_cpu, "msg/CPU-s")):
        for qos in args.qos:
            paho = figures.get(("paho", qos))
            if paho:
                ratios = ", ".join(f"{name} {rate / paho:.2f}" for (name, q), rate in figures.items() if q == qos)
                print(f"QoS {qos}, {unit}, relative to bare paho: {ratios}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
