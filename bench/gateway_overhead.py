"""Gateway overhead: GET /devices/{id} through gateway → gRPC → SQLite against a bare Starlette handler.

Measured in one run on this machine:
  1. a bare Starlette handler returning the same JSON document (the ceiling of any Python HTTP service);
  2. the same request through `iotmon up` (gateway, JWT check, transcoding, gRPC hop, device service, SQLite);
  3. a bare grpc.aio unary echo (the ceiling of the gRPC hop alone).
Prints requests/s of each and the ratio 2 / 1 (target ≥ 0.2).

    python bench/gateway_overhead.py [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import BENCH, free_port, iotmon_up, process, wait_for_port, wrk

DEVICE = {
    "deviceType": "temperature-sensor-v2",
    "name": "Office-Temp-Sensor-1",
    "location": {"lat": 37.7749, "lon": -122.4194, "address": "Office 301, Building A"},
    "connectivity": {"type": "cellular", "simId": "sim-123456"},
    "metadata": {"manufacturer": "SensorCorp", "model": "TSv2-001", "serialNumber": "SN123456789"},
    "tags": ["office", "building-a"],
}


def measure_gateway(data_dir: Path, seconds: int, connections: int) -> tuple[float, dict[str, object]]:
    with iotmon_up(data_dir) as (gateway, _):
        token = subprocess.run(
            [sys.executable, "-m", "iotmon.cli", "token", "--org", "org-bench", "--role", "admin",
             "--data-dir", str(data_dir)],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{gateway}/devices", json=DEVICE, headers=headers, timeout=30)
        created.raise_for_status()
        url = f"{gateway}/devices/{created.json()['deviceId']}"
        document = httpx.get(url, headers=headers).json()
        wrk(url, seconds=2, connections=connections, headers=headers)  # warm-up
        return wrk(url, seconds=seconds, connections=connections, headers=headers), document


def measure_bare_starlette(document: dict[str, object], seconds: int, connections: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as body:
        json.dump(document, body)
    port = free_port()
    args = [sys.executable, str(BENCH / "_baselines.py"), "starlette", "--port", str(port), "--body-file", body.name]
    with process(args):
        wait_for_port(port)
        url = f"http://127.0.0.1:{port}/devices/dev-bench"
        wrk(url, seconds=2, connections=connections)
        return wrk(url, seconds=seconds, connections=connections)


def measure_grpc_echo(seconds: int, concurrency: int) -> float:
    port = free_port()
    with process([sys.executable, str(BENCH / "_baselines.py"), "grpc-echo", "--port", str(port)]):
        wait_for_port(port)
        out = subprocess.run(
            [sys.executable, str(BENCH / "_baselines.py"), "grpc-load", "--target", f"127.0.0.1:{port}",
             "--seconds", str(seconds), "--concurrency", str(concurrency)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        return float(out.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        gateway_rps, document = measure_gateway(Path(tmp), args.seconds, args.connections)
    bare_rps = measure_bare_starlette(document, args.seconds, args.connections)
    echo_cps = measure_grpc_echo(args.seconds, args.connections)
    print(f"bare Starlette handler          {bare_rps:10,.0f} req/s")
    print(f"GET /devices/{{id}} via gateway  {gateway_rps:10,.0f} req/s   (gateway → gRPC → SQLite, JWT checked)")
    print(f"bare grpc.aio unary echo        {echo_cps:10,.0f} calls/s")
    print(f"ratio gateway / bare Starlette  {gateway_rps / bare_rps:10.3f}     (target ≥ 0.2)")
    print(f"ratio gateway / bare gRPC echo  {gateway_rps / echo_cps:10.3f}")


if __name__ == "__main__":
    main()
