"""Archival (§6.1) on every time-series store (memory, DuckDB, PostgreSQL) and both object stores (filesystem,
S3 on moto): Parquet per organization and day holding exactly the old datapoints, the hot store keeping the
recent ones, a run killed after the file write deleting nothing, and the re-run completing without duplicates."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from services.runtime.objects import ObjectStore
from services.telemetry.adapters.timeseries_embedded import EmbeddedTimeSeriesStore
from services.telemetry.adapters.timeseries_memory import InMemoryTimeSeriesStore
from services.telemetry.adapters.timeseries_postgres import PostgresTimeSeriesStore
from services.telemetry.archival import ReadingsArchival
from services.telemetry.domain.archive import DAY_MS, archive_key
from services.telemetry.domain.model import Reading
from services.telemetry.ports import TimeSeriesStore
from tests.integration.telemetry_store.conftest import postgres_dsn  # noqa: F401 - the session fixture
from tests.support.objects import OBJECT_STORE_KINDS, open_test_objects

NOW = 1_760_000_000_000 - 1_760_000_000_000 % DAY_MS + 12 * 3_600_000  # noon UTC of a day
RETENTION_DAYS = 3.0


@pytest.fixture(params=["memory", "embedded", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TimeSeriesStore]:
    opened: TimeSeriesStore
    if request.param == "memory":
        opened = InMemoryTimeSeriesStore()
    elif request.param == "embedded":
        opened = await EmbeddedTimeSeriesStore.open(tmp_path / "ts")
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        opened = await PostgresTimeSeriesStore.open(dsn, schema=f"a_{uuid.uuid4().hex[:10]}")
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(params=OBJECT_STORE_KINDS)
async def objects(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    async with open_test_objects(request.param, request, tmp_path, "archive") as opened:
        yield opened


def readings() -> list[Reading]:
    """Two organizations; days NOW-5, NOW-4 (old: archived) and NOW-1 (recent: kept); two metrics each."""
    out = []
    for organization in ("org-a", "org-b"):
        for days_ago in (5, 4, 1):
            for device in ("dev-1", "dev-2"):
                for minute in range(3):
                    at = NOW - days_ago * DAY_MS + minute * 60_000 + (0 if device == "dev-1" else 7)
                    values = {"temperature": 20.0 + minute, "humidity": 40.0 + days_ago}
                    out.append(Reading(device, organization, "sensor", at, values))
    return out


async def file_rows(objects: ObjectStore, key: str) -> list[dict[str, object]]:
    data = b"".join([chunk async for chunk in objects.read(key)])
    table = pq.read_table(io.BytesIO(data))
    return [
        {**row, "ts": int(row["ts"].timestamp() * 1000)}  # type: ignore[attr-defined]
        for row in table.to_pylist()
    ]


def by_key(row: dict[str, object]) -> tuple[str, str, int]:
    return (str(row["device_id"]), str(row["metric"]), int(row["ts"]))  # type: ignore[call-overload]


def day_start(days_ago: int) -> int:
    return NOW - days_ago * DAY_MS - (NOW - days_ago * DAY_MS) % DAY_MS


async def run(archival: ReadingsArchival) -> dict[str, float]:
    counters: dict[str, float] = {}
    async for step in archival.run():
        counters = step.counters
    return counters


async def test_old_days_become_parquet_per_org_and_day_and_leave_the_store(
    store: TimeSeriesStore, objects: ObjectStore
) -> None:
    stored = await store.write(readings())
    assert stored == 2 * 3 * 2 * 3 * 2
    counters = await run(ReadingsArchival(store, objects, RETENTION_DAYS, now_ms=lambda: NOW))

    assert counters["days"] == 4
    assert counters["filesWritten"] == 4
    assert counters["rowsArchived"] == counters["rowsDeleted"] == 4 * 2 * 3 * 2
    for organization in ("org-a", "org-b"):
        assert await store.count(organization) == 2 * 3 * 2  # only the recent day is left
        for days_ago in (5, 4):
            rows = await file_rows(objects, archive_key(organization, day_start(days_ago)))
            expected = sorted(
                (
                    {
                        "device_id": r.device_id,
                        "metric": metric,
                        "ts": r.timestamp_ms,
                        "value": value,
                        "anomaly": False,
                    }
                    for r in readings()
                    if r.organization_id == organization and 0 <= r.timestamp_ms - day_start(days_ago) < DAY_MS
                    for metric, value in r.values.items()
                ),
                key=by_key,
            )
            assert sorted(rows, key=by_key) == expected
            assert [(r["device_id"], r["metric"], r["ts"]) for r in rows] == sorted(
                (r["device_id"], r["metric"], r["ts"]) for r in rows
            )
    assert not await objects.exists(archive_key("org-a", day_start(1)))
    # Nothing more to do: a second run archives nothing and deletes nothing.
    again = await run(ReadingsArchival(store, objects, RETENTION_DAYS, now_ms=lambda: NOW))
    assert again["days"] == 0
    assert again["rowsDeleted"] == 0


class KilledAfterWrite(Exception):
    pass


class DiesBeforeDeleting:
    """The store, except that the first delete raises: a kill right after the file was written."""

    def __init__(self, inner: TimeSeriesStore):
        self.inner = inner
        self.killed = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def delete_datapoints(self, organization_id: str, archived: object) -> int:
        if not self.killed:
            self.killed = True
            raise KilledAfterWrite
        return await self.inner.delete_datapoints(organization_id, archived)


async def test_a_run_killed_after_the_file_write_deletes_nothing_and_the_rerun_completes(
    store: TimeSeriesStore, objects: ObjectStore
) -> None:
    await store.write(readings())
    before = await store.count("org-a")
    dying = DiesBeforeDeleting(store)
    with pytest.raises(KilledAfterWrite):
        await run(ReadingsArchival(dying, objects, RETENTION_DAYS, now_ms=lambda: NOW))  # type: ignore[arg-type]

    first = archive_key("org-a", day_start(5))
    assert await objects.exists(first)  # the file is there ...
    assert await store.count("org-a") == before  # ... and every row still is too

    counters = await run(ReadingsArchival(store, objects, RETENTION_DAYS, now_ms=lambda: NOW))
    assert counters["filesReused"] == 1
    assert counters["filesWritten"] == 3
    assert counters["rowsDeleted"] == 4 * 2 * 3 * 2
    rows = await file_rows(objects, first)
    assert len(rows) == 2 * 3 * 2  # no duplicates from the second run
    assert len({(r["device_id"], r["metric"], r["ts"]) for r in rows}) == len(rows)


async def test_rows_not_yet_in_an_existing_file_are_merged_into_it(
    store: TimeSeriesStore, objects: ObjectStore
) -> None:
    """A file written earlier for a day that then received a late datapoint: the file is rewritten with both."""
    await store.write(readings())
    archival = ReadingsArchival(store, objects, RETENTION_DAYS, now_ms=lambda: NOW)
    await run(archival)
    late_at = day_start(5) + 3_600_000
    await store.write([Reading("dev-9", "org-a", "sensor", late_at, {"temperature": 99.0})])
    counters = await run(archival)
    assert counters["filesWritten"] == 1
    assert counters["rowsDeleted"] == 1
    rows = await file_rows(objects, archive_key("org-a", day_start(5)))
    assert len(rows) == 2 * 3 * 2 + 1
    assert {"device_id": "dev-9", "metric": "temperature", "ts": late_at, "value": 99.0, "anomaly": False} in rows
    assert await store.count("org-a", "dev-9") == 0
