"""Partners talk gRPC: reflection on every service, a token in metadata, reasons in status details."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from iot.device.v1 import device_pb2, device_pb2_grpc

from tests.e2e.spec_payloads import REGISTER_DEVICE
from tests.support.mesh import RunningMesh

SERVICES = {
    "device": "iot.device.v1.DeviceService",
    "telemetry": "iot.telemetry.v1.TelemetryService",
    "alerting": "iot.alerting.v1.AlertingService",
    "notification": "iot.notification.v1.NotificationService",
    "firmware": "iot.firmware.v1.FirmwareService",
    "analytics": "iot.analytics.v1.AnalyticsService",
    "identity": "iot.identity.v1.IdentityService",
}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_reflection_lists_each_service(mesh: RunningMesh, name: str) -> None:
    with grpc.insecure_channel(mesh.addresses[name]) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        listed = {s.name for reply in replies for s in reply.list_services_response.service}
    assert SERVICES[name] in listed
    assert "grpc.health.v1.Health" in listed


def test_register_and_get_over_grpc_with_a_token(mesh: RunningMesh) -> None:
    metadata = [("authorization", f"Bearer {mesh.token(role='operator', user='partner-1')}")]
    with grpc.insecure_channel(mesh.addresses["device"]) as channel:
        stub = device_pb2_grpc.DeviceServiceStub(channel)
        request = device_pb2.RegisterDeviceRequest(
            device_type=REGISTER_DEVICE["deviceType"],
            name="Partner-Sensor-1",
            metadata={"serialNumber": "SN-GRPC-1"},
        )
        created = stub.RegisterDevice(request, metadata=metadata)
        fetched = stub.GetDevice(device_pb2.GetDeviceRequest(device_id=created.device_id), metadata=metadata)
        assert fetched.device.name == "Partner-Sensor-1"
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetDevice(device_pb2.GetDeviceRequest(device_id="dev-missing"), metadata=metadata)
        with pytest.raises(grpc.RpcError) as unauthenticated:
            stub.GetDevice(device_pb2.GetDeviceRequest(device_id=created.device_id))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    status = status_pb2.Status.FromString(dict(caught.value.trailing_metadata())["grpc-status-details-bin"])
    info = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(info)
    assert info.reason == "DEVICE_NOT_FOUND"
    assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED
