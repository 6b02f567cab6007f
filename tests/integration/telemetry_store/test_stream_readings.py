"""StoreExports (internal StreamReadings) on every store: all datapoints of the devices asked, in time order,
in bounded batches, whatever the windows; other devices, metrics and organizations left out; services only."""

from __future__ import annotations

import pytest

from services.kernel.caller import Caller, Role
from services.kernel.errors import PermissionDenied, ValidationFailed
from services.telemetry.domain.exports import ExportRequest, StoreExports
from services.telemetry.domain.model import Reading
from services.telemetry.domain.series import DAY_MS, SeriesPoint
from services.telemetry.ports import TimeSeriesStore

START = 20_000 * DAY_MS
SERVICE = Caller.service("analytics")


def readings() -> list[Reading]:
    found = []
    for i in range(300):  # every 10 minutes over about two days
        at = START + i * 600_000
        for device in ("dev-a", "dev-b", "dev-c"):
            found.append(Reading(device, "org-1", "sensor", at, {"temperature": i + 0.5, "humidity": float(i)}))
    found.append(Reading("dev-x", "org-2", "sensor", START, {"temperature": 1.0}))
    return found


async def collect(exports: StoreExports, request: ExportRequest) -> list[list[SeriesPoint]]:
    return [batch async for batch in exports.stream(SERVICE, request)]


@pytest.mark.parametrize(("window_rows", "batch_rows"), [(100, 37), (1_000_000, 10_000)])
async def test_every_datapoint_once_in_time_order_in_bounded_batches(
    store: TimeSeriesStore, window_rows: int, batch_rows: int
) -> None:
    await store.write(readings())
    exports = StoreExports(store, window_rows=window_rows, batch_rows=batch_rows)
    request = ExportRequest("org-1", ("dev-a", "dev-b"), (), START, START + 2 * DAY_MS)
    batches = await collect(exports, request)
    rows = [(p.timestamp_ms, p.device_id, p.metric, p.value) for batch in batches for p in batch]
    expected = sorted(
        (r.timestamp_ms, r.device_id, metric, value)
        for r in readings()
        if r.device_id in ("dev-a", "dev-b") and r.timestamp_ms < START + 2 * DAY_MS
        for metric, value in r.values.items()
    )
    assert rows == expected
    assert all(len(batch) <= batch_rows for batch in batches)
    if window_rows == 100:
        assert len(batches) > 10  # the windows really cut the range


async def test_metrics_and_range_narrow_the_stream(store: TimeSeriesStore) -> None:
    await store.write(readings())
    request = ExportRequest("org-1", ("dev-c",), ("humidity",), START + 600_000, START + 1_800_000)
    rows = [(p.timestamp_ms, p.metric, p.value) for batch in await collect(StoreExports(store), request) for p in batch]
    assert rows == [(START + 600_000, "humidity", 1.0), (START + 1_200_000, "humidity", 2.0)]


async def test_another_organizations_devices_stream_nothing(store: TimeSeriesStore) -> None:
    await store.write(readings())
    request = ExportRequest("org-1", ("dev-x",), (), START, START + DAY_MS)
    assert await collect(StoreExports(store), request) == []


async def test_only_services_may_stream_and_requests_are_checked(store: TimeSeriesStore) -> None:
    exports = StoreExports(store)
    user = Caller("u-1", "org-1", Role.ADMIN)
    with pytest.raises(PermissionDenied):
        await collect_as(exports, user, ExportRequest("org-1", ("dev-a",), (), START, START + 1))
    with pytest.raises(ValidationFailed) as refused:
        await collect(exports, ExportRequest("", (), (), START, START))
    assert {v.field for v in refused.value.violations} == {"organizationId", "deviceIds", "endTime"}


async def collect_as(exports: StoreExports, caller: Caller, request: ExportRequest) -> None:
    async for _ in exports.stream(caller, request):
        pass
