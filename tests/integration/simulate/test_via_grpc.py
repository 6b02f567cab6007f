"""--via grpc: StreamTelemetry client streams to a fake TelemetryService on a real port, behind the runtime's
auth interceptor (the bearer token travels in metadata)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from iot.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc

from iotmon.simulate import Via
from services.runtime.context import current_caller
from services.runtime.server import RunningServer, ServiceRegistration, start_grpc_server
from tests.integration.simulate.conftest import ORG, FakeGateway
from tests.support.tokens import TokenMinter


class RecordingTelemetry(telemetry_pb2_grpc.TelemetryServiceServicer):
    """Keeps every streamed record; refuses those of `refused` devices, as the service refuses unknown ones."""

    def __init__(self) -> None:
        self.records: list[tuple[str, int, dict[str, float]]] = []
        self.organizations: set[str] = set()
        self.streams = 0
        self.refused: set[str] = set()

    async def StreamTelemetry(
        self, request_iterator: AsyncIterator[telemetry_pb2.StreamTelemetryRequest], context: Any
    ) -> telemetry_pb2.StreamTelemetryResponse:
        self.organizations.add(current_caller().organization_id)
        accepted, failed = 0, []
        index = 0
        async for request in request_iterator:
            singles = [request.record] if request.HasField("record") else []
            for record in [*singles, *request.records]:
                if record.device_id in self.refused:
                    failed.append(telemetry_pb2.RecordFailure(index=index, reason="UNKNOWN_DEVICE", message="no"))
                else:
                    self.records.append((record.device_id, int(record.timestamp), dict(record.data)))
                    accepted += 1
                index += 1
        self.streams += 1
        return telemetry_pb2.StreamTelemetryResponse(accepted=accepted, failed=failed)


@pytest.fixture
async def telemetry(token_minter: TokenMinter) -> AsyncIterator[tuple[RecordingTelemetry, RunningServer]]:
    servicer = RecordingTelemetry()
    registration = ServiceRegistration(
        telemetry_pb2.DESCRIPTOR.services_by_name["TelemetryService"],
        telemetry_pb2_grpc.add_TelemetryServiceServicer_to_server,
        servicer,
    )
    server = await start_grpc_server([registration], host="127.0.0.1", port=0, verifier=token_minter.verifier())
    yield servicer, server
    await server.stop(0)


async def test_every_record_is_streamed_with_the_callers_token(
    gateway: FakeGateway, telemetry: tuple[RecordingTelemetry, RunningServer]
) -> None:
    servicer, server = telemetry
    options = gateway.options(Via.GRPC, devices=5, count=2_500, grpc_address=server.address)

    summary, _ = await gateway.run(options)

    assert summary.sent == len(servicer.records) >= 2_500
    assert summary.acknowledged == summary.sent
    assert summary.failed == 0
    assert servicer.organizations == {ORG}, "the token's organization reached the service"
    device_id, timestamp, data = servicer.records[0]
    assert device_id in gateway.recorder.devices
    assert timestamp > 1_600_000_000_000
    assert set(data) == {"temperature", "humidity", "co2", "battery"}
    assert len({(d, t) for d, t, _ in servicer.records}) == summary.readings


async def test_a_long_run_rotates_streams_so_acknowledgements_keep_coming(
    gateway: FakeGateway, telemetry: tuple[RecordingTelemetry, RunningServer]
) -> None:
    servicer, server = telemetry
    options = gateway.options(Via.GRPC, devices=3, rate=300, count=None, duration=2.5, grpc_address=server.address)

    summary, _ = await gateway.run(options)

    assert servicer.streams >= 2
    assert summary.acknowledged == summary.sent == len(servicer.records)


async def test_refused_records_and_refused_tokens_count_as_failed(
    gateway: FakeGateway, telemetry: tuple[RecordingTelemetry, RunningServer], token_minter: TokenMinter
) -> None:
    servicer, server = telemetry
    await gateway.run(gateway.options(Via.HTTP, devices=3, count=1))
    servicer.refused.add(next(iter(gateway.recorder.devices)))

    summary, _ = await gateway.run(gateway.options(Via.GRPC, devices=3, count=300, grpc_address=server.address))

    refused = summary.sent - len(servicer.records)
    assert refused > 0
    assert summary.reasons == {"UNKNOWN_DEVICE": refused}

    # The gateway accepts any token it was given; the service verifies it and refuses an expired one.
    expired = token_minter.mint(org=ORG, role="operator", ttl=-60)
    gateway.recorder.token = expired
    summary, _ = await gateway.run(gateway.options(Via.GRPC, devices=3, count=300, grpc_address=server.address))
    assert summary.acknowledged == 0
    assert summary.failed == summary.sent
    assert set(summary.reasons) == {"UNAUTHENTICATED"}, summary.reasons
