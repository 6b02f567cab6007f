"""Device types served by the real telemetry service (ListDeviceTypes, GetDeviceType) and read by the
alerting service's gRPC adapter, as the alerting service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import grpc.aio
import pytest
from google.protobuf import json_format
from iot.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc

from services.alerting.adapters.device_types_client import GrpcDeviceTypes
from services.kernel.errors import Unavailable
from services.runtime.clients import open_channel
from services.runtime.server import RunningServer
from services.runtime.service_tokens import ServiceTokens
from services.runtime.settings import RuntimeSettings
from tests.integration.alerting.support import telemetry_server
from tests.integration.device.support import as_user
from tests.integration.runtime.test_grpc_server import details_of
from tests.support.servers import free_port
from tests.support.tokens import TokenMinter


@pytest.fixture
async def telemetry(tmp_path: Path, token_minter: TokenMinter) -> AsyncIterator[RunningServer]:
    async with telemetry_server(token_minter, tmp_path) as running:
        yield running


def service_channel(token_minter: TokenMinter, address: str) -> grpc.aio.Channel:
    settings = RuntimeSettings(service_token_file=token_minter.service_token_file("alerting"))
    return open_channel(address, service_tokens=ServiceTokens(settings, "alerting"))


async def test_device_types_list_their_metrics_with_units_ranges_and_derived_ones(
    telemetry: RunningServer, token_minter: TokenMinter
) -> None:
    async with grpc.aio.insecure_channel(telemetry.address) as channel:
        stub = telemetry_pb2_grpc.TelemetryServiceStub(channel)
        viewer = as_user(token_minter, role="viewer")
        listed = await stub.ListDeviceTypes(telemetry_pb2.ListDeviceTypesRequest(), metadata=viewer)
        assert [t.name for t in listed.items] == ["temperature-sensor-v2"]
        reply = await stub.GetDeviceType(
            telemetry_pb2.GetDeviceTypeRequest(name="temperature-sensor-v2"), metadata=viewer
        )
        body = json_format.MessageToDict(reply.device_type, always_print_fields_with_no_presence=True)
        assert body["name"] == "temperature-sensor-v2"
        assert body["metrics"][0] == {
            "name": "temperature",
            "type": "number",
            "unit": "C",
            "min": -40,
            "max": 85,
            "derived": False,
        }
        assert [m["name"] for m in body["metrics"]] == ["temperature", "humidity", "co2", "battery", "dewPoint"]
        assert body["metrics"][-1] == {"name": "dewPoint", "type": "number", "unit": "C", "derived": True}
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.GetDeviceType(telemetry_pb2.GetDeviceTypeRequest(name="toaster-v1"), metadata=viewer)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        assert details_of(missing.value)[:2] == ("DEVICE_TYPE_NOT_FOUND", {"deviceType": "toaster-v1"})


async def test_the_alerting_adapter_reads_metric_names_and_knows_unknown_types(
    telemetry: RunningServer, token_minter: TokenMinter
) -> None:
    channel = service_channel(token_minter, telemetry.address)
    try:
        types = GrpcDeviceTypes(channel)
        assert await types.metrics_of("temperature-sensor-v2") == {
            "temperature",
            "humidity",
            "co2",
            "battery",
            "dewPoint",
        }
        assert await types.metrics_of("toaster-v1") is None
    finally:
        await channel.close()


async def test_an_unreachable_telemetry_service_is_unavailable(token_minter: TokenMinter) -> None:
    channel = service_channel(token_minter, f"127.0.0.1:{free_port()}")
    try:
        with pytest.raises(Unavailable) as caught:
            await GrpcDeviceTypes(channel, timeout_seconds=1).metrics_of("temperature-sensor-v2")
        assert caught.value.details["service"] == "telemetry"
    finally:
        await channel.close()
