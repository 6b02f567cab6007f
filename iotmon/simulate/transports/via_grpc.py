"""gRPC: records written to TelemetryService/StreamTelemetry client streams with the bearer token in metadata.

The service answers once a stream ends, so a stream is closed (and a new one opened) every second or every
STREAM_RECORDS records: acknowledgements then arrive at least once a second for the progress line.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
from iot.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc

from iotmon.simulate.generator import TelemetryRecord
from iotmon.simulate.stats import Counters

STREAM_RECORDS = 10_000
STREAM_SECONDS = 1.0
MAX_SLICE = 1_000


@dataclass
class _Stream:
    call: Any  # grpc.aio.StreamUnaryCall
    opened_at: float
    written: int = 0
    answer: asyncio.Task[None] | None = None
    failure: str | None = None  # the status code the call ended with, when it failed


class GrpcTransport:
    max_batch = MAX_SLICE
    linger = 0.0  # a slice is written as it comes, as one stream message

    def __init__(self, channel: grpc.aio.Channel, token: str, counters: Counters):
        self._stub = telemetry_pb2_grpc.TelemetryServiceStub(channel)
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._counters = counters
        self._loop = asyncio.get_running_loop()
        self._stream: _Stream | None = None
        self._answers: set[asyncio.Task[None]] = set()

    async def send(self, records: list[TelemetryRecord]) -> None:
        # One message for the slice: the service pays per message about what it pays to ingest a record.
        record_of = telemetry_pb2.TelemetryRecord
        request = telemetry_pb2.StreamTelemetryRequest(
            records=[record_of(device_id=r["deviceId"], timestamp=r["timestamp"], data=r["data"]) for r in records]
        )
        stream = self._stream or self._open()
        try:
            await stream.call.write(request)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            # The call ended early (a refused token, the service going away). Its answer counts what it
            # took; this slice fails with the status the call ended with.
            self._stream = None
            assert stream.answer is not None
            await asyncio.wait([stream.answer])
            self._counters.fail(len(records), stream.failure or "STREAM_CLOSED")
            return
        stream.written += len(records)
        if stream.written >= STREAM_RECORDS or self._loop.time() - stream.opened_at >= STREAM_SECONDS:
            await self._close_stream()

    async def drain(self) -> None:
        await self._close_stream()
        if self._answers:
            await asyncio.wait(list(self._answers))

    async def abandon(self) -> None:
        """Streams still unanswered are cancelled; their records count as failed."""
        late = list(self._answers)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)

    def _open(self) -> _Stream:
        stream = _Stream(self._stub.StreamTelemetry(metadata=self._metadata), self._loop.time())
        self._stream = stream
        task = stream.answer = asyncio.create_task(self._answer(stream))
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)
        return stream

    async def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
                await stream.call.done_writing()

    async def _answer(self, stream: _Stream) -> None:
        try:
            answer = await stream.call
        except grpc.aio.AioRpcError as error:
            stream.failure = error.code().name
            self._counters.fail(stream.written, stream.failure)
            return
        except asyncio.CancelledError:
            self._counters.fail(stream.written, "NOT_ANSWERED")
            raise
        self._counters.acknowledged += answer.accepted
        for failure in answer.failed:
            self._counters.fail(1, failure.reason or "UNKNOWN")


@contextlib.asynccontextmanager
async def open_grpc(address: str, token: str, counters: Counters) -> AsyncIterator[GrpcTransport]:
    async with grpc.aio.insecure_channel(address) as channel:
        transport = GrpcTransport(channel, token, counters)
        try:
            yield transport
        finally:
            await transport.abandon()
