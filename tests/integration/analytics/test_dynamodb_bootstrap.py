"""IOTMON_ANALYTICS_STORE=dynamodb for real: the bootstrap creates the counters, jobs and usage tables on
moto, a device event from the bus lands in the counters table, and nothing is kept in the data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from iot.common.v1 import common_pb2
from iot.device.v1 import device_pb2
from iot.device.v1 import events_pb2 as device_events

from services.analytics.adapters.store_dynamodb import DynamoDbCounterStore
from services.analytics.bootstrap import AnalyticsSettings, build
from services.runtime.bus import InProcessBus
from services.runtime.service import BuildContext
from services.runtime.settings import RuntimeSettings
from tests.support.dynamodb import moto_dynamodb, table_names, unique_name
from tests.support.moto import REGION

pytestmark = pytest.mark.needs_server


async def test_a_registered_device_is_counted_in_dynamodb(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    prefix = unique_name("analytics") + "-"
    settings = AnalyticsSettings(
        store="dynamodb",
        dynamodb_table_prefix=prefix,
        aws_endpoint_url=request.getfixturevalue("moto_endpoint"),
        aws_region=REGION,
        workers=False,
    )
    bus = InProcessBus()
    await bus.start()
    ctx = BuildContext(settings=RuntimeSettings(data_dir=tmp_path / "data"), bus=bus)
    try:
        async with moto_dynamodb(request) as client, ctx.resources:
            await build(ctx, settings)
            tables = await table_names(client)
            assert {f"{prefix}counters", f"{prefix}jobs", f"{prefix}usage"} <= tables
            meta = common_pb2.EventMeta(event_id="e1", organization_id="org-1")
            meta.occurred_at.FromMilliseconds(1_763_114_400_000)
            device = device_pb2.Device(device_id="d1", status="online", organization_id="org-1")
            await bus.publish("device.registered", device_events.DeviceRegistered(meta=meta, device=device))

            counters = DynamoDbCounterStore(client, f"{prefix}counters")
            assert await counters.live_device_ids("org-1") == {"d1"}
            assert (await counters.numbers("org-1", "2025-11-14")).counters.get("device:online") == 1
        assert not (tmp_path / "data" / "analytics.db").exists()
    finally:
        await bus.close()
