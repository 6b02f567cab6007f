"""The production DeviceRegistry: AWS IoT Core things and certificates (aioboto3).

A device becomes a thing named by its id, with an active certificate made by IoT Core
(create_keys_and_certificate), the shared device policy, and the thing attached to the certificate.
IoT Core names its certificates "AWS IoT Certificate": the device is identified by the thing attachment
(which the policy's ${iot:Connection.Thing.ThingName} relies on), not by the certificate's subject.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from services.device.domain.model import CertificateRecord, ProvisionedCredentials

if TYPE_CHECKING:
    from types_aiobotocore_iot.client import IoTClient

log = logging.getLogger("iotmon.device.iot")

THING = "${iot:Connection.Thing.ThingName}"
# Least privilege: a device connects as its own thing and only touches its own topics
# (devices/<id>/… for telemetry and commands, $aws/things/<id>/… for shadow and jobs).
DEVICE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"arn:aws:iot:*:*:client/{THING}"},
        {
            "Effect": "Allow",
            "Action": ["iot:Publish", "iot:Receive"],
            "Resource": [f"arn:aws:iot:*:*:topic/devices/{THING}/*", f"arn:aws:iot:*:*:topic/$aws/things/{THING}/*"],
        },
        {
            "Effect": "Allow",
            "Action": "iot:Subscribe",
            "Resource": [
                f"arn:aws:iot:*:*:topicfilter/devices/{THING}/*",
                f"arn:aws:iot:*:*:topicfilter/$aws/things/{THING}/*",
            ],
        },
    ],
}


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class IotCoreDeviceRegistry:
    def __init__(self, client: IoTClient, policy_name: str):
        self._client = client
        self._policy_name = policy_name
        self._policy_ready = False
        self._endpoint: str | None = None
        self._lock = asyncio.Lock()

    async def provision(self, device_id: str, organization_id: str, device_type: str) -> ProvisionedCredentials:
        endpoint = await self._prepare()
        await self._client.create_thing(
            thingName=device_id,
            attributePayload={"attributes": {"organizationId": organization_id, "deviceType": device_type}},
        )
        created = await self._client.create_keys_and_certificate(setAsActive=True)
        arn = created["certificateArn"]
        await self._client.attach_policy(policyName=self._policy_name, target=arn)
        await self._client.attach_thing_principal(thingName=device_id, principal=arn)
        return ProvisionedCredentials(
            certificate_id=created["certificateId"],
            certificate_arn=arn,
            certificate_pem=created["certificatePem"],
            private_key=created["keyPair"]["PrivateKey"],
            endpoint=endpoint,
        )

    async def deactivate(self, device_id: str, certificate_id: str) -> None:
        await self._client.update_certificate(certificateId=certificate_id, newStatus="INACTIVE")
        try:
            await self._client.update_thing(
                thingName=device_id, attributePayload={"attributes": {"status": "deleted"}, "merge": True}
            )
        except ClientError as error:
            # The certificate is what lets a device connect; a thing already gone needs no marking.
            if _error_code(error) != "ResourceNotFoundException":
                raise

    async def describe_certificate(self, certificate_id: str) -> CertificateRecord | None:
        try:
            described = await self._client.describe_certificate(certificateId=certificate_id)
        except ClientError as error:
            if _error_code(error) == "ResourceNotFoundException":
                return None
            raise
        certificate = described["certificateDescription"]
        things = await self._client.list_principal_things(principal=certificate["certificateArn"])
        names = things.get("things", [])
        return CertificateRecord(certificate_id, names[0] if names else None, certificate["status"] == "ACTIVE")

    async def _prepare(self) -> str:
        """Create the device policy once and look up the account's MQTT endpoint once per process."""
        async with self._lock:
            if not self._policy_ready:
                await self._ensure_policy()
                self._policy_ready = True
            if self._endpoint is None:
                reply = await self._client.describe_endpoint(endpointType="iot:Data-ATS")
                self._endpoint = reply["endpointAddress"]
            return self._endpoint

    async def _ensure_policy(self) -> None:
        try:
            await self._client.get_policy(policyName=self._policy_name)
            return
        except ClientError as error:
            if _error_code(error) != "ResourceNotFoundException":
                raise
        try:
            await self._client.create_policy(policyName=self._policy_name, policyDocument=json.dumps(DEVICE_POLICY))
            log.info("created IoT policy", extra={"policy": self._policy_name})
        except ClientError as error:
            # Another replica created it in the meantime: that is the outcome we wanted.
            if _error_code(error) != "ResourceAlreadyExistsException":
                raise
