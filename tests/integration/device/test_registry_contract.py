"""One contract for every DeviceRegistry: the embedded CA and AWS IoT Core (on the moto server)."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import aioboto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from services.device.adapters.certificate_authority import CERT_FILE, KEY_FILE
from services.device.adapters.embedded_registry import ARN_PREFIX, EmbeddedDeviceRegistry
from services.device.adapters.iot_core_registry import IotCoreDeviceRegistry
from services.device.ports import DeviceRegistry
from services.kernel.ids import new_id
from tests.support.moto import REGION

ENDPOINT = "127.0.0.1:8883"


@pytest.fixture(params=["embedded", "iot-core"])
async def registry(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DeviceRegistry]:
    if request.param == "embedded":
        embedded = await EmbeddedDeviceRegistry.open(tmp_path / "ca", ENDPOINT)
        yield embedded
        embedded.close()
    else:
        endpoint = request.getfixturevalue("moto_endpoint")
        async with aioboto3.Session().client("iot", endpoint_url=endpoint, region_name=REGION) as client:
            yield IotCoreDeviceRegistry(client, f"policy-{new_id('t')}")


def public_numbers(pem: str) -> rsa.RSAPublicNumbers:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.public_key().public_numbers()


async def test_provisioned_credentials_are_usable(registry: DeviceRegistry) -> None:
    device_id = new_id("dev")
    credentials = await registry.provision(device_id, "org-1", "temperature-sensor-v2")
    certificate = x509.load_pem_x509_certificate(credentials.certificate_pem.encode())
    assert credentials.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    cert_key = certificate.public_key()
    assert isinstance(cert_key, rsa.RSAPublicKey)
    assert cert_key.key_size == 2048
    assert cert_key.public_numbers() == public_numbers(credentials.private_key)
    assert credentials.certificate_arn.endswith("cert/" + credentials.certificate_id)
    assert credentials.endpoint
    record = await registry.describe_certificate(credentials.certificate_id)
    assert record is not None
    assert record.device_id == device_id
    assert record.active


async def test_every_device_gets_its_own_certificate(registry: DeviceRegistry) -> None:
    first = await registry.provision(new_id("dev"), "org-1", "temperature-sensor-v2")
    second = await registry.provision(new_id("dev"), "org-1", "temperature-sensor-v2")
    assert first.certificate_id != second.certificate_id
    assert first.private_key != second.private_key


async def test_deactivate_stops_the_certificate_and_can_be_repeated(registry: DeviceRegistry) -> None:
    device_id = new_id("dev")
    credentials = await registry.provision(device_id, "org-1", "temperature-sensor-v2")
    other = await registry.provision(new_id("dev"), "org-1", "temperature-sensor-v2")
    await registry.deactivate(device_id, credentials.certificate_id)
    await registry.deactivate(device_id, credentials.certificate_id)
    record = await registry.describe_certificate(credentials.certificate_id)
    assert record is not None
    assert not record.active
    still = await registry.describe_certificate(other.certificate_id)
    assert still is not None
    assert still.active


async def test_an_unknown_certificate_is_not_described(registry: DeviceRegistry) -> None:
    assert await registry.describe_certificate("0" * 64) is None


# Embedded CA specifics: the certificate's subject names the device and the CA survives restarts.


async def test_embedded_certificate_names_the_device_and_is_signed_by_the_ca(tmp_path: Path) -> None:
    registry = await EmbeddedDeviceRegistry.open(tmp_path / "ca", ENDPOINT)
    credentials = await registry.provision("dev-abc123", "org-1", "temperature-sensor-v2")
    registry.close()
    certificate = x509.load_pem_x509_certificate(credentials.certificate_pem.encode())
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "dev-abc123"
    assert credentials.ca_certificate_pem is not None
    authority = x509.load_pem_x509_certificate(credentials.ca_certificate_pem.encode())
    certificate.verify_directly_issued_by(authority)
    assert credentials.certificate_arn == ARN_PREFIX + credentials.certificate_id
    assert credentials.endpoint == ENDPOINT


async def test_embedded_ca_is_created_once_with_a_private_key_file(tmp_path: Path) -> None:
    first = await EmbeddedDeviceRegistry.open(tmp_path / "ca", ENDPOINT)
    issued = await first.provision("dev-1", "org-1", "t")
    first.close()
    key_mode = stat.S_IMODE((tmp_path / "ca" / KEY_FILE).stat().st_mode)
    assert key_mode == 0o600
    ca_pem = (tmp_path / "ca" / CERT_FILE).read_text()

    reopened = await EmbeddedDeviceRegistry.open(tmp_path / "ca", ENDPOINT)
    again = await reopened.provision("dev-2", "org-1", "t")
    record = await reopened.describe_certificate(issued.certificate_id)
    reopened.close()
    assert again.ca_certificate_pem == issued.ca_certificate_pem == ca_pem
    assert record is not None
    assert record.device_id == "dev-1"


# IoT Core specifics: the thing, its attributes, the policy and the attachment.


async def test_iot_core_creates_an_attached_thing_and_marks_it_deleted(moto_endpoint: str) -> None:
    device_id = new_id("dev")
    policy = f"policy-{new_id('t')}"
    async with aioboto3.Session().client("iot", endpoint_url=moto_endpoint, region_name=REGION) as client:
        registry = IotCoreDeviceRegistry(client, policy)
        credentials = await registry.provision(device_id, "org-7", "temperature-sensor-v2")
        thing = await client.describe_thing(thingName=device_id)
        assert thing["attributes"] == {"organizationId": "org-7", "deviceType": "temperature-sensor-v2"}
        principals = await client.list_thing_principals(thingName=device_id)
        assert principals["principals"] == [credentials.certificate_arn]
        attached = await client.list_attached_policies(target=credentials.certificate_arn)
        assert [p["policyName"] for p in attached["policies"]] == [policy]
        assert credentials.endpoint.endswith(f"-ats.iot.{REGION}.amazonaws.com")
        assert credentials.ca_certificate_pem is None

        # The policy is created once, not per device.
        await registry.provision(new_id("dev"), "org-7", "temperature-sensor-v2")
        await registry.deactivate(device_id, credentials.certificate_id)
        thing = await client.describe_thing(thingName=device_id)
        described = await client.describe_certificate(certificateId=credentials.certificate_id)
    assert thing["attributes"]["status"] == "deleted"
    assert described["certificateDescription"]["status"] == "INACTIVE"
