"""SIGKILL a dispatcher on RabbitMQ during a burst of alerts, restart it, and count the emails.

The kill leaves events unacknowledged and delivery rows pending; the restarted worker (same worker id)
takes its pending rows back at once and skips the rows already sent, so every user gets each alert once.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aio_pika
import pytest

from services.notification.adapters.bus_events import ALERT_TRIGGERED
from services.runtime.bus_rabbitmq import RabbitMqBus
from services.runtime.bus_topology import RabbitMqOptions, dead_queue, group_queue
from tests.integration.notification.support import alert_triggered
from tests.support.servers import require_server
from tests.support.smtp import smtp_server

pytestmark = pytest.mark.needs_server

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
ALERTS = 60
USERS = ("ops-1", "ops-2")


@contextmanager
def worker(env: dict[str, str], stderr: Path) -> Iterator[subprocess.Popen[str]]:
    with stderr.open("a") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.notification.crash_worker"],
            env=os.environ | env,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(10)


async def publish_burst(exchange: str) -> None:
    bus = RabbitMqBus(RabbitMqOptions(url=AMQP_URL, exchange=exchange))
    await bus.start()
    try:
        for n in range(ALERTS):
            event = alert_triggered(f"alert-{n:03d}", channels=("email",))
            await bus.publish(ALERT_TRIGGERED, event, partition_key=event.alert.device_id)
    finally:
        await bus.close()


async def delete_queues(group: str) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        for name in (group_queue(group, ALERT_TRIGGERED), dead_queue(group)):
            await channel.queue_delete(name)


def test_sigkill_mid_burst_mails_every_alert_once_per_user(tmp_path: Path) -> None:
    require_server("RabbitMQ", "127.0.0.1", 5672)
    run = uuid.uuid4().hex[:8]
    group = f"notification-crash-{run}"
    with smtp_server() as inbox:
        env = {
            "CRASH_AMQP_URL": AMQP_URL,
            "CRASH_EXCHANGE": f"crash-{run}.events",
            "CRASH_GROUP": group,
            "CRASH_SMTP_URL": inbox.url,
            "CRASH_DB": str(tmp_path / "notification.db"),
            "CRASH_USERS": ",".join(USERS),
        }
        try:
            with worker(env, tmp_path / "worker.log") as first:
                asyncio.run(publish_burst(env["CRASH_EXCHANGE"]))
                inbox.wait_for(10, timeout=30)
                first.kill()  # SIGKILL: no drain, in-flight events unacknowledged, rows left pending
                first.wait()
            before_restart = len(inbox.received())
            with worker(env, tmp_path / "worker.log"):
                inbox.wait_for(ALERTS * len(USERS), timeout=60)
                time.sleep(1.5)  # anything arriving now would be a duplicate
        finally:
            asyncio.run(delete_queues(group))

    mailed = Counter((str(m["To"]), str(m["Message-ID"])) for m in inbox.received())
    assert before_restart < ALERTS * len(USERS), "the kill must happen mid-burst"
    assert len(mailed) == ALERTS * len(USERS)
    duplicates = {key: n for key, n in mailed.items() if n > 1}
    assert not duplicates, f"sent twice: {duplicates}"
    rows = sqlite3.connect(tmp_path / "notification.db").execute("SELECT status, attempts FROM deliveries").fetchall()
    assert len(rows) == ALERTS * len(USERS)
    assert {status for status, _ in rows} == {"sent"}
    # Rows the kill left pending were either sent again (attempts 2) or confirmed as handed over.
    resent = sum(attempts == 2 for _, attempts in rows)
    confirmed = (tmp_path / "worker.log").read_text().count("delivery confirmed after a crash")
    print(f"before restart {before_restart}, resent {resent}, confirmed {confirmed}")
