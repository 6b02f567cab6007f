"""Where the MQTT source connects (IOTMON_MQTT_URL) and how it subscribes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.runtime.mqtt import check_client_id, host_client_id


def default_client_id() -> str:
    """iotmon-telemetry-<hostname>: stable across restarts of one host or pod, so a restarted consumer resumes
    its session. Not per process on purpose: an abandoned session in the shared group would keep receiving
    its share of the readings until it expired (a day). Two consumers on one host each need
    IOTMON_TELEMETRY_MQTT_CLIENT_ID (otherwise they take the connection from each other, see
    docs/telemetry_sources.md)."""
    return host_client_id("iotmon-telemetry")


@dataclass(frozen=True)
class MqttOptions:
    # Stable per replica (a pod name, a host name): the broker keeps the session — the subscription and
    # every unacknowledged message — under this id while the replica is away. Two live connections with
    # one id take the session from each other, so each consumer process needs its own.
    client_id: str = field(default_factory=default_client_id)
    # Replicas sharing a group split the messages ($share/<group>/...); None subscribes plainly, and
    # every subscriber then gets every message.
    group: str | None = "iotmon-telemetry"
    topic_prefix: str = "devices"
    batch_size: int = 100
    linger_seconds: float = 0.05
    # Unacknowledged messages the broker may have in flight to us (MQTT 5 Receive Maximum). Far above
    # batch_size, for two reasons: Mosquitto's default for clients that do not say is 20, which starves a
    # consumer acknowledging only after a batch is stored; and beyond this window the broker queues only
    # max_queued_messages (1,000 by default) and then drops QoS 1 messages, so the window is what absorbs
    # a pause of the pipeline (measured: with 1,000, a 1 s stall at 2,000 msg/s lost a third).
    receive_maximum: int = 10_000
    # How long the broker keeps the session after a disconnect (IoT Core allows up to 7 days).
    session_expiry_seconds: int = 86_400
    keepalive_seconds: int = 30
    # paho's reconnect back-off doubles from the first to the second (whole seconds).
    reconnect_min_seconds: int = 1
    reconnect_max_seconds: int = 30
    # mqtts:// (IoT Core): CA bundle and the client certificate and key the broker authenticates.
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def __post_init__(self) -> None:
        check_client_id(self.client_id)
        if not 1 <= self.batch_size <= self.receive_maximum <= 65_535:
            raise ValueError("need 1 <= batch_size <= receive_maximum <= 65535")
        if self.group is not None and not re.match(r"^[^/+#]+$", self.group):
            raise ValueError(f"a shared-subscription group may not contain '/', '+' or '#': {self.group!r}")

    @property
    def topic_filter(self) -> str:
        return f"{self.topic_prefix}/+/telemetry"

    @property
    def subscription(self) -> str:
        return f"$share/{self.group}/{self.topic_filter}" if self.group else self.topic_filter

    def device_of(self, topic: str) -> str | None:
        """The {deviceId} of <prefix>/{deviceId}/telemetry; None for any other topic."""
        head, tail = self.topic_prefix + "/", "/telemetry"
        if not (topic.startswith(head) and topic.endswith(tail)):
            return None
        device = topic[len(head) : -len(tail)]
        return device if device and "/" not in device else None
