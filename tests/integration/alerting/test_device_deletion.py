"""Device deletion asks the real alerting service whether alerts are active: two real gRPC servers (device,
alerting), the device service asking as itself (CountActiveAlerts is internal)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import grpc.aio
import pytest
from google.protobuf import json_format
from iot.alerting.v1 import alerting_pb2, alerting_pb2_grpc
from iot.device.v1 import device_pb2, device_pb2_grpc

from services.alerting.adapters.sqlite import SqliteAlertingStore
from services.device.bootstrap import DeviceSettings
from tests.e2e.spec_payloads import REGISTER_DEVICE
from tests.integration.alerting.support import AlertingStack, alerting_stack
from tests.integration.device.support import as_user, device_stack
from tests.integration.runtime.test_grpc_server import details_of
from tests.support.tokens import TokenMinter
from tests.unit.alerting.builders import an_alert


@pytest.fixture
async def alerting(tmp_path: Path, token_minter: TokenMinter) -> AsyncIterator[AlertingStack]:
    async with alerting_stack(token_minter, tmp_path / "alerting") as running:
        yield running


async def test_a_device_with_an_active_alert_is_not_deleted_until_it_is_resolved(
    tmp_path: Path, token_minter: TokenMinter, alerting: AlertingStack
) -> None:
    settings = DeviceSettings(store="sqlite", registry="embedded")
    admin = as_user(token_minter, role="admin", user="user-admin")
    async with (
        device_stack(token_minter, tmp_path / "device", alerting.address, settings) as devices,
        grpc.aio.insecure_channel(devices.address) as device_channel,
        grpc.aio.insecure_channel(alerting.address) as alerting_channel,
    ):
        device_stub = device_pb2_grpc.DeviceServiceStub(device_channel)
        alerting_stub = alerting_pb2_grpc.AlertingServiceStub(alerting_channel)
        request = json_format.ParseDict(REGISTER_DEVICE, device_pb2.RegisterDeviceRequest())
        device_id = (await device_stub.RegisterDevice(request, metadata=admin)).device_id
        store = SqliteAlertingStore(alerting.store_path)
        try:
            assert await store.add_alert_unless_open_or_cooling(an_alert(device_id=device_id), 0)
        finally:
            await store.close()

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await device_stub.DeleteDevice(device_pb2.DeleteDeviceRequest(device_id=device_id), metadata=admin)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        reason, details, _ = details_of(refused.value)
        assert (reason, details) == ("DEVICE_HAS_ACTIVE_ALERTS", {"deviceId": device_id, "activeAlerts": "1"})

        await alerting_stub.AcknowledgeAlert(alerting_pb2.AcknowledgeAlertRequest(alert_id="alert-123"), metadata=admin)
        resolve = alerting_pb2.ResolveAlertRequest(alert_id="alert-123", resolution="replaced the sensor")
        await alerting_stub.ResolveAlert(resolve, metadata=admin)
        deleted = await device_stub.DeleteDevice(device_pb2.DeleteDeviceRequest(device_id=device_id), metadata=admin)
        assert deleted.status == "deleted"
