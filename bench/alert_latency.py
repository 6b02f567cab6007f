"""Reading → alert latency of the stream evaluator under load (issue target: p99 ≤ 100 ms at 10,000
readings/s with 100 active rules).

Telemetry's own publisher (BusTelemetryEvents: one ReadingsStored per organization and partition) sends
batches at a steady rate on the bus; the alerting consumer (TelemetryAlertConsumer + Evaluator, as
build_evaluator wires them) evaluates them against the rules. One rule fires on marked readings (every
`--mark-every`-th reading carries temperature 1000 + its number); raise_alert is a fake that records when each
marked reading reached it and declines, so every marked reading is measured. The other rules are evaluated
against every reading but do not fire (values stay in range), which is the evaluator's steady cost.

Rules are spread over `--orgs` organizations × `--types` device types (the index only evaluates a reading
against its own organization's and type's rules); `--orgs 1 --types 1` puts all 100 on every reading.

    python bench/alert_latency.py [--bus inprocess|rabbitmq] [--rate 10000] [--seconds 10] [--rules 100]
                                  [--orgs 10] [--types 2] [--batch 100] [--batch-orgs 0|1]

A batch becomes one ReadingsStored per (organization, partition): with organizations mixed in each batch
(MQTT, Kinesis) that is up to orgs × 16 events per batch, with one organization per batch (HTTP) at most 16.

The RabbitMQ mode runs publisher and consumer in this one process (so they share a core) against
127.0.0.1:5672 with a fresh exchange and group, deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]

from services.alerting.adapters.telemetry_consumer import TelemetryAlertConsumer  # noqa: E402
from services.alerting.domain.alerts import Alert, AlertCandidate  # noqa: E402
from services.alerting.domain.evaluation import DeviceRef, Evaluator  # noqa: E402
from services.alerting.domain.rules import (  # noqa: E402
    Combine,
    Condition,
    ConditionKind,
    Operator,
    Rule,
    Schedule,
    Severity,
)
from services.runtime.bus import EventBus, InProcessBus  # noqa: E402
from services.telemetry.adapters.bus_events import BusTelemetryEvents  # noqa: E402
from services.telemetry.domain.model import Reading  # noqa: E402

MARK = 1000.0
METRICS = ("temperature", "humidity", "pressure", "co2")


def make_rule(i: int, organization_id: str, device_type: str, conditions: tuple[Condition, ...], **kw: object) -> Rule:
    return Rule(
        rule_id=f"rule-{i}",
        organization_id=organization_id,
        name=f"Rule {i}",
        description="",
        device_type=device_type,
        device_ids=frozenset(),
        conditions=conditions,
        combine=kw.get("combine", Combine.ALL),  # type: ignore[arg-type]
        severity=Severity.WARNING,
        notifications=(),
        webhooks=(),
        cooldown_seconds=0,
        schedule=Schedule(),
        enabled=True,
        created_at_ms=0,
        updated_at_ms=0,
    )


def rules(count: int, orgs: list[str], types: list[str]) -> list[Rule]:
    """One marker rule per (org, type), the rest a mix of thresholds, durations, AND/OR and rates."""
    made: list[Rule] = []
    pairs = [(o, t) for o in orgs for t in types]
    for o, t in pairs:
        made.append(make_rule(len(made), o, t, (Condition("temperature", Operator.GE, MARK),)))
    kinds = [
        lambda m: (Condition(m, Operator.GT, 500),),
        lambda m: (Condition(m, Operator.GT, 500, 300),),
        lambda m: (Condition(m, Operator.GT, 500), Condition("humidity", Operator.LT, -1)),
        lambda m: (Condition(m, Operator.GT, 10_000, 0, ConditionKind.RATE),),
    ]
    while len(made) < count:
        o, t = pairs[len(made) % len(pairs)]
        metric = METRICS[len(made) % len(METRICS)]
        conditions = kinds[len(made) % len(kinds)](metric)
        made.append(make_rule(len(made), o, t, conditions, combine=Combine.ANY if len(made) % 5 == 0 else Combine.ALL))
    return made


class Devices:
    def __init__(self, devices: dict[str, DeviceRef]) -> None:
        self.devices = devices

    async def lookup(self, device_ids: object) -> dict[str, DeviceRef]:
        return {i: self.devices[i] for i in device_ids}  # type: ignore[attr-defined]

    def invalidate(self, device_id: str) -> None:
        return None


class Recorder:
    def __init__(self) -> None:
        self.sent: dict[int, float] = {}
        self.latencies: list[float] = []

    async def raise_alert(self, candidate: AlertCandidate) -> Alert | None:
        mark = int(candidate.actual_value - MARK)
        sent = self.sent.pop(mark, None)
        if sent is not None:
            self.latencies.append(time.perf_counter() - sent)
        return None  # declined: the evaluator asks again at the next marked reading (retry_seconds=0)


async def open_buses(kind: str) -> tuple[EventBus, EventBus, object]:
    if kind == "inprocess":
        bus = InProcessBus()
        return bus, bus, None
    from services.runtime.bus_rabbitmq import RabbitMqBus
    from services.runtime.bus_topology import RabbitMqOptions

    options = RabbitMqOptions(url="amqp://guest:guest@127.0.0.1:5672/", exchange=f"bench.{uuid.uuid4().hex[:8]}")
    return RabbitMqBus(options), RabbitMqBus(options), options


async def cleanup(options: object, group: str) -> None:
    import aio_pika

    from services.runtime import bus_topology as topology

    assert options is not None
    async with await aio_pika.connect(options.url) as connection:  # type: ignore[attr-defined]
        channel = await connection.channel()
        for partition in range(options.partitions):  # type: ignore[attr-defined]
            await channel.queue_delete(topology.partition_queue(group, partition))
        await channel.queue_delete(topology.dead_queue(group))
        await channel.exchange_delete(topology.partition_exchange(group))
        await channel.exchange_delete(options.exchange)  # type: ignore[attr-defined]
        await channel.exchange_delete(topology.dead_exchange(options.exchange))  # type: ignore[attr-defined]


async def run(args: argparse.Namespace) -> None:
    orgs = [f"org-{i}" for i in range(args.orgs)]
    types = [f"type-{i}" for i in range(args.types)]
    fleet = [
        DeviceRef(f"dev-{i}", orgs[i % len(orgs)], types[(i // len(orgs)) % len(types)], f"Device {i}")
        for i in range(args.devices)
    ]
    by_org = [[d for d in fleet if d.organization_id == org] for org in orgs]
    recorder = Recorder()
    evaluator = Evaluator(rules(args.rules, orgs, types), retry_seconds=0)
    group = f"alerting-bench-{uuid.uuid4().hex[:6]}"
    consumer_bus, publisher_bus, options = await open_buses(args.bus)
    consumer = TelemetryAlertConsumer(
        evaluator, Devices({d.device_id: d for d in fleet}), recorder.raise_alert, _no_rules, group=group
    )
    consumer.subscribe(consumer_bus)
    await consumer_bus.start()
    if publisher_bus is not consumer_bus:
        await publisher_bus.start()
    publisher = BusTelemetryEvents(publisher_bus)
    rng = random.Random(7)
    batches_per_second = args.rate / args.batch
    interval = 1 / batches_per_second
    total_batches = int(batches_per_second * args.seconds)
    seq = 0
    started = time.perf_counter()
    cpu_started = time.process_time()
    for b in range(total_batches):
        due = started + b * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        now_ms = int(time.time() * 1000)
        batch: list[Reading] = []
        members = by_org[b % len(by_org)] if args.batch_orgs == 1 else fleet
        for _ in range(args.batch):
            device = members[seq % len(members)]
            values = {"temperature": 20 + rng.random() * 5, "humidity": 40.0, "pressure": 1013.0, "co2": 450.0}
            if seq % args.mark_every == 0:
                values["temperature"] = MARK + seq
                recorder.sent[seq] = time.perf_counter()
            batch.append(Reading(device.device_id, device.organization_id, device.device_type, now_ms, values))
            seq += 1
        await publisher.readings_stored(batch)
    elapsed = time.perf_counter() - started
    for _ in range(200):  # let the consumer drain (RabbitMQ), 10 s at most
        if consumer.readings_evaluated >= seq:
            break
        await asyncio.sleep(0.05)
    drained = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    await consumer_bus.close()
    if publisher_bus is not consumer_bus:
        await publisher_bus.close()
        await cleanup(options, group)
    report(args, recorder.latencies, seq, consumer.readings_evaluated, elapsed, drained, cpu)


async def _no_rules() -> list[Rule]:
    return []


def report(
    args: argparse.Namespace,
    latencies: list[float],
    sent: int,
    evaluated: int,
    elapsed: float,
    drained: float,
    cpu: float,
) -> None:
    ms = sorted(x * 1000 for x in latencies)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, int(p / 100 * len(ms)))] if ms else float("nan")

    mix = "one organization per batch" if args.batch_orgs == 1 else "organizations mixed in each batch"
    print(
        f"bus={args.bus} rules={args.rules} over {args.orgs} orgs × {args.types} types, devices={args.devices}, {mix}"
    )
    print(
        f"readings: sent {sent} in {elapsed:.1f} s ({sent / elapsed:,.0f}/s), evaluated {evaluated} by {drained:.1f} s"
    )
    print(f"process CPU {cpu:.1f} s for {drained:.1f} s ({cpu / drained:.0%} of one core)")
    print(
        f"reading→raise_alert latency over {len(ms)} marked readings: p50 {pct(50):.1f} ms, "
        f"p99 {pct(99):.1f} ms, max {pct(100):.1f} ms, mean {statistics.fmean(ms) if ms else float('nan'):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bus", choices=["inprocess", "rabbitmq"], default="inprocess")
    parser.add_argument("--rate", type=int, default=10_000, help="readings per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=100, help="readings per telemetry batch")
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--orgs", type=int, default=10)
    parser.add_argument("--types", type=int, default=2)
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument(
        "--batch-orgs", type=int, choices=[1, 0], default=0, help="1: each batch of one organization (HTTP ingest)"
    )
    parser.add_argument("--mark-every", type=int, default=97, help="every n-th reading fires the marker rule")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(run(args))
    except ImportError:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
