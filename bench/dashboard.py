"""Dashboard latency: GET /analytics/dashboard for an organization of 100,000 devices, through the gateway,
against a bare Starlette handler returning the same JSON, in the same run.

The analytics store (data_dir/analytics.db) is loaded directly with 100,000 devices' rows and counters, 300
active alerts, a month of data volume and yesterday's snapshot, and marked reconciled (so the reads measure the
counters, not a reconciliation). Then `iotmon up` serves it; requests go one at a time over one keep-alive
connection (a dashboard refreshing), and the p50/p99 of each are printed with their ratio.

    python bench/dashboard.py [--requests 2000] [--devices 100000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _harness import BENCH, free_port, iotmon_up, process, wait_for_port

from services.analytics.adapters.store_sqlite import SqliteCounterStore
from services.analytics.adapters.tables import table_names

ORG = "org-bench"
STATUSES = ("online", "offline", "maintenance", "registered")


def load_counters(data_dir: Path, devices: int) -> None:
    """What 100,000 devices' events would have left, written in one transaction."""
    t = table_names()
    store = SqliteCounterStore(data_dir / "analytics.db")
    db = store.db
    now_ms = time.time_ns() // 1_000_000
    today = datetime.now(UTC).date()
    statuses = [STATUSES[0] if i % 50 else STATUSES[1 + i % 3] for i in range(devices)]  # ≈ 98 % online
    db.execute("BEGIN")
    db.executemany(
        f"INSERT INTO {t['devices']} VALUES (?, ?, ?, ?)",
        ((ORG, f"dev-{i:06d}", status, now_ms) for i, status in enumerate(statuses)),
    )
    counts = {s: statuses.count(s) for s in STATUSES}
    db.executemany(
        f"INSERT INTO {t['counters']} VALUES (?, ?, ?)", ((ORG, f"device:{s}", n) for s, n in counts.items())
    )
    severities = {"critical": 20, "warning": 200, "info": 80}
    db.executemany(
        f"INSERT INTO {t['alerts']} VALUES (?, ?, ?, 1, ?)",
        ((ORG, f"alert-{s}-{i}", s, now_ms) for s, n in severities.items() for i in range(n)),
    )
    db.executemany(
        f"INSERT INTO {t['counters']} VALUES (?, ?, ?)", ((ORG, f"alert:{s}", n) for s, n in severities.items())
    )
    db.executemany(
        f"INSERT INTO {t['volume']} VALUES (?, ?, ?)",
        ((ORG, (today - timedelta(days=d)).isoformat(), 16 * 4 * 1440 * devices) for d in range(31)),
    )
    yesterday = (today - timedelta(days=1)).isoformat()
    db.execute(f"INSERT INTO {t['snapshots']} VALUES (?, ?, ?, ?)", (ORG, yesterday, counts["online"] - 900, 330))
    db.execute(f"INSERT INTO {t['reconciled']} VALUES (?, ?)", (ORG, now_ms))
    db.execute("COMMIT")
    db.close()


def mint_token(data_dir: Path) -> str:
    return subprocess.run(
        [sys.executable, "-m", "iotmon.cli", "token", "--org", ORG, "--role", "viewer", "--data-dir", str(data_dir)],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def latencies(url: str, requests: int, headers: dict[str, str] | None = None) -> list[float]:
    with httpx.Client(headers=headers or {}, timeout=30) as client:
        for _ in range(min(200, requests)):  # warm-up
            client.get(url).raise_for_status()
        taken: list[float] = []
        for _ in range(requests):
            started = time.perf_counter()
            client.get(url).raise_for_status()
            taken.append((time.perf_counter() - started) * 1000)
    return taken


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--devices", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        started = time.perf_counter()
        load_counters(data_dir, args.devices)
        print(f"loaded {args.devices:,} devices' counters in {time.perf_counter() - started:.1f} s")
        token = mint_token(data_dir)
        with iotmon_up(data_dir) as (gateway, _, _):
            url = f"{gateway}/analytics/dashboard"
            headers = {"Authorization": f"Bearer {token}"}
            document = httpx.get(url, headers=headers, timeout=30).json()
            assert document["devices"]["total"] == args.devices, document
            through_gateway = latencies(url, args.requests, headers)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as body:
        json.dump(document, body)
    port = free_port()
    baseline = [
        sys.executable,
        str(BENCH / "_baselines.py"),
        "starlette",
        "--port",
        str(port),
        "--body-file",
        body.name,
    ]
    with process(baseline):
        wait_for_port(port)
        bare = latencies(f"http://127.0.0.1:{port}/devices/dashboard", args.requests)
    print(json.dumps(document))
    for name, values in (("gateway → analytics (iotmon up)", through_gateway), ("bare Starlette handler", bare)):
        print(f"{name:34s} p50 {percentile(values, 50):7.2f} ms   p99 {percentile(values, 99):7.2f} ms")
    print(f"{'ratio gateway / bare':34s} p50 {percentile(through_gateway, 50) / percentile(bare, 50):7.2f}x"
          f"     p99 {percentile(through_gateway, 99) / percentile(bare, 99):7.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
