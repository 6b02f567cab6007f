"""Where the MQTT job channel connects (IOTMON_MQTT_URL), how it subscribes, and its topic names.

Topics live under the platform's device tree (not `$aws/things/...`), so one Mosquitto ACL or IoT Core policy
line (`devices/<id>/*`) covers telemetry and jobs alike. docs/device-jobs.md describes them for devices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.runtime.mqtt import check_client_id, process_client_id


def default_client_id() -> str:
    """iotmon-firmware-jobs-<hostname>-<pid>-<random>: unique per process, so two services on one host never
    take each other's connection; no session outlives it (session_expiry_seconds 0, docs/device-jobs.md)."""
    return process_client_id("iotmon-firmware-jobs")


@dataclass(frozen=True)
class MqttJobOptions:
    client_id: str = field(default_factory=default_client_id)
    # Replicas sharing a group split the device requests ($share/<group>/...), so each is answered once;
    # None subscribes plainly (one replica only).
    group: str | None = "iotmon-firmware"
    topic_prefix: str = "devices"
    # How long the broker keeps our session (and the requests sent meanwhile) after a disconnect. 0 with the
    # per-process default id: a later process never resumes that session, and a broker that keeps offline
    # members in a shared group (Mosquitto does) would queue a share of the requests to it until it expired.
    # A stable configured id may keep one (the bootstrap then defaults to 3600).
    session_expiry_seconds: int = 0
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
        check_client_id(self.client_id)
        if self.session_expiry_seconds < 0:
            raise ValueError("session_expiry_seconds must be at least 0")
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
