"""The device service over a real gRPC port, built by its bootstrap (SQLite + embedded CA), with real tokens.

Responses are rendered to JSON the way the gateway does, and compared with the spec's payload shapes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from google.protobuf import json_format
from google.protobuf.message import Message
from iot.device.v1 import device_pb2, device_pb2_grpc, events_pb2

from services.device.bootstrap import DeviceSettings
from services.runtime.server import RunningServer
from tests.e2e.spec_payloads import REGISTER_DEVICE
from tests.integration.device.support import (
    DeviceStack,
    alerting_registration,
    as_service,
    as_user,
    device_stack,
    serve,
)
from tests.integration.runtime.test_grpc_server import details_of
from tests.support.tokens import TokenMinter


def as_json(message: Message) -> dict[str, Any]:
    """What the gateway prints: fields without presence even when empty, optional ones only when set."""
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def register_request(**overrides: Any) -> device_pb2.RegisterDeviceRequest:
    return json_format.ParseDict({**REGISTER_DEVICE, **overrides}, device_pb2.RegisterDeviceRequest())


@pytest.fixture
async def alerting(token_minter: TokenMinter) -> AsyncIterator[RunningServer]:
    running = await serve(token_minter, [alerting_registration()])
    yield running
    await running.stop(0)


@pytest.fixture
async def stack(tmp_path: Path, token_minter: TokenMinter, alerting: RunningServer) -> AsyncIterator[DeviceStack]:
    settings = DeviceSettings(store="sqlite", registry="embedded")
    async with device_stack(token_minter, tmp_path / "data", alerting.address, settings) as running:
        yield running


@pytest.fixture
async def stub(stack: DeviceStack) -> AsyncIterator[device_pb2_grpc.DeviceServiceAsyncStub]:
    async with grpc.aio.insecure_channel(stack.address) as channel:
        yield device_pb2_grpc.DeviceServiceStub(channel)


async def expect_error(call: Any, code: grpc.StatusCode) -> tuple[str, dict[str, str], list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code
    return details_of(caught.value)


async def test_register_answers_the_spec_shape_with_working_credentials(
    stub: device_pb2_grpc.DeviceServiceAsyncStub, token_minter: TokenMinter
) -> None:
    reply = await stub.RegisterDevice(register_request(), metadata=as_user(token_minter))
    body = as_json(reply)
    assert set(body) == {"deviceId", "name", "status", "provisioningCredentials", "createdAt"}
    assert body["deviceId"].startswith("dev-")
    assert (body["name"], body["status"]) == ("Office-Temp-Sensor-1", "registered")
    credentials = body["provisioningCredentials"]
    assert set(credentials) == {"certificateArn", "certificatePem", "privateKey", "endpoint", "caCertificatePem"}
    assert credentials["certificateArn"].startswith("arn:iotmon:iot:local:000000000000:cert/")
    assert credentials["privateKey"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert credentials["endpoint"] == "127.0.0.1:8883"
    certificate = x509.load_pem_x509_certificate(credentials["certificatePem"].encode())
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == body["deviceId"]
    assert body["createdAt"].endswith("Z")


async def test_get_renders_the_device_with_type_and_without_absent_fields(
    stub: device_pb2_grpc.DeviceServiceAsyncStub, token_minter: TokenMinter
) -> None:
    registered = await stub.RegisterDevice(register_request(), metadata=as_user(token_minter, user="user-op"))
    reply = await stub.GetDevice(
        device_pb2.GetDeviceRequest(device_id=registered.device_id), metadata=as_user(token_minter, role="viewer")
    )
    device = as_json(reply.device)
    assert device == {
        "deviceId": registered.device_id,
        "name": "Office-Temp-Sensor-1",
        "type": "temperature-sensor-v2",
        "status": "registered",
        "location": {"lat": 37.7749, "lon": -122.4194, "address": "Office 301, Building A"},
        "connectivity": {"type": "cellular", "simId": "sim-123456"},
        "tags": ["office", "building-a"],
        "metadata": {"manufacturer": "SensorCorp", "model": "TSv2-001", "serialNumber": "SN123456789"},
        "organizationId": "org-1",
        "createdAt": device["createdAt"],
        "updatedAt": device["createdAt"],
        "createdBy": "user-op",
    }


async def test_the_device_lifecycle_end_to_end(
    stub: device_pb2_grpc.DeviceServiceAsyncStub, stack: DeviceStack, token_minter: TokenMinter
) -> None:
    operator, admin = as_user(token_minter, user="user-op"), as_user(token_minter, role="admin", user="user-admin")
    first = await stub.RegisterDevice(register_request(), metadata=operator)
    await stub.RegisterDevice(
        register_request(name="Warehouse-Sensor", deviceType="humidity-sensor", metadata={}, tags=["warehouse"]),
        metadata=operator,
    )

    listed = await stub.ListDevices(
        device_pb2.ListDevicesRequest(status="registered", tags=["office,building-a"]), metadata=operator
    )
    body = as_json(listed)
    assert [d["deviceId"] for d in body["items"]] == [first.device_id]
    assert body["pagination"] == {
        "page": 1,
        "pageSize": 25,
        "totalItems": 1,
        "totalPages": 1,
        "hasNext": False,
        "hasPrevious": False,
    }
    assert body["filters"] == {"status": "registered", "tags": ["office", "building-a"]}

    update = json_format.ParseDict(
        {"deviceId": first.device_id, "name": "Renamed-Sensor", "status": "maintenance", "tags": ["lab"]},
        device_pb2.UpdateDeviceRequest(),
    )
    updated = as_json((await stub.UpdateDevice(update, metadata=operator)).device)
    assert (updated["name"], updated["status"], updated["tags"]) == ("Renamed-Sensor", "maintenance", ["lab"])
    assert updated["metadata"]["serialNumber"] == "SN123456789"

    changes = as_json(
        await stub.ListDeviceChanges(device_pb2.ListDeviceChangesRequest(device_id=first.device_id), metadata=admin)
    )
    assert changes["pagination"]["totalItems"] == 1
    entry = changes["items"][0]
    assert entry["changedBy"] == "user-op"
    assert entry["changes"] == [
        {"field": "name", "oldValue": "Office-Temp-Sensor-1", "newValue": "Renamed-Sensor"},
        {"field": "tags", "oldValue": ["office", "building-a"], "newValue": ["lab"]},
        {"field": "status", "oldValue": "registered", "newValue": "maintenance"},
    ]

    delete = device_pb2.DeleteDeviceRequest(device_id=first.device_id)
    deleted = as_json(await stub.DeleteDevice(delete, metadata=admin))
    assert set(deleted) == {"deviceId", "status", "deletedAt"}
    assert deleted["status"] == "deleted"
    reason, details, _ = await expect_error(
        stub.GetDevice(device_pb2.GetDeviceRequest(device_id=first.device_id), metadata=admin),
        grpc.StatusCode.NOT_FOUND,
    )
    assert (reason, details) == ("DEVICE_NOT_FOUND", {"deviceId": first.device_id})
    await expect_error(stub.DeleteDevice(delete, metadata=admin), grpc.StatusCode.NOT_FOUND)

    assert stack.routing_keys() == [
        "device.registered",
        "device.registered",
        "device.updated",
        "device.status_changed",
        "device.deleted",
    ]
    registered_event = events_pb2.DeviceRegistered.FromString(stack.events[0][1])
    assert registered_event.device.device_id == first.device_id
    assert registered_event.meta.organization_id == "org-1"
    assert registered_event.meta.actor_user_id == "user-op"
    assert registered_event.meta.event_id.startswith("evt-")
    updated_event = events_pb2.DeviceUpdated.FromString(stack.events[2][1])
    assert [c.field for c in updated_event.change.changes] == ["name", "tags", "status"]


async def test_a_duplicate_serial_number_is_409_naming_the_existing_device(
    stub: device_pb2_grpc.DeviceServiceAsyncStub, token_minter: TokenMinter
) -> None:
    first = await stub.RegisterDevice(register_request(), metadata=as_user(token_minter))
    reason, details, _ = await expect_error(
        stub.RegisterDevice(register_request(name="Copy-Sensor"), metadata=as_user(token_minter)),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    assert reason == "DEVICE_ALREADY_EXISTS"
    assert details == {"serialNumber": "SN123456789", "deviceId": first.device_id}


async def test_viewers_cannot_register(stub: device_pb2_grpc.DeviceServiceAsyncStub, token_minter: TokenMinter) -> None:
    reason, _, _ = await expect_error(
        stub.RegisterDevice(register_request(), metadata=as_user(token_minter, role="viewer")),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert reason == "FORBIDDEN"


async def test_another_organizations_device_is_404(
    stub: device_pb2_grpc.DeviceServiceAsyncStub, token_minter: TokenMinter
) -> None:
    theirs = await stub.RegisterDevice(register_request(), metadata=as_user(token_minter, org="org-2"))
    mine = as_user(token_minter, role="admin", org="org-1")
    for call in (
        stub.GetDevice(device_pb2.GetDeviceRequest(device_id=theirs.device_id), metadata=mine),
        stub.DeleteDevice(device_pb2.DeleteDeviceRequest(device_id=theirs.device_id), metadata=mine),
        stub.UpdateDevice(device_pb2.UpdateDeviceRequest(device_id=theirs.device_id, name="Mine-Now"), metadata=mine),
    ):
        reason, details, _ = await expect_error(call, grpc.StatusCode.NOT_FOUND)
        assert (reason, details) == ("DEVICE_NOT_FOUND", {"deviceId": theirs.device_id})
    reason, _, _ = await expect_error(
        stub.ListDevices(device_pb2.ListDevicesRequest(organization_id="org-2"), metadata=mine),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert reason == "FORBIDDEN"


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"location": {"lat": 91, "lon": 0}}, "location.lat"),
        ({"connectivity": {"type": "pigeon"}}, "connectivity.type"),
        ({"metadata": {"serialNumber": " "}}, "metadata.serialNumber"),
        ({"name": "ab"}, "name"),
    ],
)
async def test_invalid_registrations_name_the_field(
    stub: device_pb2_grpc.DeviceServiceAsyncStub, token_minter: TokenMinter, request_body: dict[str, Any], field: str
) -> None:
    reason, _, fields = await expect_error(
        stub.RegisterDevice(register_request(**request_body), metadata=as_user(token_minter)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert (reason, fields) == ("VALIDATION_ERROR", [field])


async def test_update_validation_over_the_wire(
    stub: device_pb2_grpc.DeviceServiceAsyncStub, token_minter: TokenMinter
) -> None:
    device = await stub.RegisterDevice(register_request(), metadata=as_user(token_minter))
    admin = as_user(token_minter, role="admin")
    bad_metadata = json_format.ParseDict(
        {"deviceId": device.device_id, "metadata": {"floor": 3}}, device_pb2.UpdateDeviceRequest()
    )
    _, _, fields = await expect_error(stub.UpdateDevice(bad_metadata, metadata=admin), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["metadata.floor"]
    empty = device_pb2.UpdateDeviceRequest(device_id=device.device_id)
    reason, _, _ = await expect_error(stub.UpdateDevice(empty, metadata=admin), grpc.StatusCode.INVALID_ARGUMENT)
    assert reason == "VALIDATION_ERROR"
    other_operator = as_user(token_minter, user="user-other")
    await expect_error(
        stub.UpdateDevice(
            device_pb2.UpdateDeviceRequest(device_id=device.device_id, name="Mine"), metadata=other_operator
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )


@pytest.mark.parametrize(
    ("request_message", "field"),
    [
        (device_pb2.ListDevicesRequest(page_size=101), "pageSize"),
        (device_pb2.ListDevicesRequest(sort_by="colour"), "sortBy"),
        (device_pb2.ListDevicesRequest(sort_order="sideways"), "sortOrder"),
    ],
)
async def test_bad_list_parameters_are_400_naming_the_parameter(
    stub: device_pb2_grpc.DeviceServiceAsyncStub,
    token_minter: TokenMinter,
    request_message: device_pb2.ListDevicesRequest,
    field: str,
) -> None:
    _, _, fields = await expect_error(
        stub.ListDevices(request_message, metadata=as_user(token_minter)), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert fields == [field]


async def test_activity_and_batch_get(stub: device_pb2_grpc.DeviceServiceAsyncStub, token_minter: TokenMinter) -> None:
    caller = as_user(token_minter)
    device = await stub.RegisterDevice(register_request(), metadata=caller)
    activity = json_format.ParseDict(
        {
            "activities": [
                {
                    "deviceId": device.device_id,
                    "lastSeen": "2025-11-15T10:05:00Z",
                    "lastReading": {"temperature": 23.5, "humidity": 45, "timestamp": "2025-11-15T10:05:00Z"},
                }
            ]
        },
        device_pb2.RecordDeviceActivityRequest(),
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.RecordDeviceActivity(activity, metadata=caller)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, "internal RPCs refuse users"
    telemetry = as_service(token_minter, "telemetry")
    assert (await stub.RecordDeviceActivity(activity, metadata=telemetry)).updated == 1
    batch = await stub.BatchGetDevices(
        device_pb2.BatchGetDevicesRequest(device_ids=[device.device_id, "dev-missing"]), metadata=telemetry
    )
    [seen] = [as_json(d) for d in batch.devices]
    assert seen["status"] == "online"
    assert seen["lastSeen"] == "2025-11-15T10:05:00Z"
    assert seen["lastReading"] == {"temperature": 23.5, "humidity": 45.0, "timestamp": "2025-11-15T10:05:00Z"}


async def test_concurrent_registrations_of_one_serial_leave_one_device_and_one_live_certificate(
    stub: device_pb2_grpc.DeviceServiceAsyncStub, token_minter: TokenMinter, tmp_path: Path
) -> None:
    calls = [stub.RegisterDevice(register_request(name=f"Racer-{i}"), metadata=as_user(token_minter)) for i in range(5)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    winners = [r for r in results if isinstance(r, device_pb2.RegisterDeviceResponse)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1
    assert [e.code() for e in losers] == [grpc.StatusCode.ALREADY_EXISTS] * 4
    assert all(details_of(e)[1]["deviceId"] == winners[0].device_id for e in losers)
    # Losers that got as far as provisioning had their certificates revoked: one certificate still works.
    with sqlite3.connect(tmp_path / "data" / "ca" / "registry.db") as registry:
        statuses = [row[0] for row in registry.execute("SELECT status FROM certificates")]
    assert statuses.count("ACTIVE") == 1
    assert set(statuses) <= {"ACTIVE", "REVOKED"}
