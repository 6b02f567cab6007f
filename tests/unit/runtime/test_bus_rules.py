"""The bus's pure rules: AMQP topic matching, partition choice, the RabbitMQ names, and which bus a process gets."""

from __future__ import annotations

import pytest

from services.runtime import bus_topology as topology
from services.runtime.bus import InProcessBus, partition_of, topic_matches
from services.runtime.bus_select import open_bus
from services.runtime.settings import RuntimeSettings


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("device.*", "device.deleted", True),
        ("device.*", "device.status.changed", False),
        ("device.*", "device", False),
        ("device.#", "device", True),
        ("device.#", "device.status.changed", True),
        ("device.#", "devices.deleted", False),
        ("#", "anything.at.all", True),
        ("*.deleted", "device.deleted", True),
        ("*.deleted", "device.soft.deleted", False),
        ("#.deleted", "device.soft.deleted", True),
        ("device.#.changed", "device.changed", True),
        ("device.#.changed", "device.status.was.changed", True),
        ("device.#.changed", "device.status.updated", False),
        ("device.deleted", "device.deleted", True),
        ("device.deleted", "device.deleted.x", False),
    ],
)
def test_topic_matching_follows_amqp(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


def test_a_key_always_lands_in_the_same_partition_within_range() -> None:
    keys = [f"dev-{i}" for i in range(500)]
    partitions = [partition_of(key, 16) for key in keys]
    assert partitions == [partition_of(key, 16) for key in keys]
    assert set(partitions) == set(range(16))  # crc32 spreads 500 keys over every partition


def test_queue_names_are_readable_and_reserved_suffixes_refused() -> None:
    assert topology.group_queue("alerting", "device.#") == "iotmon.alerting.device.all"
    assert topology.group_queue("alerting", "*.deleted") == "iotmon.alerting.any.deleted"
    assert topology.group_queue("alerting", "a b/c") == "iotmon.alerting.a_b_c"
    assert topology.partition_queue("alerting", 3) == "iotmon.alerting.p3"
    assert topology.dead_queue("alerting") == "iotmon.alerting.dead"
    assert topology.dead_exchange("iotmon.events") == "iotmon.events.dead"
    for pattern in ("dead", "p7", "partitions"):
        with pytest.raises(ValueError, match="reserves"):
            topology.group_queue("alerting", pattern)


def test_shared_queues_count_deliveries_and_dead_letter_to_their_group() -> None:
    arguments = topology.partition_queue_arguments("alerting", "iotmon.events", max_deliveries=5)
    assert arguments["x-queue-type"] == "quorum"
    assert arguments["x-delivery-limit"] == 4  # RabbitMQ delivers limit + 1 times
    assert arguments["x-dead-letter-exchange"] == "iotmon.events.dead"
    assert arguments["x-dead-letter-routing-key"] == "alerting"
    assert arguments["x-single-active-consumer"] is True
    assert "x-single-active-consumer" not in topology.shared_queue_arguments("g", "e", 5)


def test_open_bus_picks_rabbitmq_only_when_an_amqp_url_is_set() -> None:
    from services.runtime.bus_rabbitmq import RabbitMqBus

    settings = RuntimeSettings(amqp_url=None, bus_partitions=8)
    plain = open_bus(settings)
    assert isinstance(plain, InProcessBus)
    assert plain.partitions == 8

    rabbit = open_bus(RuntimeSettings(amqp_url="amqp://guest:guest@127.0.0.1:5672/", bus_partitions=8))
    assert isinstance(rabbit, RabbitMqBus)
    assert rabbit.partitions == 8
