"""IOTMON_FIRMWARE_STORE=dynamodb for real: the bootstrap creates the catalog and rollout tables on moto, and
the orchestrator holds its lease there while it runs and hands it over at once when stopped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.firmware.adapters.rollout_dynamodb import DynamoDbDeploymentStore
from services.firmware.bootstrap import FirmwareSettings, build
from services.firmware.orchestrator import LEASE_NAME
from services.runtime.bus import InProcessBus
from services.runtime.service import BuildContext
from services.runtime.settings import RuntimeSettings
from tests.support.dynamodb import moto_dynamodb, table_names, unique_name
from tests.support.moto import REGION

pytestmark = pytest.mark.needs_server


async def test_on_dynamodb_the_orchestrator_leases_in_the_rollout_table(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IOTMON_MQTT_URL", raising=False)
    prefix = unique_name("firmware") + "-"
    settings = FirmwareSettings(
        store="dynamodb",
        dynamodb_table_prefix=prefix,
        aws_endpoint_url=request.getfixturevalue("moto_endpoint"),
        region=REGION,
        mqtt_url=None,
        orchestrator_lease_seconds=30,
    )
    bus = InProcessBus()
    await bus.start()
    ctx = BuildContext(settings=RuntimeSettings(data_dir=tmp_path / "data"), bus=bus)
    try:
        async with moto_dynamodb(request) as client:
            other = DynamoDbDeploymentStore(client, f"{prefix}rollout")
            async with ctx.resources:
                built = await build(ctx, settings)
                assert {f"{prefix}catalog", f"{prefix}rollout"} <= await table_names(client)
                tasks = [asyncio.create_task(job()) for job in built.background]
                for _ in range(100):
                    if not await other.try_acquire(LEASE_NAME, "another-replica", 30):
                        break
                    await other.release(LEASE_NAME, "another-replica")
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError("the service's orchestrator never took the lease")
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            assert await other.try_acquire(LEASE_NAME, "another-replica", 30), "released on the way out"
            assert not (tmp_path / "data" / "firmware.db").exists()
    finally:
        await bus.close()
