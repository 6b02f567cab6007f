"""IOTMON_MQTT_URL and MQTT client ids, shared by every service that talks to the broker (telemetry's source,
firmware's job channel): one parser, so both read the same URL the same way."""

from __future__ import annotations

import os
import re
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
# A client id safe for every broker (IoT Core allows up to 128 characters of this set).
CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
_NOT_IN_CLIENT_ID = re.compile(r"[^A-Za-z0-9_.:@-]")


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


def check_client_id(client_id: str) -> None:
    if not CLIENT_ID.match(client_id):
        raise ValueError(f"MQTT client id must be 1-128 of [A-Za-z0-9_.:@-]: {client_id!r}")


def host_client_id(prefix: str) -> str:
    """<prefix>-<hostname>: stable across restarts of one host or pod, shared by every process on it."""
    return _NOT_IN_CLIENT_ID.sub("-", f"{prefix}-{socket.gethostname()}")[:128]


def process_client_id(prefix: str) -> str:
    """<prefix>-<hostname>-<pid>-<random>: unique per process, so two processes on one host (two `iotmon up`,
    test runs) do not take the broker session from each other. The random part covers pids reused across
    containers that share a hostname. For clients that need no session kept across restarts."""
    suffix = f"-{os.getpid()}-{secrets.token_hex(3)}"
    return host_client_id(prefix)[: 128 - len(suffix)] + suffix
