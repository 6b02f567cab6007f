"""Where the MQTT job channel connects (IOTMON_MQTT_URL), how it subscribes, and its topic names.

Topics live under the platform's device tree (not `$aws/things/...`), so one Mosquitto ACL or IoT Core policy
line (`devices/<id>/*`) covers telemetry and jobs alike. docs/device-jobs.md describes them for devices.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")


@dataclass(frozen=True)
class MqttEndpoint:
    """Parsed like the telemetry source's IOTMON_MQTT_URL (services cannot share adapter code)."""

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

    def __str__(self) -> str:  # never prints the password
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def default_client_id() -> str:
    """Stable per host or pod (the broker keeps the session under it); unique per process on one host."""
    return re.sub(r"[^A-Za-z0-9_.:@-]", "-", f"iotmon-firmware-jobs-{socket.gethostname()}")[:128]


@dataclass(frozen=True)
class MqttJobOptions:
    client_id: str = field(default_factory=default_client_id)
    # Replicas sharing a group split the device requests ($share/<group>/...), so each is answered once;
    # None subscribes plainly (one replica only).
    group: str | None = "iotmon-firmware"
    topic_prefix: str = "devices"
    # How long the broker keeps our session (and the requests sent meanwhile) after a disconnect.
    session_expiry_seconds: int = 3600
    keepalive_seconds: int = 30
    reconnect_min_seconds: int = 1
    reconnect_max_seconds: int = 30
    # notify()/cancel() wait this long for the broker's PUBACK, then raise Unavailable (the caller retries).
    publish_timeout_seconds: float = 10.0
    # Requests are handled concurrently, but those of one device in arrival order (one worker per device hash).
    workers: int = 8
    # mqtts:// (IoT Core): CA bundle and the client certificate and key.
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def __post_init__(self) -> None:
        if not _CLIENT_ID.match(self.client_id):
            raise ValueError(f"MQTT client id must be 1-128 of [A-Za-z0-9_.:@-]: {self.client_id!r}")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")

    @property
    def topics(self) -> JobTopics:
        return JobTopics(self.topic_prefix)


@dataclass(frozen=True)
class JobTopics:
    """The job topics of every device under one prefix (`devices` in production)."""

    prefix: str = "devices"

    def notify_next(self, device_id: str) -> str:
        return f"{self.prefix}/{device_id}/jobs/notify-next"

    def get_next(self, device_id: str) -> str:
        return f"{self.prefix}/{device_id}/jobs/$next/get"

    def update(self, device_id: str, job_id: str) -> str:
        return f"{self.prefix}/{device_id}/jobs/{job_id}/update"

    def cancel(self, device_id: str, job_id: str) -> str:
        return f"{self.prefix}/{device_id}/jobs/{job_id}/cancel"

    def subscriptions(self, group: str | None) -> list[str]:
        """What the service listens to: every device's `$next/get` and `{jobId}/update` requests."""
        filters = [f"{self.prefix}/+/jobs/$next/get", f"{self.prefix}/+/jobs/+/update"]
        return [f"$share/{group}/{topic}" for topic in filters] if group else filters

    def parse(self, topic: str) -> tuple[str, str, str] | None:
        """(device_id, job_id or "$next", "get" | "update") of a request topic; None for anything else."""
        head = self.prefix + "/"
        if not topic.startswith(head):
            return None
        parts = topic[len(head) :].split("/")
        if len(parts) != 4 or parts[1] != "jobs" or not parts[0] or not parts[2]:
            return None
        device_id, _, job_id, action = parts
        if action == "get" and job_id == "$next":
            return device_id, job_id, action
        if action == "update" and job_id != "$next":
            return device_id, job_id, action
        return None
