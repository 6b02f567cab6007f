"""Two gateway replicas on RabbitMQ: each hub gets every event (group=None) and serves its own clients."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from services.runtime.bus_rabbitmq import RabbitMqBus
from services.runtime.bus_topology import RabbitMqOptions
from tests.integration.gateway.test_ws import (
    alert_triggered,
    client,
    hub_under_test,
    readings_stored,
    receive,
    send,
)
from tests.support.servers import require_server
from tests.support.tokens import TokenMinter

pytestmark = pytest.mark.needs_server

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


@pytest.fixture
async def buses() -> AsyncIterator[list[RabbitMqBus]]:
    require_server("RabbitMQ", "127.0.0.1", 5672)
    run = uuid.uuid4().hex[:8]
    # An exchange and queues of this run only: other tests on the broker see none of its events.
    options = RabbitMqOptions(url=AMQP_URL, exchange=f"test.ws.{run}", queue_prefix=f"test-ws-{run}")
    started = [RabbitMqBus(options) for _ in range(3)]
    for bus in started:
        await bus.start()
    yield started
    for bus in started:
        await bus.close()


async def test_every_replica_gets_every_event_for_its_own_clients(
    buses: list[RabbitMqBus], token_minter: TokenMinter
) -> None:
    replica_a, replica_b, telemetry = buses
    async with (
        hub_under_test(token_minter, bus=replica_a) as a,
        hub_under_test(token_minter, bus=replica_b) as b,
    ):
        await replica_a.wait_subscribed()
        await replica_b.wait_subscribed()
        for replica in (a, b):
            replica.devices.add("dev-1", "org-1")
        async with client(a.url(org="org-1")) as on_a, client(b.url(org="org-1")) as on_b:
            for ws in (on_a, on_b):
                assert (await send(ws, {"action": "subscribe", "deviceIds": ["dev-1"]}))["deviceIds"] == ["dev-1"]
            await telemetry.publish("telemetry.readings_stored", readings_stored("org-1", ("dev-1", {"t": 21.0})))
            await telemetry.publish("alerting.alert_triggered", alert_triggered("org-1", "dev-1"))

            got = {name: [await receive(ws), await receive(ws)] for name, ws in (("a", on_a), ("b", on_b))}

    for messages in got.values():
        # Each routing key has its own queue, so the two events may arrive in either order.
        by_type = {m["type"]: m for m in messages}
        assert by_type.keys() == {"reading", "alert"}
        assert by_type["reading"]["data"] == {"t": 21.0}
        assert by_type["alert"]["deviceId"] == "dev-1"
