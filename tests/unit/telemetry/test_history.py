"""§3.1.6 history: defaults, the rules that refuse a query, and the shape of the answer."""

from __future__ import annotations

from typing import Any

import pytest

from services.kernel.caller import Caller, Role
from services.kernel.errors import NotFound, ValidationFailed
from services.telemetry.domain.history import HistoryRequest, default_aggregation
from tests.unit.telemetry.fakes import NOW_MS
from tests.unit.telemetry.world import World, raw, record

HOUR = 3_600_000
DAY = 24 * HOUR
VIEWER = Caller("user-v", "org-1", Role.VIEWER)


async def history_of(world: World, **request: Any) -> Any:
    return await world.service.history(VIEWER, HistoryRequest(device_id=request.pop("device_id", "dev-1"), **request))


async def filled(minutes: int = 120) -> tuple[World, int]:
    """A world whose dev-1 reported every minute for `minutes` minutes, starting on a whole hour."""
    world = World()
    start = (NOW_MS - 5 * HOUR) // HOUR * HOUR
    batch = [raw(record(timestamp=start + i * 60_000, temperature=20 + i % 10, humidity=40)) for i in range(minutes)]
    assert (await world.pipeline.ingest(batch)).accepted == minutes
    return world, start


@pytest.mark.parametrize(
    ("aggregation", "rows"), [("raw", 120), ("1m", 120), ("5m", 24), ("15m", 8), ("1h", 2), ("1d", 1)]
)
async def test_one_row_per_timestamp_for_every_aggregation(aggregation: str, rows: int) -> None:
    world, start = await filled()
    history = await history_of(
        world, start_ms=start, end_ms=start + 120 * 60_000, metrics=("temperature,humidity",), aggregation=aggregation
    )
    assert (history.device_id, history.aggregation, history.metrics) == (
        "dev-1",
        aggregation,
        ["temperature", "humidity"],
    )
    assert (history.start_ms, history.end_ms) == (start, start + 120 * 60_000)
    assert len(history.rows) == rows
    first_time, first = history.rows[0]
    assert set(first) == {"temperature", "humidity"}
    if aggregation == "15m":
        assert first_time == start
        assert first["temperature"] == pytest.approx(sum(20 + i % 10 for i in range(15)) / 15)


async def test_defaults_are_the_last_day_with_every_metric_of_the_type() -> None:
    world, _ = await filled()
    history = await history_of(world)
    assert (history.end_ms - history.start_ms, history.end_ms) == (DAY, NOW_MS)
    assert history.aggregation == "raw"
    assert history.metrics == ["temperature", "humidity", "co2", "battery", "dewPoint"]
    assert set(history.rows[0][1]) == {"temperature", "humidity", "dewPoint"}


async def test_metrics_may_repeat_or_be_separated_by_commas() -> None:
    world, start = await filled(3)
    history = await history_of(world, start_ms=start, metrics=("humidity", "temperature, humidity", ""))
    assert history.metrics == ["humidity", "temperature"]


@pytest.mark.parametrize(
    ("range_ms", "aggregation"), [(HOUR, "raw"), (DAY, "raw"), (3 * DAY, "15m"), (30 * DAY, "1h"), (365 * DAY, "1d")]
)
def test_the_default_aggregation_follows_the_range(range_ms: int, aggregation: str) -> None:
    assert default_aggregation(range_ms) == aggregation


@pytest.mark.parametrize(
    ("request_fields", "field", "words"),
    [
        ({"start_ms": NOW_MS, "end_ms": NOW_MS - HOUR}, "endDate", "after startDate"),
        ({"start_ms": NOW_MS - 91 * DAY, "aggregation": "raw"}, "aggregation", "at most 90 days"),
        ({"start_ms": NOW_MS - 30 * DAY, "aggregation": "1m"}, "aggregation", "choose 5m or coarser"),
        ({"aggregation": "2h"}, "aggregation", "raw, 1m, 5m, 15m, 1h, 1d"),
        ({"metrics": ("temperature,pressure",)}, "metrics", "no metric pressure"),
    ],
)
async def test_a_query_outside_the_rules_is_a_400_that_says_why(
    request_fields: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await history_of(World(), **request_fields)
    (violation,) = refused.value.violations
    assert violation.field == field
    assert words in violation.description


async def test_too_many_raw_points_are_refused_before_they_are_read() -> None:
    world = World()
    start = NOW_MS - 20 * HOUR
    for chunk in range(11):
        batch = [raw(record(timestamp=start + (chunk * 1000 + i) * 5000, co2=400)) for i in range(1000)]
        await world.pipeline.ingest(batch)
    with pytest.raises(ValidationFailed) as refused:
        await history_of(world, start_ms=start, aggregation="raw", metrics=("co2",))
    assert "11000 points per metric" in refused.value.message
    assert len((await history_of(world, start_ms=start, aggregation="1m", metrics=("co2",))).rows) == 917


@pytest.mark.parametrize("device_id", ["dev-nobody", "dev-other", "dev-gone", ""])
async def test_a_device_the_caller_cannot_see_is_not_found(device_id: str) -> None:
    with pytest.raises(NotFound) as refused:
        await history_of(World(), device_id=device_id)
    assert refused.value.reason == "DEVICE_NOT_FOUND"


async def test_a_device_without_schema_lists_the_metrics_it_has() -> None:
    world = World()
    await world.pipeline.ingest([raw(record("dev-free", pressure=1000, wind=3))])
    history = await history_of(world, device_id="dev-free")
    assert history.metrics == ["pressure", "wind"]
