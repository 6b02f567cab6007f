"""The shared gRPC runtime on a real port: auth, error details, placeholders, health and reflection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from iot.device.v1 import device_pb2, device_pb2_grpc
from iot.identity.v1 import identity_pb2

from services.kernel.errors import FieldViolation, NotFound, ValidationFailed
from services.runtime.context import current_caller
from services.runtime.server import RunningServer, ServiceRegistration, start_grpc_server
from services.runtime.service import unimplemented_registration
from tests.support.tokens import TokenMinter


class EchoDevices(device_pb2_grpc.DeviceServiceServicer):
    async def GetDevice(self, request: device_pb2.GetDeviceRequest, context: Any) -> device_pb2.GetDeviceResponse:
        caller = current_caller()
        if request.device_id == "missing":
            raise NotFound("no such device", reason="DEVICE_NOT_FOUND", details={"deviceId": "missing"})
        if request.device_id == "bad":
            raise ValidationFailed("bad", violations=[FieldViolation("deviceId", "is bad")])
        if request.device_id == "boom":
            raise RuntimeError("secret internals")
        return device_pb2.GetDeviceResponse(
            device=device_pb2.Device(device_id=request.device_id, organization_id=caller.organization_id)
        )


@pytest.fixture
async def server(token_minter: TokenMinter) -> AsyncIterator[RunningServer]:
    registrations = [
        ServiceRegistration(
            device_pb2.DESCRIPTOR.services_by_name["DeviceService"],
            device_pb2_grpc.add_DeviceServiceServicer_to_server,
            EchoDevices(),
        ),
        unimplemented_registration(identity_pb2.DESCRIPTOR.services_by_name["IdentityService"]),
    ]
    running = await start_grpc_server(registrations, host="127.0.0.1", port=0, verifier=token_minter.verifier())
    yield running
    await running.stop(0)


def details_of(error: grpc.aio.AioRpcError) -> tuple[str, dict[str, str], list[str]]:
    raw = dict(error.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(raw)
    reason, metadata, fields = "", {}, []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
    return reason, metadata, fields


async def test_authenticated_call_sees_the_caller(server: RunningServer, token_minter: TokenMinter) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = device_pb2_grpc.DeviceServiceStub(channel)
        token = token_minter.mint(org="org-9")
        reply = await stub.GetDevice(
            device_pb2.GetDeviceRequest(device_id="dev-1"), metadata=[("authorization", f"Bearer {token}")]
        )
    assert reply.device.organization_id == "org-9"


@pytest.mark.parametrize(
    ("device_id", "code", "reason"),
    [
        ("missing", grpc.StatusCode.NOT_FOUND, "DEVICE_NOT_FOUND"),
        ("bad", grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_ERROR"),
        ("boom", grpc.StatusCode.INTERNAL, "INTERNAL"),
    ],
)
async def test_domain_errors_become_status_with_reason(
    server: RunningServer, token_minter: TokenMinter, device_id: str, code: grpc.StatusCode, reason: str
) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = device_pb2_grpc.DeviceServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetDevice(
                device_pb2.GetDeviceRequest(device_id=device_id),
                metadata=[("authorization", f"Bearer {token_minter.mint()}")],
            )
    assert caught.value.code() == code
    got_reason, metadata, fields = details_of(caught.value)
    assert got_reason == reason
    if device_id == "missing":
        assert metadata == {"deviceId": "missing"}
    if device_id == "bad":
        assert fields == ["deviceId"]
    assert "secret internals" not in (caught.value.details() or "")


@pytest.mark.parametrize("token", [None, "not-a-jwt", "expired"])
async def test_missing_or_bad_token_is_unauthenticated(
    server: RunningServer, token_minter: TokenMinter, token: str | None
) -> None:
    if token == "expired":
        token = token_minter.mint(ttl=-3600)
    metadata = [("authorization", f"Bearer {token}")] if token else []
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = device_pb2_grpc.DeviceServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetDevice(device_pb2.GetDeviceRequest(device_id="dev-1"), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    expected = {None: "UNAUTHENTICATED", "not-a-jwt": "INVALID_TOKEN"}.get(token, "TOKEN_EXPIRED")
    assert details_of(caught.value)[0] == expected


async def test_placeholder_service_answers_unimplemented_and_anonymous_methods_skip_auth(
    server: RunningServer,
) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        # IssueToken allows anonymous callers, so the placeholder's own answer comes through.
        call = channel.unary_unary(
            "/iot.identity.v1.IdentityService/IssueToken",
            request_serializer=identity_pb2.IssueTokenRequest.SerializeToString,
            response_deserializer=identity_pb2.IssueTokenResponse.FromString,
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(identity_pb2.IssueTokenRequest(email="a@b.c", password="x"))
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert details_of(caught.value)[0] == "NOT_IMPLEMENTED"


async def test_health_and_reflection(server: RunningServer) -> None:
    async with grpc.aio.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(health_pb2.HealthCheckRequest(service="iot.device.v1.DeviceService"))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = [s.name async for r in responses for s in r.list_services_response.service]
    assert {"iot.device.v1.DeviceService", "iot.identity.v1.IdentityService"} <= set(names)
