"""--via kinesis: put_records into a stream of the moto server, read back from every shard."""

from __future__ import annotations

import uuid
from typing import Any

import aioboto3
import orjson
import pytest

from iotmon.simulate import Via
from iotmon.simulate.transports import TransportError
from tests.integration.simulate.conftest import FakeGateway


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The simulator finds moto the way a user points it at LocalStack: AWS_ENDPOINT_URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


async def create_stream(endpoint: str, shards: int = 2) -> str:
    name = f"simtest-{uuid.uuid4().hex[:8]}"
    async with aioboto3.Session().client("kinesis", endpoint_url=endpoint) as kinesis:
        await kinesis.create_stream(StreamName=name, ShardCount=shards)
        await kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    return name


async def read_all(endpoint: str, stream: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(shard id, partition key, record) of everything in the stream, from the start of each shard."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    async with aioboto3.Session().client("kinesis", endpoint_url=endpoint) as kinesis:
        shards = (await kinesis.list_shards(StreamName=stream))["Shards"]
        for shard in shards:
            iterator = (
                await kinesis.get_shard_iterator(
                    StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )
            )["ShardIterator"]
            while iterator:
                page = await kinesis.get_records(ShardIterator=iterator, Limit=1000)
                found += [(shard["ShardId"], r["PartitionKey"], orjson.loads(r["Data"])) for r in page["Records"]]
                if not page["Records"]:
                    break
                iterator = page.get("NextShardIterator")
    return found


async def test_records_land_in_the_stream_keyed_by_device(gateway: FakeGateway, aws: str) -> None:
    stream = await create_stream(aws)
    options = gateway.options(Via.KINESIS, devices=20, count=1_200, kinesis_stream=stream)

    summary, _ = await gateway.run(options)
    stored = await read_all(aws, stream)

    assert summary.acknowledged == summary.sent == len(stored) >= 1_200
    assert summary.failed == 0
    assert all(key == record["deviceId"] for _, key, record in stored)
    assert {record["deviceId"] for _, _, record in stored} == set(gateway.recorder.devices)
    assert len({shard for shard, _, _ in stored}) == 2, "twenty partition keys spread over both shards"
    shard_of: dict[str, str] = {}
    for shard, key, _ in stored:
        assert shard_of.setdefault(key, shard) == shard, "one device's records stay on one shard, in order"
    assert len({(r["deviceId"], r["timestamp"]) for _, _, r in stored}) == summary.readings


async def test_a_missing_stream_stops_the_run_with_one_error(gateway: FakeGateway, aws: str) -> None:
    options = gateway.options(Via.KINESIS, kinesis_stream="no-such-stream")
    with pytest.raises(TransportError, match="no-such-stream"):
        await gateway.run(options)
