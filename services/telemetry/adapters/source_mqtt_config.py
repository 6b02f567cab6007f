"""Where the MQTT source connects (IOTMON_MQTT_URL) and how it subscribes."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
# A client id safe for every broker (IoT Core allows up to 128 characters of this set).
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")


@dataclass(frozen=True)
class MqttEndpoint:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> MqttEndpoint:
        """mqtt://host:port or mqtts://host:port, with optional user:password@ (percent-encoded)."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"not an MQTT URL (mqtt://host:port or mqtts://host:port): {url!r}")
        return cls(
            host=parts.hostname,
            port=parts.port or DEFAULT_PORTS[parts.scheme],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=parts.scheme == "mqtts",
        )

    def __str__(self) -> str:  # never prints the password (logs, banners)
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def default_client_id() -> str:
    """Stable across restarts of one host or pod; two consumers on one host need ids of their own."""
    return re.sub(r"[^A-Za-z0-9_.:@-]", "-", f"iotmon-telemetry-{socket.gethostname()}")[:128]


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
        if not _CLIENT_ID.match(self.client_id):
            raise ValueError(f"MQTT client id must be 1-128 of [A-Za-z0-9_.:@-]: {self.client_id!r}")
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
