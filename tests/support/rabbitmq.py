"""Removing what a test run declared on the shared local RabbitMQ: its queues and exchanges by name prefix.

The bus names everything after IOTMON_BUS_QUEUE_PREFIX and IOTMON_BUS_EXCHANGE, so an e2e run that sets both
to a unique prefix can find its objects with rabbitmqctl (on this machine's broker) and delete them over AMQP.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import aio_pika

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def _names(kind: str) -> list[str]:
    if shutil.which("rabbitmqctl") is None:
        return []
    listed = subprocess.run(
        ["rabbitmqctl", f"list_{kind}", "-q", "--no-table-headers", "name"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return [line.strip() for line in listed.stdout.splitlines() if line.strip()]


def delete_namespace(prefix: str) -> None:
    """Delete every queue and exchange whose name starts with `prefix.` (best effort)."""
    queues = [name for name in _names("queues") if name.startswith(prefix + ".")]
    exchanges = [name for name in _names("exchanges") if name.startswith(prefix + ".")]

    async def delete() -> None:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            for queue in queues:
                await channel.queue_delete(queue)
            for exchange in exchanges:
                await channel.exchange_delete(exchange)

    if queues or exchanges:
        asyncio.run(delete())
