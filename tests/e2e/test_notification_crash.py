"""SIGKILL the notification service during a burst of alerts, restart it, and count the emails.

The mesh runs with RabbitMQ as its bus and the notification service in a process of its own (`iotmon up
--without notification` plus `iotmon serve notification`, as in the deployed layout). Alert events wait in
the service's durable queue while it is dead and are acknowledged only after their deliveries are recorded,
so the restarted service finishes the burst; the delivery log's (alert, user, channel) key keeps a
redelivered event from mailing anyone twice.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_alert_workflow import RULE, publish_readings, register, require_servers, sign_in, workflow_env
from tests.support.mesh import iotmon_serve, iotmon_up
from tests.support.rabbitmq import delete_namespace
from tests.support.smtp import smtp_server

DEVICES = 60


def alert_ids_mailed(messages: list[EmailMessage], alert_ids: set[str]) -> Counter[str]:
    """Which alert each email is about (its text names the alert)."""
    mailed: Counter[str] = Counter()
    for message in messages:
        text = message.get_body(("plain", "html"))
        content = text.get_content() if text is not None else ""
        mailed.update(alert_id for alert_id in alert_ids if alert_id in content)
    return mailed


def wait_for_alerts(api: httpx.Client, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(api.get("/alerts", params={"pageSize": 100}).json()["items"]) < count:
        assert time.monotonic() < deadline, f"fewer than {count} alerts within {timeout} s"
        time.sleep(0.2)


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = "nc-" + uuid.uuid4().hex[:8]
    yield prefix
    delete_namespace(prefix)


def test_sigkill_during_a_burst_sends_every_email_exactly_once(tmp_path: Path, prefix: str) -> None:
    require_servers()
    with smtp_server() as smtp:
        # Nothing in this test calls the notification service, so each start takes a free port of its own
        # (a port picked in advance could be handed to one of the mesh's own `--port 0` services meanwhile).
        env = workflow_env(prefix, smtp)
        with iotmon_up(tmp_path, env, without=["notification"]) as mesh:
            service_env = env | {"IOTMON_IDENTITY_ADDR": mesh.addresses["identity"]}
            api = sign_in(mesh)
            assert api.post("/alert-rules", json=RULE).status_code == 201
            devices = [register(api, f"SN-{prefix}-{i}") for i in range(DEVICES)]

            # A first start declares the service's durable queue; while it is stopped the alerts of the
            # burst wait there, so the next start meets all of them at once.
            with iotmon_serve("notification", tmp_path, 0, service_env) as declaring:
                declaring.process.terminate()
                assert declaring.process.wait(30) == 0
            publish_readings(prefix, [(device_id, 45.0) for device_id in devices])
            wait_for_alerts(api, DEVICES)
            with iotmon_serve("notification", tmp_path, 0, service_env) as first:
                smtp.wait_for(3, timeout=30)
                first.process.kill()  # SIGKILL mid-burst: no drain, deliveries in flight unacknowledged
                first.process.wait()
            mailed_before_restart = len(smtp.received())

            with iotmon_serve("notification", tmp_path, 0, service_env):
                smtp.wait_for(DEVICES, timeout=60)
                time.sleep(2)  # anything still arriving would be a duplicate
            alerts = httpx.get(
                f"{mesh.gateway}/alerts", params={"pageSize": 100}, headers=dict(api.headers), timeout=30
            ).json()["items"]
            assert mesh.stop() == 0

    alert_ids = {alert["alertId"] for alert in alerts}
    assert len(alert_ids) == DEVICES
    mailed = alert_ids_mailed(smtp.received(), alert_ids)
    assert mailed_before_restart < DEVICES, "the kill must happen mid-burst"
    assert set(mailed) == alert_ids
    assert len(smtp.received()) == DEVICES
    assert max(mailed.values()) == 1, f"emails sent twice: {[a for a, n in mailed.items() if n > 1]}"
