"""A notification dispatcher in a process of its own, on RabbitMQ, for test_crash.py to SIGKILL.

Configured by environment: CRASH_AMQP_URL, CRASH_EXCHANGE, CRASH_GROUP, CRASH_SMTP_URL, CRASH_DB, CRASH_USERS
(comma-separated user ids, each mailed at <id>@example.com). Prints "ready" once it consumes.
"""

from __future__ import annotations

import asyncio
import os

import httpx

from services.notification.adapters.bus_events import BusDeliveryEvents, subscribe_to_alerts
from services.notification.adapters.delivery_log_sqlite import SqliteDeliveryLog
from services.notification.adapters.email_smtp import SmtpEmailSender, SmtpServer
from services.notification.adapters.outbox import OutboxPushSender, OutboxSmsSender
from services.notification.adapters.templates import JinjaRenderer
from services.notification.adapters.webhook_http import HttpWebhookSender
from services.notification.domain.dispatcher import DispatchSettings, NotificationDispatcher
from services.notification.ports import Senders
from services.runtime.bus_rabbitmq import RabbitMqBus
from services.runtime.bus_topology import RabbitMqOptions
from tests.integration.notification.support import FakeUserDirectory, user


async def main() -> None:
    env = os.environ
    bus = RabbitMqBus(RabbitMqOptions(url=env["CRASH_AMQP_URL"], exchange=env["CRASH_EXCHANGE"]))
    log = SqliteDeliveryLog(env["CRASH_DB"])
    async with httpx.AsyncClient() as http:
        senders = Senders(
            email=SmtpEmailSender(SmtpServer.from_url(env["CRASH_SMTP_URL"]), "alerts@iotmon.example"),
            push=OutboxPushSender(),
            sms=OutboxSmsSender(),
            webhook=HttpWebhookSender(http, b"secret"),
        )
        dispatcher = NotificationDispatcher(
            FakeUserDirectory([user(u) for u in env["CRASH_USERS"].split(",")]),
            log,
            JinjaRenderer(),
            senders,
            BusDeliveryEvents(bus),
            DispatchSettings(owner="crash-worker"),
        )
        subscribe_to_alerts(bus, dispatcher.dispatch, group=env["CRASH_GROUP"])
        await bus.start()
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
