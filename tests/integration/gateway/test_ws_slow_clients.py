"""A client that stops reading is closed with 1013 while the others keep receiving, and what the server
holds for it stays bounded by the send queue."""

from __future__ import annotations

import asyncio
import json

from tests.integration.gateway.test_ws import (
    RawClient,
    client,
    hub_under_test,
    readings_stored,
    receive,
    send,
    wait_until,
)
from tests.support.tokens import TokenMinter

QUEUE = 16
MAX_EVENTS = 5_000
# About 1 KiB per message, so the socket buffers between server and client fill after a few hundred.
VALUES = {f"metric_{i:02d}": 1000.0 + i for i in range(40)}


async def test_a_client_that_never_reads_is_closed_and_the_others_keep_receiving(token_minter: TokenMinter) -> None:
    async with hub_under_test(token_minter, send_queue_size=QUEUE) as env:
        env.devices.add("dev-1", "org-1")
        stalled = RawClient(env.url(org="org-1"))
        await stalled.open()
        stalled.send_text(json.dumps({"action": "subscribe", "deviceIds": ["dev-1"]}))
        async with client(env.url(org="org-1")) as reader:
            await send(reader, {"action": "subscribe", "deviceIds": ["dev-1"]})
            await wait_until(lambda: env.hub.watchers_of("org-1", "dev-1") == 2)  # the stalled one's, too

            received: list[dict[str, object]] = []
            reading = asyncio.create_task(_read_into(reader, received))
            published, most_queued = 0, 0
            while env.hub.watchers_of("org-1", "dev-1") == 2 and published < MAX_EVENTS:
                await env.publish("telemetry.readings_stored", readings_stored("org-1", ("dev-1", VALUES)))
                published += 1
                most_queued = max(most_queued, *(c.queued for c in env.hub.connections()))
                await asyncio.sleep(0)
            closed_after = published
            # Delivery to the reader goes on after the stalled client was dropped.
            for _ in range(20):
                await env.publish("telemetry.readings_stored", readings_stored("org-1", ("dev-1", VALUES)))
                published += 1
                await asyncio.sleep(0)
            await wait_until(lambda: len(received) == published, seconds=10)
            reading.cancel()

        # Now the stalled client reads: what was already in flight, then the close frame with the reason.
        texts, close = await stalled.read_until_closed()
        stalled.close()

    assert closed_after < MAX_EVENTS, "the stalled client was never closed"
    assert most_queued <= QUEUE
    assert len(received) == published
    assert all(m["type"] == "reading" for m in received)
    assert close is not None
    assert (close.code, close.reason) == (1013, "client too slow")
    assert 0 < len(texts) < closed_after  # it got what fitted in the buffers, not everything
    assert env.hub.connection_count == 0


async def _read_into(ws: object, received: list[dict[str, object]]) -> None:
    while True:
        received.append(await receive(ws))  # type: ignore[arg-type]
