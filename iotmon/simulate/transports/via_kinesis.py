"""Kinesis: records put with put_records (up to 500 per call, partition key = deviceId), as IoT Core's rule would.

Credentials, region and endpoint come from the usual AWS variables (AWS_ENDPOINT_URL points at moto or
LocalStack). Records the stream throttles (ProvisionedThroughputExceeded) are retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aioboto3
import orjson
from botocore.exceptions import BotoCoreError, ClientError

from iotmon.simulate.generator import TelemetryRecord
from iotmon.simulate.stats import Counters
from iotmon.simulate.transports.base import InFlight, TransportError

if TYPE_CHECKING:
    from types_aiobotocore_kinesis.client import KinesisClient
    from types_aiobotocore_kinesis.type_defs import PutRecordsRequestEntryTypeDef

MAX_RECORDS_PER_CALL = 500  # the Kinesis limit
ATTEMPTS = 4
BACKOFF_SECONDS = 0.1


class KinesisTransport:
    max_batch = MAX_RECORDS_PER_CALL
    linger = 0.1  # seconds to fill a put_records call

    def __init__(self, client: KinesisClient, stream: str, concurrency: int, counters: Counters):
        self._client = client
        self._stream = stream
        self._counters = counters
        self._in_flight = InFlight(concurrency, counters)

    async def check_stream(self) -> None:
        try:
            summary = await self._client.describe_stream_summary(StreamName=self._stream)
        except (ClientError, BotoCoreError) as error:
            raise TransportError(f"Kinesis stream {self._stream!r}: {error}") from None
        status = summary["StreamDescriptionSummary"]["StreamStatus"]
        if status not in ("ACTIVE", "UPDATING"):
            raise TransportError(f"Kinesis stream {self._stream!r} is {status}")

    async def send(self, records: list[TelemetryRecord]) -> None:
        for start in range(0, len(records), MAX_RECORDS_PER_CALL):
            batch = records[start : start + MAX_RECORDS_PER_CALL]
            entries: list[PutRecordsRequestEntryTypeDef] = [
                {"Data": orjson.dumps(record), "PartitionKey": record["deviceId"]} for record in batch
            ]
            await self._in_flight.start(self._put(entries), len(entries))

    async def drain(self) -> None:
        await self._in_flight.wait()

    async def abandon(self) -> None:
        await self._in_flight.abandon()

    async def _put(self, entries: list[PutRecordsRequestEntryTypeDef]) -> None:
        reason = "UNKNOWN"
        for attempt in range(ATTEMPTS):
            if attempt:
                await asyncio.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
            try:
                answer = await self._client.put_records(StreamName=self._stream, Records=entries)
            except (ClientError, BotoCoreError) as error:
                reason = _error_code(error)
                continue
            results = zip(entries, answer["Records"], strict=True)
            refused = [(entry, result) for entry, result in results if "ErrorCode" in result]
            self._counters.acknowledged += len(entries) - len(refused)
            if not refused:
                return
            entries = [entry for entry, _ in refused]
            reason = refused[0][1].get("ErrorCode", reason)
        self._counters.fail(len(entries), reason)


def _error_code(error: ClientError | BotoCoreError) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    return type(error).__name__


@contextlib.asynccontextmanager
async def open_kinesis(stream: str, concurrency: int, counters: Counters) -> AsyncIterator[KinesisTransport]:
    endpoint = os.environ.get("AWS_ENDPOINT_URL_KINESIS") or os.environ.get("AWS_ENDPOINT_URL")
    async with aioboto3.Session().client("kinesis", endpoint_url=endpoint) as client:
        transport = KinesisTransport(client, stream, concurrency, counters)
        await transport.check_stream()
        try:
            yield transport
        finally:
            await transport.abandon()
