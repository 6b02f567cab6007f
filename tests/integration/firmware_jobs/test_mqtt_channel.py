"""MqttJobChannel on the real Mosquitto, with a fake JobHandler and raw paho devices.

Each test has its own topic prefix and client ids (the broker is shared) and clears the retained
notifications it left.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from services.firmware.adapters.jobs_mqtt import MqttJobChannel
from services.firmware.adapters.jobs_mqtt_config import MqttJobOptions, default_client_id
from services.firmware.domain.rollout.job import JobStatus
from tests.integration.firmware_jobs.mqtt_device import RawDevice, clear_retained
from tests.support.servers import require_server
from tests.unit.firmware_jobs.fakes import FakeJobHandler, make_job

pytestmark = pytest.mark.needs_server

URL = "mqtt://127.0.0.1:1883"
DEVICES = ["dev-a", "dev-b", "dev-c"]


@pytest.fixture(autouse=True)
def mosquitto() -> None:
    require_server("Mosquitto", "127.0.0.1", 1883)


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = f"t-{uuid.uuid4().hex[:10]}/devices"
    yield prefix
    clear_retained(prefix, DEVICES)


def options(prefix: str, **overrides: object) -> MqttJobOptions:
    settings: dict[str, object] = {
        "client_id": f"fw-{uuid.uuid4().hex[:10]}",
        "group": f"g-{uuid.uuid4().hex[:6]}",
        "topic_prefix": prefix,
        "session_expiry_seconds": 0,
        "publish_timeout_seconds": 5.0,
    } | overrides
    return MqttJobOptions(**settings)  # type: ignore[arg-type]


@pytest.fixture
def handler() -> FakeJobHandler:
    return FakeJobHandler()


@pytest.fixture
async def start_channel(prefix: str) -> AsyncIterator[Callable[..., object]]:
    started: list[MqttJobChannel] = []

    async def start(handler: FakeJobHandler, **overrides: object) -> MqttJobChannel:
        channel = MqttJobChannel(URL, options(prefix, **overrides))
        await channel.start(handler)
        started.append(channel)
        await asyncio.wait_for(channel.subscribed.wait(), 10)
        return channel

    yield start
    for channel in started:
        await channel.close()


async def test_notify_publishes_the_execution_retained_once_per_attempt(
    prefix: str, handler: FakeJobHandler, start_channel: Callable[..., object]
) -> None:
    channel: MqttJobChannel = await start_channel(handler)  # type: ignore[misc]
    job = handler.add(make_job("dev-a", url="http://files/fw.bin", checksum="ab" * 32, size=1234))
    with RawDevice(prefix, "dev-a").connected() as device:
        await channel.notify([job])
        await channel.notify([job])  # already sent by this process: nothing new
        [first] = await device.wait_on("notify-next")
        await channel.notify([make_job("dev-a", attempt=2)])
        second = (await device.wait_on("notify-next", 2))[1]

    assert first.json()["execution"] == {
        "jobId": "job-1",
        "thingName": "dev-a",
        "status": "QUEUED",
        "versionNumber": 1,
        "executionNumber": 1,
        "jobDocument": {
            "operation": "install",
            "firmwareId": "fw-1",
            "version": "v2.0.0",
            "url": "http://files/fw.bin",
            "sha256": "ab" * 32,
            "size": 1234,
            "deploymentId": "dep-1",
        },
    }
    assert isinstance(first.json()["timestamp"], int)
    assert second.json()["execution"]["executionNumber"] == 2
    assert len(device.on("notify-next")) == 2


async def test_a_device_that_connects_later_gets_the_retained_notification(
    prefix: str, handler: FakeJobHandler, start_channel: Callable[..., object]
) -> None:
    channel: MqttJobChannel = await start_channel(handler)  # type: ignore[misc]
    await channel.notify([handler.add(make_job("dev-b", "job-late"))])
    with RawDevice(prefix, "dev-b").connected() as device:
        [message] = await device.wait_on("notify-next")
    assert message.retain
    assert message.json()["execution"]["jobId"] == "job-late"


async def test_updates_are_applied_and_answered_and_the_notification_follows(
    prefix: str, handler: FakeJobHandler, start_channel: Callable[..., object]
) -> None:
    await start_channel(handler)
    handler.add(make_job("dev-a", "job-1"))
    with RawDevice(prefix, "dev-a").connected() as device:
        which, body = await device.request(
            "job-1/update", {"status": "IN_PROGRESS", "expectedVersion": 1, "clientToken": "t1"}
        )
        assert (which, body["executionState"], body["clientToken"]) == (
            "accepted",
            {"status": "IN_PROGRESS", "versionNumber": 2, "statusDetails": {}},
            "t1",
        )
        # The retained notification now shows the job as it stands.
        refreshed = (await device.wait_on("notify-next"))[-1].json()["execution"]
        assert (refreshed["status"], refreshed["versionNumber"]) == ("IN_PROGRESS", 2)

        which, body = await device.request(
            "job-1/update", {"status": "SUCCEEDED", "expectedVersion": 2, "statusDetails": {"version": "v2.0.0"}}
        )
        assert which == "accepted"
        cleared = (await device.wait_on("notify-next", 2))[-1]
        assert cleared.payload == b"", "nothing pending: the retained notification is cleared"

    report = handler.reports[-1]
    assert (report.job_id, report.device_id, report.status, dict(report.status_details)) == (
        "job-1",
        "dev-a",
        JobStatus.SUCCEEDED,
        {"version": "v2.0.0"},
    )
    assert handler.jobs["job-1"].status is JobStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("job_id", "body", "code"),
    [
        ("job-1", {"status": "IN_PROGRESS", "expectedVersion": 7}, "VersionMismatch"),
        ("job-unknown", {"status": "IN_PROGRESS"}, "ResourceNotFound"),
        ("job-done", {"status": "FAILED"}, "TerminalStateReached"),
        ("job-1", b"{not json", "InvalidRequest"),
        ("job-1", {"status": "DANCING"}, "InvalidRequest"),
        ("job-1", {"status": "TIMED_OUT"}, "InvalidRequest"),
        ("job-1", {"status": "FAILED", "statusDetails": {"reason": 3}}, "InvalidRequest"),
        ("job-1", [1, 2], "InvalidRequest"),
    ],
)
async def test_refused_and_malformed_updates_are_rejected_with_aws_codes(
    prefix: str,
    handler: FakeJobHandler,
    start_channel: Callable[..., object],
    job_id: str,
    body: object,
    code: str,
) -> None:
    await start_channel(handler)
    handler.add(make_job("dev-a", "job-1"))
    handler.add(make_job("dev-a", "job-done"))
    handler.cancel("job-done")
    with RawDevice(prefix, "dev-a").connected() as device:
        which, answer = await device.request(f"{job_id}/update", body)
        assert (which, answer["code"]) == ("rejected", code)
        # The channel keeps working after a bad request.
        which, _ = await device.request("job-1/update", {"status": "IN_PROGRESS"})
        assert which == "accepted"
    if code == "VersionMismatch":
        assert answer["executionState"] == {"status": "QUEUED", "versionNumber": 1}


async def test_get_next_answers_the_next_job_or_nothing(
    prefix: str, handler: FakeJobHandler, start_channel: Callable[..., object]
) -> None:
    await start_channel(handler)
    handler.add(make_job("dev-a", "job-1"))
    with RawDevice(prefix, "dev-a").connected() as device:
        which, body = await device.request("$next/get", {"clientToken": "boot-1"})
        assert which == "accepted"
        assert (body["execution"]["jobId"], body["clientToken"]) == ("job-1", "boot-1")
    with RawDevice(prefix, "dev-c").connected() as idle:
        which, body = await idle.request("$next/get", b"")
        assert which == "accepted"
        assert "execution" not in body
    assert handler.next_job_calls == ["dev-a", "dev-c"]


async def test_cancel_tells_the_device_and_moves_the_notification_on(
    prefix: str, handler: FakeJobHandler, start_channel: Callable[..., object]
) -> None:
    channel: MqttJobChannel = await start_channel(handler)  # type: ignore[misc]
    first = handler.add(make_job("dev-a", "job-1"))
    handler.add(make_job("dev-a", "job-2"))
    only = handler.add(make_job("dev-b", "job-3"))
    with RawDevice(prefix, "dev-a").connected() as a, RawDevice(prefix, "dev-b").connected() as b:
        await channel.notify([first, only])
        await a.wait_on("notify-next")
        await b.wait_on("notify-next")
        # The rollout marks them cancelled, then tells the devices.
        await channel.cancel([handler.cancel("job-1"), handler.cancel("job-3")])
        [cancel_a] = await a.wait_on("job-1/cancel")
        [cancel_b] = await b.wait_on("job-3/cancel")
        next_a = (await a.wait_on("notify-next", 2))[-1]
        next_b = (await b.wait_on("notify-next", 2))[-1]

    assert (cancel_a.json()["jobId"], cancel_a.json()["status"], cancel_b.json()["jobId"]) == (
        "job-1",
        "CANCELED",
        "job-3",
    )
    assert next_a.json()["execution"]["jobId"] == "job-2"
    assert next_b.payload == b""


async def test_two_replicas_in_a_group_handle_each_report_once(
    prefix: str, handler: FakeJobHandler, start_channel: Callable[..., object]
) -> None:
    group = f"g-{uuid.uuid4().hex[:6]}"
    await start_channel(handler, group=group)
    await start_channel(handler, group=group)
    for n in range(20):
        handler.add(make_job("dev-a", f"job-{n}"))
    with RawDevice(prefix, "dev-a").connected() as device:
        for n in range(20):
            device.publish(f"job-{n}/update", {"status": "IN_PROGRESS", "clientToken": f"c{n}"})
        await device.wait_on("job-19/update/accepted")
        await asyncio.sleep(0.5)  # a second delivery would show up now
        answers = [m for m in device.messages if m.topic.endswith("/update/accepted")]

    assert sorted(r.job_id for r in handler.reports) == sorted(f"job-{n}" for n in range(20))
    assert len(answers) == 20


async def test_a_failing_handler_answers_internal_error_and_the_channel_goes_on(
    prefix: str, handler: FakeJobHandler, start_channel: Callable[..., object]
) -> None:
    class Broken(FakeJobHandler):
        async def next_job(self, device_id: str) -> None:
            raise RuntimeError("store on fire")

    broken = Broken([make_job("dev-a", "job-1")])
    await start_channel(broken)
    with RawDevice(prefix, "dev-a").connected() as device:
        which, body = await device.request("$next/get", {})
        assert (which, body["code"]) == ("rejected", "InternalError")
        which, _ = await device.request("job-1/update", {"status": "IN_PROGRESS"})
        assert which == "accepted"
        await asyncio.sleep(0.3)
        # The report was applied; the failing refresh of the notification did not answer it a second time.
        assert device.on("job-1/update/rejected") == []
    assert broken.jobs["job-1"].status is JobStatus.IN_PROGRESS


async def test_after_losing_the_broker_the_channel_reconnects_and_answers_again(
    prefix: str, handler: FakeJobHandler, start_channel: Callable[..., object]
) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    channel: MqttJobChannel = await start_channel(handler, reconnect_min_seconds=1, reconnect_max_seconds=1)  # type: ignore[misc]
    handler.add(make_job("dev-a", "job-1"))
    # A second connection under the channel's client id makes the broker drop the channel's connection.
    thief = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=channel.options.client_id, protocol=mqtt.MQTTv5)
    thief.connect("127.0.0.1", 1883)
    thief.loop_start()
    await asyncio.sleep(0.3)
    thief.disconnect()
    thief.loop_stop()
    channel.subscribed.clear()
    await asyncio.wait_for(channel.subscribed.wait(), 10)
    with RawDevice(prefix, "dev-a").connected() as device:
        which, _ = await device.request("job-1/update", {"status": "IN_PROGRESS"})
    assert which == "accepted"


async def test_default_client_ids_let_two_processes_on_one_host_share_the_broker(
    prefix: str, handler: FakeJobHandler, start_channel: Callable[..., object], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="iotmon.firmware.jobs.mqtt")
    # What two `iotmon up` on one machine do: both take the default id. With the old per-host id the second
    # connection kicked the first off, which reconnected and kicked the second, and so on.
    group = f"g-{uuid.uuid4().hex[:6]}"
    first: MqttJobChannel = await start_channel(handler, client_id=default_client_id(), group=group)  # type: ignore[misc]
    second: MqttJobChannel = await start_channel(handler, client_id=default_client_id(), group=group)  # type: ignore[misc]
    first.subscribed.clear()
    second.subscribed.clear()
    for n in range(10):
        handler.add(make_job("dev-a", f"job-{n}"))
    with RawDevice(prefix, "dev-a").connected() as device:
        for n in range(10):
            device.publish(f"job-{n}/update", {"status": "IN_PROGRESS", "clientToken": f"c{n}"})
        await device.wait_on("job-9/update/accepted")
        await asyncio.sleep(1.0)

    assert first.options.client_id != second.options.client_id
    assert first.options.session_expiry_seconds == 0
    # Neither connection was dropped (a reconnect subscribes again, which sets the event).
    assert not first.subscribed.is_set()
    assert not second.subscribed.is_set()
    assert "lost the broker" not in caplog.text
    assert sorted(r.job_id for r in handler.reports) == sorted(f"job-{n}" for n in range(10))
