"""The telemetry service on a real port (its bootstrap), next to a real device service, with real tokens.

Responses are rendered to JSON the way the gateway does and compared with the shapes of the spec and issue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import orjson
import pytest
from google.api import httpbody_pb2
from google.protobuf import json_format
from google.protobuf.message import Message
from iot.device.v1 import device_pb2
from iot.telemetry.v1 import events_pb2, telemetry_pb2

from services.telemetry.bootstrap import TelemetrySettings
from tests.integration.telemetry.support import TelemetryStack, as_service, as_user, register, telemetry_stack
from tests.support.postgres import POSTGRES_DSN, drop_schema, new_schema
from tests.support.tokens import TokenMinter

MINUTE = 60_000


def now_ms() -> int:
    return int(time.time() * 1000)


def as_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def reading(device_id: str, timestamp: int, **data: Any) -> dict[str, Any]:
    return {
        "deviceId": device_id,
        "timestamp": timestamp,
        "data": {"temperature": 23.5, "humidity": 45, "co2": 450} | data,
    }


def http_batch(*records: object) -> telemetry_pb2.IngestTelemetryRequest:
    body = orjson.dumps({"records": list(records)})
    return telemetry_pb2.IngestTelemetryRequest(
        payload=httpbody_pb2.HttpBody(content_type="application/json", data=body)
    )


def store_settings(kind: str, **overrides: Any) -> TelemetrySettings:
    """The service's adapters as configured in each layout: memory + SQLite dead letters (tests), embedded
    (DuckDB + SQLite, `iotmon up`), PostgreSQL for both (production), in a schema of its own."""
    if kind == "postgres":
        schema = new_schema("telemetry_test")
        return TelemetrySettings(store="postgres", postgres_dsn=POSTGRES_DSN, postgres_schema=schema, **overrides)
    return TelemetrySettings(store=kind, dlq="sqlite", **overrides)


@pytest.fixture
async def stack(tmp_path: Path, token_minter: TokenMinter) -> AsyncIterator[TelemetryStack]:
    async with telemetry_stack(token_minter, tmp_path, store_settings("memory")) as running:
        yield running


@pytest.fixture(params=["memory", "embedded", "postgres"])
async def any_stack(
    request: pytest.FixtureRequest, tmp_path: Path, token_minter: TokenMinter
) -> AsyncIterator[TelemetryStack]:
    settings = store_settings(request.param)
    async with telemetry_stack(token_minter, tmp_path, settings) as running:
        yield running
    if settings.postgres_schema:
        await drop_schema(settings.postgres_schema)


@pytest.fixture
async def sensor(stack: TelemetryStack, token_minter: TokenMinter) -> str:
    return await register(stack, token_minter)


async def test_http_ingest_answers_the_issues_shape(
    stack: TelemetryStack, sensor: str, token_minter: TokenMinter
) -> None:
    t = now_ms() - MINUTE
    request = http_batch(reading(sensor, t), reading(sensor, t + 1000, humidity=150), reading("dev-nobody", t))
    reply = await stack.telemetry().IngestTelemetry(request, metadata=as_user(token_minter))
    assert as_json(reply) == {
        "accepted": 1,
        "failed": [
            {
                "index": 1,
                "reason": "OUT_OF_RANGE",
                "message": "data.humidity: 150 % is outside the valid range 0..100 %",
            },
            {"index": 2, "reason": "UNKNOWN_DEVICE", "message": "no device 'dev-nobody' is registered"},
        ],
    }
    routing_keys = [key for key, _ in stack.events]
    assert "telemetry.readings_stored" in routing_keys
    stored = events_pb2.ReadingsStored.FromString(dict(stack.events)["telemetry.readings_stored"])
    assert (stored.meta.organization_id, stored.readings[0].device_id) == ("org-1", sensor)
    assert stored.readings[0].values["dewPoint"] == pytest.approx(10.9, abs=0.1)


async def test_the_device_shows_the_newest_reading_and_goes_online(
    stack: TelemetryStack, sensor: str, token_minter: TokenMinter
) -> None:
    t = now_ms() - MINUTE
    await stack.telemetry().IngestTelemetry(
        http_batch(reading(sensor, t + 2000, temperature=24.5), reading(sensor, t)), metadata=as_user(token_minter)
    )
    device = (
        await stack.devices().GetDevice(device_pb2.GetDeviceRequest(device_id=sensor), metadata=as_user(token_minter))
    ).device
    assert device.status == "online"
    assert device.last_seen.ToMilliseconds() == t + 2000
    assert dict(device.last_reading.fields)["temperature"].number_value == 24.5


@pytest.mark.parametrize(("payload", "reason"), [(b"{nope", "INVALID_JSON"), (b'{"rows": []}', "VALIDATION_ERROR")])
async def test_a_body_that_is_no_batch_is_invalid_argument(
    stack: TelemetryStack, token_minter: TokenMinter, payload: bytes, reason: str
) -> None:
    request = telemetry_pb2.IngestTelemetryRequest(payload=httpbody_pb2.HttpBody(data=payload))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.telemetry().IngestTelemetry(request, metadata=as_user(token_minter))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_viewers_may_not_send(stack: TelemetryStack, sensor: str, token_minter: TokenMinter) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.telemetry().IngestTelemetry(
            http_batch(reading(sensor, now_ms())), metadata=as_user(token_minter, role="viewer")
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_typed_records_and_a_client_stream(stack: TelemetryStack, sensor: str, token_minter: TokenMinter) -> None:
    t = now_ms() - 10 * MINUTE
    typed = telemetry_pb2.IngestTelemetryRequest(
        records=[
            telemetry_pb2.TelemetryRecord(device_id=sensor, timestamp=t, data={"co2": 400}),
            telemetry_pb2.TelemetryRecord(device_id=sensor, data={"co2": 1}),
        ]
    )
    reply = await stack.telemetry().IngestTelemetry(typed, metadata=as_user(token_minter))
    assert (reply.accepted, [f.reason for f in reply.failed]) == (1, ["INVALID_RECORD"])

    async def stream() -> AsyncIterator[telemetry_pb2.StreamTelemetryRequest]:
        for i in range(1200):
            co2 = -1 if i == 1100 else 400 + i
            record = telemetry_pb2.TelemetryRecord(device_id=sensor, timestamp=t + i * 100, data={"co2": co2})
            yield telemetry_pb2.StreamTelemetryRequest(record=record)

    summary = await stack.telemetry().StreamTelemetry(stream(), metadata=as_user(token_minter))
    assert summary.accepted == 1199
    assert [(f.index, f.reason) for f in summary.failed] == [(1100, "OUT_OF_RANGE")]


async def test_a_stream_of_messages_with_several_records_each(
    stack: TelemetryStack, sensor: str, token_minter: TokenMinter
) -> None:
    t = now_ms() - 20 * MINUTE

    def record(i: int) -> telemetry_pb2.TelemetryRecord:
        co2 = -1 if i in (7, 1234) else 400 + i % 100
        return telemetry_pb2.TelemetryRecord(device_id=sensor, timestamp=t + i * 100, data={"co2": co2})

    async def stream() -> AsyncIterator[telemetry_pb2.StreamTelemetryRequest]:
        yield telemetry_pb2.StreamTelemetryRequest(record=record(0), records=[record(i) for i in range(1, 10)])
        yield telemetry_pb2.StreamTelemetryRequest(records=[record(i) for i in range(10, 1210)])  # > one batch
        yield telemetry_pb2.StreamTelemetryRequest(record=record(1210))
        yield telemetry_pb2.StreamTelemetryRequest(records=[record(i) for i in range(1211, 1300)])

    summary = await stack.telemetry().StreamTelemetry(stream(), metadata=as_user(token_minter))
    assert summary.accepted == 1298
    assert [(f.index, f.reason) for f in summary.failed] == [(7, "OUT_OF_RANGE"), (1234, "OUT_OF_RANGE")]
    request = telemetry_pb2.GetDeviceHistoryRequest(device_id=sensor, metrics=["co2"], aggregation="raw")
    request.start_date.FromMilliseconds(t)
    request.end_date.FromMilliseconds(t + 1300 * 100)
    history = as_json(await stack.telemetry().GetDeviceHistory(request, metadata=as_user(token_minter)))
    assert len(history["data"]) == 1298


async def test_history_has_the_specs_shape_for_every_aggregation(
    any_stack: TelemetryStack, token_minter: TokenMinter
) -> None:
    sensor = await register(any_stack, token_minter)
    start = (now_ms() // 3_600_000 - 3) * 3_600_000
    records = [reading(sensor, start + i * MINUTE, temperature=20 + i % 10) for i in range(120)]
    reply = await any_stack.telemetry().IngestTelemetry(http_batch(*records), metadata=as_user(token_minter))
    assert reply.accepted == 120
    days = len({(start + i * MINUTE) // 86_400_000 for i in range(120)})  # the range may cross midnight UTC
    for aggregation, rows in [("raw", 120), ("1m", 120), ("5m", 24), ("15m", 8), ("1h", 2), ("1d", days)]:
        request = telemetry_pb2.GetDeviceHistoryRequest(
            device_id=sensor, metrics=["temperature,humidity"], aggregation=aggregation
        )
        request.start_date.FromMilliseconds(start)
        request.end_date.FromMilliseconds(start + 120 * MINUTE)
        reply = await any_stack.telemetry().GetDeviceHistory(request, metadata=as_user(token_minter, role="viewer"))
        history = as_json(reply)
        assert set(history) == {"deviceId", "timeRange", "metrics", "aggregation", "data"}
        assert (history["deviceId"], history["metrics"]) == (sensor, ["temperature", "humidity"])
        assert history["aggregation"] == aggregation
        assert history["timeRange"] == {"start": iso(start), "end": iso(start + 120 * MINUTE)}
        assert len(history["data"]) == rows, aggregation
        first = history["data"][0]
        assert set(first) == {"timestamp", "temperature", "humidity"}
        if aggregation != "1d":
            assert first["timestamp"] == iso(start)
        if aggregation == "15m":
            assert first["temperature"] == pytest.approx(sum(20 + i % 10 for i in range(15)) / 15)
            assert history["data"][1]["timestamp"] == iso(start + 15 * MINUTE)


async def test_redelivered_batches_store_nothing_new_in_every_layout(
    any_stack: TelemetryStack, token_minter: TokenMinter
) -> None:
    sensor = await register(any_stack, token_minter)
    t = now_ms() - 10 * MINUTE
    batch = http_batch(*(reading(sensor, t + i * 1000) for i in range(5)), reading(sensor, t, co2=-1))
    for _ in range(3):
        reply = await any_stack.telemetry().IngestTelemetry(batch, metadata=as_user(token_minter))
        assert (reply.accepted, len(reply.failed)) == (5, 1)
    request = telemetry_pb2.GetDeviceHistoryRequest(device_id=sensor, metrics=["co2"], aggregation="raw")
    request.start_date.FromMilliseconds(t)
    request.end_date.FromMilliseconds(t + MINUTE)
    assert len((await any_stack.telemetry().GetDeviceHistory(request, metadata=as_user(token_minter))).data) == 5
    letters = await any_stack.telemetry().ListDeadLetters(
        telemetry_pb2.ListDeadLettersRequest(), metadata=as_user(token_minter, role="admin")
    )
    assert letters.pagination.total_items == 1


def iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


async def test_history_of_another_organizations_device_is_not_found(
    stack: TelemetryStack, sensor: str, token_minter: TokenMinter
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.telemetry().GetDeviceHistory(
            telemetry_pb2.GetDeviceHistoryRequest(device_id=sensor), metadata=as_user(token_minter, org="org-2")
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


async def test_dead_letters_are_listed_newest_first_for_their_organization(
    stack: TelemetryStack, sensor: str, token_minter: TokenMinter
) -> None:
    t = now_ms() - MINUTE
    late = "dev-registered-later"
    await stack.telemetry().IngestTelemetry(http_batch(reading(sensor, t, co2=-5)), metadata=as_user(token_minter))
    await asyncio.sleep(0.01)  # received a little later: listed first
    await stack.telemetry().IngestTelemetry(
        http_batch(reading(sensor, t + 1, co2=-6), reading(late, t)), metadata=as_service(token_minter, "importer")
    )
    admin = as_user(token_minter, role="admin")
    listing = as_json(
        await stack.telemetry().ListDeadLetters(telemetry_pb2.ListDeadLettersRequest(page_size=5), metadata=admin)
    )
    # The service's record for the organization's device is the organization's; the unknown device's is nobody's.
    assert [x["record"]["data"]["co2"] for x in listing["items"]] == [-6, -5]
    newest = listing["items"][0]
    assert set(newest) == {"deadLetterId", "record", "reason", "message", "source", "receivedAt", "deviceId"}
    assert (newest["reason"], newest["source"], newest["deviceId"]) == ("OUT_OF_RANGE", "http", sensor)
    assert listing["pagination"] == {
        "page": 1,
        "pageSize": 5,
        "totalItems": 2,
        "totalPages": 1,
        "hasNext": False,
        "hasPrevious": False,
    }
    everyone = await stack.telemetry().ListDeadLetters(
        telemetry_pb2.ListDeadLettersRequest(), metadata=as_service(token_minter)
    )
    assert sorted(x.reason for x in everyone.items) == ["OUT_OF_RANGE", "OUT_OF_RANGE", "UNKNOWN_DEVICE"]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.telemetry().ListDeadLetters(telemetry_pb2.ListDeadLettersRequest(), metadata=as_user(token_minter))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_replay_stores_what_now_passes_and_keeps_the_rest(tmp_path: Path, token_minter: TokenMinter) -> None:
    # Half a second of allowed clock skew: a reading a second ahead is refused now and valid a second later.
    settings = TelemetrySettings(store="memory", future_skew_seconds=0.5)
    async with telemetry_stack(token_minter, tmp_path, settings) as stack:
        sensor = await register(stack, token_minter)
        ahead = now_ms() + 1000
        batch = [reading(sensor, ahead + i) for i in range(3)] + [reading(sensor, ahead, co2=-1)]
        reply = await stack.telemetry().IngestTelemetry(http_batch(*batch), metadata=as_user(token_minter))
        assert [f.reason for f in reply.failed] == ["TIMESTAMP_IN_FUTURE"] * 4
        await asyncio.sleep(1.1)
        admin = as_user(token_minter, role="admin")
        first = telemetry_pb2.ReplayDeadLettersRequest(reason="TIMESTAMP_IN_FUTURE")
        outcome = await stack.telemetry().ReplayDeadLetters(first, metadata=admin)
        assert (outcome.replayed, outcome.accepted, outcome.still_failing) == (4, 3, 1)
        again = telemetry_pb2.ReplayDeadLettersRequest(reason="TIMESTAMP_IN_FUTURE")
        outcome = await stack.telemetry().ReplayDeadLetters(again, metadata=admin)
        assert (outcome.replayed, outcome.accepted, outcome.still_failing) == (0, 0, 0), "it failed anew, differently"
        left = await stack.telemetry().ListDeadLetters(telemetry_pb2.ListDeadLettersRequest(), metadata=admin)
        assert [(x.reason, x.record.struct_value["data"]["co2"]) for x in left.items] == [("OUT_OF_RANGE", -1)]
        history = telemetry_pb2.GetDeviceHistoryRequest(device_id=sensor, metrics=["co2"], aggregation="raw")
        history.start_date.FromMilliseconds(ahead - 1)
        history.end_date.FromMilliseconds(ahead + 10)
        rows = (await stack.telemetry().GetDeviceHistory(history, metadata=admin)).data
        assert len(rows) == 3


async def test_too_many_raw_points_are_refused_by_every_store(
    any_stack: TelemetryStack, token_minter: TokenMinter
) -> None:
    sensor = await register(any_stack, token_minter)
    start = (now_ms() - 4 * 3_600_000) // 60_000 * 60_000  # on a minute: 10,050 s fill 168 buckets
    records = [
        {"deviceId": sensor, "timestamp": start + i * 1000, "data": {"co2": 400 + i % 50}} for i in range(10_050)
    ]
    for first in range(0, len(records), 2_000):
        reply = await any_stack.telemetry().IngestTelemetry(
            http_batch(*records[first : first + 2_000]), metadata=as_user(token_minter)
        )
        assert not reply.failed
    request = telemetry_pb2.GetDeviceHistoryRequest(device_id=sensor, metrics=["co2"], aggregation="raw")
    request.start_date.FromMilliseconds(start)
    request.end_date.FromMilliseconds(start + 3 * 3_600_000)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await any_stack.telemetry().GetDeviceHistory(request, metadata=as_user(token_minter))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "10050 points per metric" in (refused.value.details() or "")
    request.aggregation = "1m"
    assert len((await any_stack.telemetry().GetDeviceHistory(request, metadata=as_user(token_minter))).data) == 168
