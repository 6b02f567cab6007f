"""End-to-end MQTT ingest: 1,000 devices, one 4-metric reading per message, into `iotmon up`.

In one run on this machine:
  1. `iotmon up` with IOTMON_MQTT_URL set (its own topic prefix and client id, so nothing else on the shared
     broker interferes); 1,000 temperature-sensor-v2 devices registered through POST /devices;
  2. the ceiling: a bare paho-mqtt subscriber that only parses the JSON (bench/mqtt_clients.py), under the
     same offered load and QoS — the better of MQTT 5 and MQTT 3.1.1;
  3. the publisher (bench/_mqtt_load.py) sends readings round-robin over the devices at the offered rate
     for the given time; the service subscribes with QoS 1 and acknowledges each batch once it is stored.
     The run ends when the devices' lastSeen/lastReading stop changing; then every device's raw history is
     read back and counted.
Prints messages/s and datapoints/s stored end to end, the bare ceiling, and their ratio
(targets: ≥ 15,000 msg/s and ≥ 0.5 of the bare ceiling).

    python bench/ingest.py [--devices 1000] [--offer 25000] [--seconds 10] [--qos 1] [--batch-size 500]

Mosquitto drops what a subscriber cannot take beyond its queue (1,000 messages by default), so when the
offered rate is above what the service sustains, fewer messages are stored than published: the rate is
what was stored over the time it took, and the loss is printed beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from _harness import iotmon_up  # noqa: E402 (sibling scripts, not a package)
from mqtt_clients import measure  # noqa: E402

SAMPLE_DEVICES = 25  # the most recently seen devices, polled for lastSeen/lastReading while the run goes on
QUIET_SECONDS = 3.0  # the run is over when none of them changed for this long
METRICS = ("temperature", "humidity", "co2", "battery")


def cpu_seconds_of(data_dir: Path) -> float:
    """User + system CPU time so far of the `iotmon up` serving this data directory (Linux /proc)."""
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
            if b"up" in command and str(data_dir).encode() in command:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            continue
    raise RuntimeError("the iotmon up process was not found")


def mint_token(data_dir: Path) -> str:
    return subprocess.run(
        [sys.executable, "-m", "iotmon.cli", "token", "--org", "org-bench", "--role", "admin",
         "--data-dir", str(data_dir)],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


async def register_devices(api: httpx.AsyncClient, count: int) -> list[str]:
    """POST /devices, 32 at a time; the device ids in order."""
    limit = asyncio.Semaphore(32)

    async def register(n: int) -> str:
        body = {
            "deviceType": "temperature-sensor-v2",
            "name": f"Bench-Sensor-{n:05d}",
            "location": {"lat": 37.7749, "lon": -122.4194, "address": f"Rack {n // 100}, slot {n % 100}"},
            "connectivity": {"type": "wifi"},
            "metadata": {"manufacturer": "SensorCorp", "model": "TSv2-001", "serialNumber": f"SN-BENCH-{n:06d}"},
            "tags": ["bench"],
        }
        async with limit:
            reply = await api.post("/devices", json=body)
        reply.raise_for_status()
        return str(reply.json()["deviceId"])

    return list(await asyncio.gather(*(register(n) for n in range(count))))


async def watch_until_quiet(api: httpx.AsyncClient, published: asyncio.Event) -> float:
    """Poll the fleet's newest lastSeen and lastReading (one list call sorted by lastSeen, not a GET per
    device: the watching shares the CPU with what it measures); the perf_counter time of the last change
    seen once publishing is over."""
    params = {"sortBy": "lastSeen", "sortOrder": "desc", "pageSize": SAMPLE_DEVICES}
    seen: Any = None
    last_change = time.perf_counter()
    while not published.is_set() or time.perf_counter() - last_change < QUIET_SECONDS:
        reply = await api.get("/devices", params=params)
        reply.raise_for_status()
        state = json.dumps([(d.get("lastSeen"), d.get("lastReading")) for d in reply.json()["items"]])
        if state != seen:
            seen, last_change = state, time.perf_counter()
        await asyncio.sleep(0.2)
    return last_change


async def count_stored(api: httpx.AsyncClient, devices: list[str], start_ms: int) -> tuple[int, int]:
    """Readings (rows) and datapoints of the four metrics stored, from every device's raw history."""
    limit = asyncio.Semaphore(16)
    start = datetime.fromtimestamp(start_ms / 1000 - 60, UTC).isoformat().replace("+00:00", "Z")
    end = datetime.now(UTC).isoformat().replace("+00:00", "Z")

    async def count(device: str) -> tuple[int, int]:
        params = {"startDate": start, "endDate": end, "aggregation": "raw", "metrics": ",".join(METRICS)}
        async with limit:
            reply = await api.get(f"/devices/{device}/history", params=params)
        reply.raise_for_status()
        rows = reply.json()["data"]
        return len(rows), sum(1 for row in rows for metric in METRICS if row.get(metric) is not None)

    totals = await asyncio.gather(*(count(device) for device in devices))
    return sum(rows for rows, _ in totals), sum(points for _, points in totals)


async def run_load(
    gateway: str, token: str, devices: list[str], args: argparse.Namespace, prefix: str, data_dir: Path
) -> dict[str, Any]:
    start_ms = int(time.time() * 1000) - 3_600_000
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as ids:
        ids.write("\n".join(devices))
    count = int(args.offer * args.seconds)
    publisher = await asyncio.create_subprocess_exec(
        sys.executable, str(BENCH / "_mqtt_load.py"), "--url", args.url, "--count", str(count), "--qos",
        str(args.qos), "--rate", str(args.offer), "--topic-prefix", prefix, "--device-ids", ids.name,
        "--start-ms", str(start_ms), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert publisher.stdout is not None
    await publisher.stdout.readline()  # "publishing": the packets are encoded
    started, cpu_before = time.perf_counter(), cpu_seconds_of(data_dir)
    published = asyncio.Event()
    async with httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {token}"}, timeout=60) as api:
        watcher = asyncio.create_task(watch_until_quiet(api, published))
        report = json.loads((await publisher.communicate())[0].decode().strip().splitlines()[-1])
        published.set()
        finished = await watcher
        cpu = cpu_seconds_of(data_dir) - cpu_before  # less the quiet wait's polling, which costs little
        rows, points = await count_stored(api, devices, start_ms)
    seconds = finished - started
    return {"published": report["published"], "publish_rate": report["rate"], "stored_messages": rows,
            "stored_datapoints": points, "seconds": seconds, "cpu_seconds": cpu}  # fmt: skip


async def end_to_end(args: argparse.Namespace) -> dict[str, Any]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}/devices"
    env = {
        "IOTMON_MQTT_URL": args.url,
        "IOTMON_TELEMETRY_MQTT_TOPIC_PREFIX": prefix,
        "IOTMON_TELEMETRY_MQTT_CLIENT_ID": f"bench-{uuid.uuid4().hex[:8]}",
        "IOTMON_TELEMETRY_MQTT_SESSION_EXPIRY_SECONDS": "60",
        "IOTMON_TELEMETRY_BATCH_SIZE": str(args.batch_size),
    }
    with tempfile.TemporaryDirectory() as tmp, iotmon_up(Path(tmp), env) as (gateway, _, _):
        token = mint_token(Path(tmp))
        async with httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {token}"}, timeout=60) as api:
            devices = await register_devices(api, args.devices)
        print(f"registered {len(devices)} devices through POST /devices", flush=True)
        return await run_load(gateway, token, devices, args, prefix, Path(tmp))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--offer", type=int, default=25_000, help="published messages/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the publisher publishes")
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1)
    parser.add_argument("--batch-size", type=int, default=500, help="the service's MQTT batch (its default)")
    args = parser.parse_args()

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    e2e = asyncio.run(end_to_end(args))
    # The ceiling: the better of a bare paho subscriber speaking MQTT 5 or MQTT 3.1.1.
    bare = max(
        (measure(args.url, client, args.qos, args.offer, args.seconds) for client in ("paho", "paho311")),
        key=lambda figures: figures["rate"],
    )
    rate = e2e["stored_messages"] / e2e["seconds"]
    loss = 1 - e2e["stored_messages"] / e2e["published"]
    print(f"offered                                 {args.offer:10,} msg/s for {args.seconds:.0f} s, QoS {args.qos}")
    print(f"published                               {e2e['published']:10,} messages ({e2e['publish_rate']:,} msg/s)")
    print(f"stored end to end                       {e2e['stored_messages']:10,} messages  (loss {loss:.1%})")
    print(f"end-to-end rate                         {rate:10,.0f} msg/s        (target ≥ 15,000)")
    print(f"                                        {e2e['stored_datapoints'] / e2e['seconds']:10,.0f} datapoints/s")
    print(f"bare paho subscriber, JSON parse only   {bare['rate']:10,} msg/s        ({bare['client']})")
    print(f"ratio end to end / bare                 {rate / bare['rate']:10.2f}           (target ≥ 0.5)")
    per_cpu = e2e["stored_messages"] / e2e["cpu_seconds"]
    print(f"per CPU-second: end to end              {per_cpu:10,.0f} msg  (iotmon up, all services in one process)")
    print(f"                bare paho               {bare['per_cpu_second']:10,} msg")
    print(f"ratio per CPU-second                    {per_cpu / bare['per_cpu_second']:10.2f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
