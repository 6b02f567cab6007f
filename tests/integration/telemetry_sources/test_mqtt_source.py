"""MqttSource against the real Mosquitto at 127.0.0.1:1883, with QoS 1 publishers.

Every test uses its own topic prefix and client ids: the broker is shared with whatever else runs here.
Sessions expire a minute after a test, so the broker does not keep them.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence

import orjson
import paho.mqtt.client as mqtt
import pytest

from services.telemetry.adapters.mqtt_source import MqttSource
from services.telemetry.adapters.source_mqtt_config import MqttOptions
from services.telemetry.domain.model import Source
from tests.integration.telemetry_sources.fakes import RecordingIngest
from tests.support.servers import require_server

pytestmark = pytest.mark.needs_server

URL = "mqtt://127.0.0.1:1883"


@pytest.fixture(autouse=True)
def mosquitto() -> None:
    require_server("Mosquitto", "127.0.0.1", 1883)


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:10]}/devices"


def options(prefix: str, client_id: str | None = None, **overrides: object) -> MqttOptions:
    settings: dict[str, object] = {
        "client_id": client_id or f"test-{uuid.uuid4().hex[:10]}",
        "group": None,
        "topic_prefix": prefix,
        "batch_size": 20,
        "linger_seconds": 0.05,
        "session_expiry_seconds": 60,
    } | overrides
    return MqttOptions(**settings)  # type: ignore[arg-type]


def record(device: str, n: int) -> bytes:
    return orjson.dumps({"deviceId": device, "timestamp": 1_700_000_000_000 + n, "data": {"temperature": 20 + n % 5}})


def publish(prefix: str, count: int, start: int = 0, devices: int = 5) -> list[bytes]:
    """QoS 1 publishes, each confirmed by the broker (PUBACK) before this returns; the payloads sent."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    try:
        sent, infos = [], []
        for n in range(start, start + count):
            device = f"dev-{n % devices}"
            payload = record(device, n)
            infos.append(client.publish(f"{prefix}/{device}/telemetry", payload, qos=1))
            sent.append(payload)
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
        return sent
    finally:
        client.disconnect()
        client.loop_stop()


@contextlib.asynccontextmanager
async def running(source: MqttSource, ingest: RecordingIngest) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(source.run(ingest))
    try:
        async with asyncio.timeout(10):
            await source.subscribed.wait()
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def start_and_stop(source: MqttSource) -> None:
    """Create the persistent session (and its subscription) on the broker, then go away."""
    async with running(source, RecordingIngest()):
        pass


def count_of(batches: Sequence[Sequence[object]]) -> int:
    return sum(len(batch) for batch in batches)


async def test_every_published_record_is_ingested_once_in_batches(prefix: str) -> None:
    ingest = RecordingIngest()
    source = MqttSource(URL, options(prefix))
    async with running(source, ingest):
        sent = await asyncio.to_thread(publish, prefix, 500)
        await ingest.wait_until(lambda: count_of(ingest.taken) >= 500)
        await asyncio.sleep(0.3)  # anything extra (a redelivery) would arrive now

    assert sorted(ingest.payloads()) == sorted(sent)
    assert all(len(batch) <= 20 for batch in ingest.taken)
    assert max(len(batch) for batch in ingest.taken) == 20
    first = ingest.taken[0][0]
    assert first.source is Source.MQTT
    assert first.topic_device_id == orjson.loads(first.payload)["deviceId"]  # type: ignore[arg-type]


async def test_records_published_while_the_source_was_down_arrive_when_it_returns(prefix: str) -> None:
    client_id = f"test-{uuid.uuid4().hex[:10]}"
    await start_and_stop(MqttSource(URL, options(prefix, client_id)))
    sent = await asyncio.to_thread(publish, prefix, 200)

    ingest = RecordingIngest()
    async with running(MqttSource(URL, options(prefix, client_id)), ingest):
        await ingest.wait_until(lambda: ingest.distinct_taken() == set(sent))


async def test_a_source_killed_mid_stream_loses_nothing_and_gets_back_only_what_it_had_not_acknowledged(
    prefix: str,
) -> None:
    client_id = f"test-{uuid.uuid4().hex[:10]}"
    first = RecordingIngest(stall_when=lambda call: call == 3)  # unacknowledged until the source is killed
    source = MqttSource(URL, options(prefix, client_id, batch_size=20))
    async with running(source, first):
        sent = await asyncio.to_thread(publish, prefix, 100)
        await first.wait_until(lambda: len(first.offered) == 3)
    acknowledged = first.distinct_taken()
    in_flight = set(first.payloads(first.offered)) - acknowledged
    assert acknowledged
    assert in_flight
    sent += await asyncio.to_thread(publish, prefix, 100, start=100)  # while no one listens

    second = RecordingIngest()
    async with running(MqttSource(URL, options(prefix, client_id, batch_size=20)), second):
        await second.wait_until(lambda: (acknowledged | second.distinct_taken()) == set(sent))
        await asyncio.sleep(0.3)

    assert in_flight <= second.distinct_taken()
    assert not acknowledged & second.distinct_taken()


async def test_a_failing_ingest_acknowledges_nothing_and_the_records_come_again(prefix: str) -> None:
    client_id = f"test-{uuid.uuid4().hex[:10]}"
    failing = RecordingIngest(fail_when=lambda call: True)
    async with running(MqttSource(URL, options(prefix, client_id)), failing):
        sent = await asyncio.to_thread(publish, prefix, 60)
        await failing.wait_until(lambda: len(failing.offered) >= 2)
    assert failing.offered[0] == failing.offered[1]  # the same batch was offered again
    assert not failing.taken

    second = RecordingIngest()
    async with running(MqttSource(URL, options(prefix, client_id)), second):
        await second.wait_until(lambda: second.distinct_taken() == set(sent))


async def test_a_batch_is_retried_until_ingest_takes_it(prefix: str) -> None:
    ingest = RecordingIngest(fail_when=lambda call: call <= 2)
    async with running(MqttSource(URL, options(prefix)), ingest):
        sent = await asyncio.to_thread(publish, prefix, 50)
        await ingest.wait_until(lambda: ingest.distinct_taken() == set(sent))
    assert ingest.offered[0] == ingest.offered[1] == ingest.offered[2] == ingest.taken[0]


async def test_sources_sharing_a_group_split_the_messages(prefix: str) -> None:
    group = f"g{uuid.uuid4().hex[:8]}"
    left, right = RecordingIngest(), RecordingIngest()
    async with (
        running(MqttSource(URL, options(prefix, group=group)), left),
        running(MqttSource(URL, options(prefix, group=group)), right),
    ):
        sent = await asyncio.to_thread(publish, prefix, 400)
        await left.wait_until(lambda: left.distinct_taken() | right.distinct_taken() == set(sent))
        await asyncio.sleep(0.3)

    assert left.taken
    assert right.taken
    assert not left.distinct_taken() & right.distinct_taken()
    assert count_of(left.taken) + count_of(right.taken) == 400
