"""What only the embedded store has: its file, durability against a killed process, and compaction."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from services.telemetry.adapters import timeseries_compaction
from services.telemetry.adapters.timeseries_embedded import FILE_NAME, EmbeddedTimeSeriesStore
from services.telemetry.domain.series import Aggregate
from tests.integration.telemetry_store.test_contract import MINUTE, ORG, QUARTER, T0, query, reading

DAY = 86_400_000
LATER = T0 + 40 * DAY  # a clock well after the test data: every day of it has ended


async def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    store = await EmbeddedTimeSeriesStore.open(tmp_path)
    await store.write([reading(t=T0 + i * MINUTE, temperature=float(i)) for i in range(100)])
    await store.close()

    store = await EmbeddedTimeSeriesStore.open(tmp_path)
    try:
        assert (tmp_path / FILE_NAME).exists()
        assert await store.count() == 100
        assert await store.write([reading(t=T0 + i * MINUTE, temperature=float(i)) for i in range(100)]) == 0
    finally:
        await store.close()


WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from services.telemetry.adapters.timeseries_embedded import EmbeddedTimeSeriesStore
    from services.telemetry.domain.model import Reading

    async def main():
        store = await EmbeddedTimeSeriesStore.open(Path(sys.argv[1]))
        for batch in range(int(sys.argv[2])):
            readings = [Reading(f"dev-{d}", "org-a", "t", 1_763_114_400_000 + batch * 60_000, {"temperature": 1.0})
                        for d in range(500)]
            await store.write(readings)
            print(batch, flush=True)  # stored: write() has returned
        time.sleep(60)  # killed here, with the store open and no close()

    asyncio.run(main())
    """
)


def test_what_write_returned_survives_a_sigkill(tmp_path: Path) -> None:
    batches = 20
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), str(batches)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    try:
        assert child.stdout is not None
        acknowledged = [child.stdout.readline() for _ in range(batches)]
        assert acknowledged[-1].strip() == str(batches - 1)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(10)

    async def count_after_restart() -> int:
        store = await EmbeddedTimeSeriesStore.open(tmp_path)
        try:
            return await store.count()
        finally:
            await store.close()

    assert asyncio.run(count_after_restart()) == batches * 500


async def test_compaction_moves_finished_days_and_answers_stay_the_same(tmp_path: Path) -> None:
    store = await EmbeddedTimeSeriesStore.open(tmp_path, now_ms=lambda: LATER)
    try:
        for day in range(3):
            await store.write(
                [
                    reading(f"dev-{d}", T0 + day * DAY + m * MINUTE, temperature=float(m))
                    for d in range(5)
                    for m in range(60)
                ]
            )
        asked = query(("dev-3",), ("temperature",), T0, T0 + 3 * DAY, QUARTER, Aggregate.P95)
        before = await store.query(asked)

        await store.compact()

        assert await store.query(asked) == before
        assert await store.count() == 3 * 5 * 60
        assert _rows(store, "ts_recent") == 0
        assert await store.write([reading("dev-3", T0 + 5 * MINUTE, temperature=99.0)]) == 0
    finally:
        await store.close()


async def test_runs_are_written_in_slices_and_merge_into_one_sorted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timeseries_compaction, "SLICE_ROWS", 50)
    monkeypatch.setattr(timeseries_compaction, "FAN_IN", 3)
    clock = {"now": T0}
    store = await EmbeddedTimeSeriesStore.open(tmp_path, now_ms=lambda: clock["now"])
    try:
        for day in range(3):  # each finished day becomes a run of level 0; the third triggers a merge
            await store.write(
                [reading(f"dev-{d}", T0 + day * DAY + m * MINUTE, co2=float(d)) for d in range(8) for m in range(20)]
            )
            clock["now"] = T0 + (day + 1) * DAY + 3_600_000
            await store.compact()

        runs = _query(store, "SELECT DISTINCT run, level FROM ts_sorted")
        keys = _query(store, "SELECT device_key, metric_key, ts FROM ts_sorted ORDER BY rowid")
        assert [level for _, level in runs] == [1]
        assert keys == sorted(keys)  # one run, sorted by device, metric, time
        assert await store.count() == 3 * 8 * 20
        assert [p.value for p in await store.query(query(("dev-5",), start=T0, end=T0 + 3 * DAY, bucket=DAY))] == [
            5.0
        ] * 3
    finally:
        await store.close()


async def test_the_store_compacts_by_itself(tmp_path: Path) -> None:
    store = await EmbeddedTimeSeriesStore.open(tmp_path, now_ms=lambda: LATER, compaction_interval=0.05)
    try:
        await store.write([reading(t=T0 + m * MINUTE, temperature=1.0) for m in range(30)])
        for _ in range(100):
            if _rows(store, "ts_sorted") == 30:
                break
            await asyncio.sleep(0.05)
        assert _rows(store, "ts_sorted") == 30
        assert await store.count(ORG) == 30
    finally:
        await store.close()


async def test_anomaly_flags_are_stored_per_datapoint(tmp_path: Path) -> None:
    store = await EmbeddedTimeSeriesStore.open(tmp_path)
    try:
        flagged = reading(temperature=80.0, humidity=40.0)
        flagged.anomalies = frozenset({"temperature"})
        await store.write([flagged, reading(t=T0 + MINUTE, temperature=21.0)])

        rows = _query(
            store,
            "SELECT m.metric, r.ts, r.anomaly FROM ts_recent r JOIN ts_metrics m USING (metric_key) ORDER BY 1, 2",
        )
        assert rows == [("humidity", T0, False), ("temperature", T0, True), ("temperature", T0 + MINUTE, False)]
    finally:
        await store.close()


async def test_a_closed_store_refuses_writes(tmp_path: Path) -> None:
    store = await EmbeddedTimeSeriesStore.open(tmp_path)
    await store.close()

    with pytest.raises(RuntimeError, match="closed"):
        await store.write([reading(temperature=1.0)])


def _query(store: EmbeddedTimeSeriesStore, sql: str) -> list[tuple[object, ...]]:
    """Look inside the file through the store's own connection (DuckDB allows one per process)."""
    return [tuple(row) for row in store._db.cursor().execute(sql).fetchall()]


def _rows(store: EmbeddedTimeSeriesStore, table: str) -> int:
    return int(_query(store, f"SELECT count(*) FROM {table}")[0][0])  # type: ignore[call-overload]


async def test_buckets_before_1970_are_on_the_epoch_grid_too(tmp_path: Path) -> None:
    # Buckets are counted from the grid line at or before the range's start, so the count floors below zero too.
    store = await EmbeddedTimeSeriesStore.open(tmp_path)
    try:
        await store.write([reading(t=m * MINUTE, temperature=float(m)) for m in (-31, -20, -16, -5, 3)])
        found = await store.query(query(start=-25 * MINUTE, end=10 * MINUTE, bucket=QUARTER, aggregate=Aggregate.MIN))
    finally:
        await store.close()
    assert [(p.timestamp_ms, p.value) for p in found] == [(-30 * MINUTE, -20.0), (-15 * MINUTE, -5.0), (0, 3.0)]
