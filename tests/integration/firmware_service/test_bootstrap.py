"""The firmware service as its bootstrap builds it: the job channel each setting picks, and a service on
PostgreSQL whose orchestrator holds the lease while it runs and hands it over at once when it is stopped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.firmware.adapters.jobs_iot import IotJobsChannel
from services.firmware.adapters.jobs_mqtt import MqttJobChannel
from services.firmware.adapters.jobs_poll import PollOnlyJobChannel
from services.firmware.adapters.rollout_postgres import PostgresDeploymentStore
from services.firmware.bootstrap import FirmwareSettings, _job_channel, build
from services.firmware.orchestrator import LEASE_NAME
from services.runtime.bus import InProcessBus
from services.runtime.service import BuildContext
from services.runtime.settings import RuntimeSettings
from tests.support.postgres import POSTGRES_DSN, scratch_schema


def test_without_a_broker_devices_poll() -> None:
    assert isinstance(_job_channel(FirmwareSettings(mqtt_url=None)), PollOnlyJobChannel)
    assert isinstance(
        _job_channel(FirmwareSettings(mqtt_url="mqtt://broker:1883", jobs_channel="poll")), PollOnlyJobChannel
    )


def test_with_iotmon_mqtt_url_jobs_go_over_the_mqtt_job_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOTMON_MQTT_URL", "mqtt://user:secret@broker:1884")
    monkeypatch.setenv("IOTMON_FIRMWARE_MQTT_TOPIC_PREFIX", "site-1/devices")
    monkeypatch.setenv("IOTMON_FIRMWARE_MQTT_CLIENT_ID", "firmware-a")
    monkeypatch.setenv("IOTMON_FIRMWARE_MQTT_GROUP", "")
    channel = _job_channel(FirmwareSettings())
    assert isinstance(channel, MqttJobChannel)
    assert (channel.endpoint.host, channel.endpoint.port, channel.endpoint.username) == ("broker", 1884, "user")
    assert channel.topics.notify_next("dev-1") == "site-1/devices/dev-1/jobs/notify-next"
    assert channel.options.client_id == "firmware-a"
    assert channel.options.session_expiry_seconds == 3600, "a configured (stable) id may resume its session"
    assert channel.options.group is None, "an empty group subscribes plainly"


def test_the_default_mqtt_client_id_is_per_process_and_keeps_no_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOTMON_MQTT_URL", "mqtt://broker:1883")
    monkeypatch.delenv("IOTMON_FIRMWARE_MQTT_CLIENT_ID", raising=False)
    monkeypatch.delenv("IOTMON_FIRMWARE_MQTT_SESSION_EXPIRY_SECONDS", raising=False)
    one, two = _job_channel(FirmwareSettings()), _job_channel(FirmwareSettings())
    assert isinstance(one, MqttJobChannel)
    assert isinstance(two, MqttJobChannel)
    assert one.options.client_id != two.options.client_id
    assert one.options.client_id.startswith("iotmon-firmware-jobs-")
    assert one.options.session_expiry_seconds == 0
    monkeypatch.setenv("IOTMON_FIRMWARE_MQTT_SESSION_EXPIRY_SECONDS", "60")
    assert _job_channel(FirmwareSettings()).options.session_expiry_seconds == 60  # type: ignore[attr-defined]


def test_iot_jobs_when_asked_and_mqtt_only_with_a_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IOTMON_MQTT_URL", raising=False)
    assert isinstance(_job_channel(FirmwareSettings(jobs_channel="iot", region="eu-west-1")), IotJobsChannel)
    with pytest.raises(ValueError, match="IOTMON_MQTT_URL"):
        _job_channel(FirmwareSettings(jobs_channel="mqtt"))


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with scratch_schema("fw_service") as name:
        yield name


async def test_on_postgres_the_orchestrator_leases_while_running_and_releases_on_stop(
    tmp_path: Path, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IOTMON_MQTT_URL", raising=False)
    bus = InProcessBus()
    await bus.start()
    ctx = BuildContext(settings=RuntimeSettings(data_dir=tmp_path / "data"), bus=bus)
    settings = FirmwareSettings(
        store="postgres",
        postgres_dsn=POSTGRES_DSN,
        postgres_schema=schema,
        mqtt_url=None,
        orchestrator_lease_seconds=30,
    )
    other = await PostgresDeploymentStore.open(POSTGRES_DSN, schema=schema)
    try:
        async with ctx.resources:
            built = await build(ctx, settings)
            assert built.name == "firmware"
            assert [r.descriptor.full_name for r in built.registrations] == ["iot.firmware.v1.FirmwareService"]
            tasks = [asyncio.create_task(job()) for job in built.background]
            for _ in range(100):
                if not await other.try_acquire(LEASE_NAME, "another-replica", 30):
                    break
                await other.release(LEASE_NAME, "another-replica")
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the service's orchestrator never took the lease")
            # Stopping as on SIGTERM: background tasks cancelled, then the resources close.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        # Released on the way out: another replica takes over now, not after the 30 s ttl.
        assert await other.try_acquire(LEASE_NAME, "another-replica", 30)
    finally:
        await other.close()
        await bus.close()
