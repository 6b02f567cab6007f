"""Gateway overhead: GET /devices/{id} through gateway → gRPC → SQLite against a bare Starlette handler.

Measured in one run on this machine:
  1. a bare Starlette handler returning the same JSON document (the ceiling of any Python HTTP service);
  2. the same request through the gateway (JWT check, transcoding, gRPC hop, device service, SQLite):
     a. deployed layout — `iotmon serve gateway` and `iotmon serve device` in their own processes, as the
        pods of the Helm chart (the headline figure);
     b. `iotmon up` — every service and the gateway sharing one process and one core (the laptop mode);
  3. a bare grpc.aio unary echo, client and server in two processes (the ceiling of the gRPC hop alone).
Prints requests/s of each and the ratios (target: 2a / 1 ≥ 0.2).

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
from _harness import BENCH, free_port, iotmon_serve, iotmon_up, process, wait_for_port, wrk

DEVICE = {
    "deviceType": "temperature-sensor-v2",
    "name": "Office-Temp-Sensor-1",
    "location": {"lat": 37.7749, "lon": -122.4194, "address": "Office 301, Building A"},
    "connectivity": {"type": "cellular", "simId": "sim-123456"},
    "metadata": {"manufacturer": "SensorCorp", "model": "TSv2-001", "serialNumber": "SN123456789"},
    "tags": ["office", "building-a"],
}


def mint_token(data_dir: Path) -> str:
    return subprocess.run(
        [sys.executable, "-m", "iotmon.cli", "token", "--org", "org-bench", "--role", "admin",
         "--data-dir", str(data_dir)],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def load_device_route(gateway: str, data_dir: Path, seconds: int, connections: int) -> tuple[float, dict[str, object]]:
    """Register one device through the gateway, then measure GET /devices/{id} with wrk."""
    headers = {"Authorization": f"Bearer {mint_token(data_dir)}"}
    created = httpx.post(f"{gateway}/devices", json=DEVICE, headers=headers, timeout=30)
    created.raise_for_status()
    url = f"{gateway}/devices/{created.json()['deviceId']}"
    document = httpx.get(url, headers=headers).json()
    wrk(url, seconds=2, connections=connections, headers=headers)  # warm-up
    return wrk(url, seconds=seconds, connections=connections, headers=headers), document


def measure_deployed_layout(data_dir: Path, seconds: int, connections: int) -> tuple[float, dict[str, object]]:
    mint_token(data_dir)  # creates the signing key the device service verifies with
    device_port, gateway_port = free_port(), free_port()
    with (
        iotmon_serve("device", device_port, data_dir),
        iotmon_serve("gateway", gateway_port, data_dir, {"IOTMON_DEVICE_ADDR": f"127.0.0.1:{device_port}"}),
    ):
        return load_device_route(f"http://127.0.0.1:{gateway_port}", data_dir, seconds, connections)


def measure_single_process(data_dir: Path, seconds: int, connections: int) -> float:
    with iotmon_up(data_dir) as (gateway, _, _):
        return load_device_route(gateway, data_dir, seconds, connections)[0]


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
        deployed_rps, document = measure_deployed_layout(Path(tmp), args.seconds, args.connections)
    with tempfile.TemporaryDirectory() as tmp:
        single_rps = measure_single_process(Path(tmp), args.seconds, args.connections)
    bare_rps = measure_bare_starlette(document, args.seconds, args.connections)
    echo_cps = measure_grpc_echo(args.seconds, args.connections)
    print(f"bare Starlette handler                     {bare_rps:10,.0f} req/s")
    print(f"bare grpc.aio unary echo (2 processes)     {echo_cps:10,.0f} calls/s")
    print(f"GET /devices/{{id}}, deployed layout         {deployed_rps:10,.0f} req/s   (gateway + device processes)")
    print(f"GET /devices/{{id}}, iotmon up (1 process)   {single_rps:10,.0f} req/s")
    print(f"ratio deployed / bare Starlette            {deployed_rps / bare_rps:10.3f}     (target ≥ 0.2)")
    print(f"ratio deployed / bare gRPC echo            {deployed_rps / echo_cps:10.3f}")
    print(f"ratio iotmon up / bare Starlette           {single_rps / bare_rps:10.3f}")


if __name__ == "__main__":
    main()
