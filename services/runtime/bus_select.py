"""Which event bus a process uses: RabbitMQ when IOTMON_AMQP_URL is set, else the in-process one."""

from __future__ import annotations

from services.runtime.bus import EventBus, InProcessBus
from services.runtime.settings import RuntimeSettings


def open_bus(settings: RuntimeSettings) -> EventBus:
    """A bus not yet started: subscribe first, then start() (subscribing after start works too)."""
    if settings.amqp_url:
        # Imported here: processes on the in-process bus never load aio-pika.
        from services.runtime.bus_rabbitmq import RabbitMqBus
        from services.runtime.bus_topology import RabbitMqOptions

        return RabbitMqBus(RabbitMqOptions.from_settings(settings))
    return InProcessBus(settings.bus_partitions, settings.bus_max_deliveries)
