"""The production wiring: bootstrap with DynamoDB and AWS IoT Core, both on the moto server, over real gRPC."""

from __future__ import annotations

from pathlib import Path

import aioboto3
import grpc
import grpc.aio
import pytest
from google.protobuf import json_format
from iot.device.v1 import device_pb2, device_pb2_grpc

from services.device.bootstrap import DeviceSettings
from services.kernel.ids import new_id
from tests.integration.device.support import alerting_registration, as_user, device_stack, serve
from tests.integration.runtime.test_grpc_server import details_of
from tests.support.moto import REGION
from tests.support.tokens import TokenMinter

BODY = {
    "deviceType": "temperature-sensor-v2",
    "name": "Office-Temp-Sensor-1",
    "location": {"lat": 37.7749, "lon": -122.4194, "address": "Office 301, Building A"},
    "metadata": {"serialNumber": "SN-AWS-1"},
    "tags": ["office"],
}


async def test_register_list_and_delete_on_dynamodb_and_iot_core(
    moto_endpoint: str, token_minter: TokenMinter, tmp_path: Path
) -> None:
    settings = DeviceSettings(
        store="dynamodb",
        registry="iot-core",
        dynamodb_table=f"devices-{new_id('t')}",
        aws_endpoint_url=moto_endpoint,
        aws_region=REGION,
        iot_policy_name=f"policy-{new_id('t')}",
    )
    alerting = await serve(token_minter, [alerting_registration()])
    operator, admin = as_user(token_minter), as_user(token_minter, role="admin")
    register = json_format.ParseDict(BODY, device_pb2.RegisterDeviceRequest())
    try:
        async with (
            device_stack(token_minter, tmp_path, alerting.address, settings) as stack,
            grpc.aio.insecure_channel(stack.address) as channel,
        ):
            stub = device_pb2_grpc.DeviceServiceStub(channel)
            registered = await stub.RegisterDevice(register, metadata=operator)
            credentials = registered.provisioning_credentials
            assert credentials.endpoint.endswith(f"-ats.iot.{REGION}.amazonaws.com")
            assert not credentials.HasField("ca_certificate_pem")

            with_location = device_pb2.ListDevicesRequest(location="building a", tags=["office"])
            listed = await stub.ListDevices(with_location, metadata=operator)
            assert [d.device_id for d in listed.items] == [registered.device_id]

            with pytest.raises(grpc.aio.AioRpcError) as duplicate:
                await stub.RegisterDevice(register, metadata=operator)
            assert duplicate.value.code() == grpc.StatusCode.ALREADY_EXISTS
            assert details_of(duplicate.value)[1] == {"serialNumber": "SN-AWS-1", "deviceId": registered.device_id}

            delete = device_pb2.DeleteDeviceRequest(device_id=registered.device_id)
            await stub.DeleteDevice(delete, metadata=admin)
            again = await stub.RegisterDevice(register, metadata=operator)
            assert again.device_id != registered.device_id
    finally:
        await alerting.stop(0)

    session = aioboto3.Session()
    async with session.client("iot", endpoint_url=moto_endpoint, region_name=REGION) as iot:
        certificate_id = credentials.certificate_arn.rsplit("/", 1)[1]
        described = await iot.describe_certificate(certificateId=certificate_id)
        thing = await iot.describe_thing(thingName=registered.device_id)
    assert described["certificateDescription"]["status"] == "INACTIVE"
    assert thing["attributes"]["status"] == "deleted"
