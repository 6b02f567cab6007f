"""The firmware catalog as bootstrap builds it in S3 mode, on moto: upload target → presigned POST → S3 event
in SQS → processor → validated, and firmware.validated on the bus."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from pathlib import Path

import pytest
from iot.firmware.v1 import events_pb2

from iotmon.firmware_cmd import upload_image
from services.firmware.bootstrap import FirmwareSettings, build_catalog
from services.firmware.domain.catalog.firmware import FirmwareStatus
from services.firmware.domain.catalog.image import pack
from services.firmware.domain.catalog.validation import UploadFirmware
from services.kernel.caller import Caller, Role
from services.runtime.bus import InProcessBus
from services.runtime.service import BuildContext
from services.runtime.settings import RuntimeSettings
from tests.support.moto import REGION

pytestmark = pytest.mark.needs_server


async def test_an_s3_upload_is_validated_through_the_bucket_notification(moto_endpoint: str, tmp_path: Path) -> None:
    bus = InProcessBus()
    validated: list[events_pb2.FirmwareValidated] = []

    async def record(routing_key: str, payload: bytes) -> None:
        validated.append(events_pb2.FirmwareValidated.FromString(payload))

    bus.subscribe("firmware.validated", record, group="test")
    await bus.start()
    ctx = BuildContext(settings=RuntimeSettings(data_dir=tmp_path / "data"), bus=bus)
    suffix = secrets.token_hex(4)
    settings = FirmwareSettings(
        store="memory",
        object_store="s3",
        bucket=f"firmware-{suffix}",
        s3_events_queue=f"uploads-{suffix}",
        s3_events_wait_seconds=1,
        aws_endpoint_url=moto_endpoint,
        region=REGION,
    )
    async with ctx.resources:
        catalog = await build_catalog(ctx, settings)
        tasks = [asyncio.create_task(job()) for job in catalog.background]
        try:
            admin = Caller("user-admin", "org-1", Role.ADMIN)
            ticket = await catalog.service.request_upload(admin, UploadFirmware("v1.4.0", ("temp-sensor",)))
            image = tmp_path / "fw.iotf"
            image.write_bytes(pack("v1.4.0", ("temp-sensor",), b"s3" * 10_000))
            response = await asyncio.to_thread(upload_image, ticket.target.url, ticket.target.fields, image)
            assert response.status_code == 204, response.text
            for _ in range(100):
                firmware = await catalog.service.get_firmware(admin, ticket.firmware.firmware_id)
                if firmware.status is FirmwareStatus.VALIDATED:
                    break
                await asyncio.sleep(0.1)
            assert firmware.status is FirmwareStatus.VALIDATED
            assert firmware.checksum == hashlib.sha256(image.read_bytes()).hexdigest()
            assert [e.firmware.firmware_id for e in validated] == [ticket.firmware.firmware_id]
            assert validated[0].meta.organization_id == "org-1"
            download = await catalog.objects.presign_download(firmware.object_key, expires_in=60)
            assert download.startswith(moto_endpoint)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    await bus.close()
