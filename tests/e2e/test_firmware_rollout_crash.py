"""SIGKILL the firmware service mid-rollout, restart it, and check the rollout resumes without a job sent twice.

The deployed layout: `iotmon up --without firmware` on a RabbitMQ bus, plus `iotmon serve firmware` on the
same data directory (firmware.db holds the catalog, the deployments, the jobs, which attempt of each job was
sent, and the orchestrator's lease). The simulated devices keep running on Mosquitto meanwhile: their requests
wait in the service's persistent MQTT session. A separate subscriber counts the notifications on the devices'
`notify-next` topics: each (jobId, executionNumber) must be announced QUEUED exactly once.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.e2e.test_firmware_rollout import (
    Behaviour,
    SimulatedDevices,
    deploy,
    deployment_of,
    jobs_of,
    register_devices,
    release,
    rollout_env,
    versions_of,
    wait_until,
)
from tests.support.mesh import RunningMesh, iotmon_serve, iotmon_up
from tests.support.rabbitmq import AMQP_URL, delete_namespace
from tests.support.servers import free_port, require_server

DEVICES = 30
STEADY = Behaviour(install_seconds=1.0, failure_rate=0.0, reboot_seconds=0.3)


class NotifyCounter:
    """Every notify-next message published while it listens (retained copies from before are ignored)."""

    def __init__(self, topic_prefix: str) -> None:
        self.topic = f"{topic_prefix}/+/jobs/notify-next"
        self.queued: Counter[tuple[str, int]] = Counter()
        self.messages = 0
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"counter-{uuid.uuid4().hex[:8]}")
        self._client.on_connect = lambda c, *_: c.subscribe(self.topic, qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        if message.retain or not message.payload:  # a retained copy, or a cleared notification
            return
        execution = orjson.loads(message.payload)["execution"]
        with self._lock:
            self.messages += 1
            if execution["status"] == "QUEUED":
                self.queued[(execution["jobId"], execution["executionNumber"])] += 1

    @contextmanager
    def listening(self) -> Iterator[NotifyCounter]:
        self._client.connect("127.0.0.1", 1883)
        self._client.loop_start()
        try:
            assert self._subscribed.wait(10)
            yield self
        finally:
            self._client.disconnect()
            self._client.loop_stop()


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = "fc-" + uuid.uuid4().hex[:8]
    yield prefix
    delete_namespace(prefix)


def test_sigkill_mid_rollout_resumes_without_sending_a_job_twice(tmp_path: Path, prefix: str) -> None:
    require_server("RabbitMQ", "127.0.0.1", 5672)
    require_server("Mosquitto", "127.0.0.1", 1883)
    port = free_port()
    env = rollout_env(prefix) | {
        "IOTMON_AMQP_URL": AMQP_URL,
        "IOTMON_BUS_EXCHANGE": f"{prefix}.events",
        "IOTMON_BUS_QUEUE_PREFIX": prefix,
        "IOTMON_FIRMWARE_ADDR": f"127.0.0.1:{port}",
    }
    topics = f"{prefix}/devices"
    data_dir = tmp_path / "data"
    with iotmon_up(data_dir, env, without=["firmware"]) as mesh:
        service_env = env | {"IOTMON_DEVICE_ADDR": mesh.addresses["device"], "IOTMON_PUBLIC_URL": mesh.gateway}
        api = signed_in(mesh)
        devices = register_devices(api, "crash", DEVICES)
        behaviours = dict.fromkeys(devices, STEADY)
        with NotifyCounter(topics).listening() as counter, ExitStack() as running:
            first = running.enter_context(iotmon_serve("firmware", data_dir, port, service_env))
            # Booting devices ask for their next job at once: the service must be there to answer.
            fleet = running.enter_context(SimulatedDevices(devices, topics, behaviours))
            firmware_id = release(api, tmp_path, "v4.0.0")
            created = deploy(api, firmware_id, devices, batchSize=10, jobTimeoutSeconds=60)
            deployment_id = created["deploymentId"]
            wait_until(
                lambda: deployment_of(api, deployment_id),
                # Well into the second batch: its jobs were sent (and recorded as sent) a while ago.
                lambda d: d["batches"][1]["status"] == "in_progress" and d["progress"]["succeeded"] >= 12,
                what="the second batch installing",
            )
            first.process.kill()  # SIGKILL: no drain, no lease released, reports in flight unanswered
            first.process.wait()
            assert api.get(f"/firmware/deployments/{deployment_id}").status_code == 503
            succeeded_at_kill = fleet.counts.succeeded

            with iotmon_serve("firmware", data_dir, port, service_env) as second:
                done = wait_until(
                    lambda: api.get(f"/firmware/deployments/{deployment_id}"),
                    # 503 until the gateway's channel reconnects to the restarted service.
                    lambda r: r.status_code == 200 and r.json()["status"] in ("completed", "halted"),
                    timeout=60,
                    what="the rollout's end after the restart",
                ).json()
                time.sleep(1)  # a notification sent twice would show by now
                jobs = jobs_of(api, deployment_id)
                second.process.terminate()
                assert second.process.wait(30) == 0, "iotmon serve firmware must close cleanly on SIGTERM"
            final_versions = fleet.versions()
        device_versions = versions_of(api, devices)
        assert mesh.stop() == 0

    assert 10 <= succeeded_at_kill < DEVICES, "the kill must happen mid-rollout"
    assert done["status"] == "completed"
    assert done["progress"] == {"total": DEVICES, "succeeded": DEVICES, "failed": 0, "inProgress": 0, "pending": 0}
    assert [b["status"] for b in done["batches"]] == ["completed"] * 3
    assert set(final_versions.values()) == {"v4.0.0"}
    assert device_versions == dict.fromkeys(devices, "v4.0.0")
    # Every job was announced, each (job, attempt) exactly once, across the kill and the restart.
    assert {(j["jobId"], j["attempt"]) for j in jobs} == set(counter.queued)
    assert {j["status"] for j in jobs} == {"SUCCEEDED"}
    twice = {key: n for key, n in counter.queued.items() if n > 1}
    assert not twice, f"jobs sent twice: {twice}"


def signed_in(mesh: RunningMesh) -> httpx.Client:
    token = mesh.token(role="admin", user="user-admin", email="admin@example.com")
    return httpx.Client(base_url=mesh.gateway, headers={"Authorization": f"Bearer {token}"}, timeout=30)
