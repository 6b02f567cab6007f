"""Settings shared by every process, read from IOTMON_* environment variables (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_NAMES = ("device", "telemetry", "alerting", "notification", "firmware", "analytics", "identity")

# Default gRPC port of each service when it runs alone (`iotmon serve`); `iotmon up` may pick free ports.
DEFAULT_PORTS = {name: 50051 + i for i, name in enumerate(SERVICE_NAMES)}


class RuntimeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOTMON_", extra="ignore")

    data_dir: Path = Field(default=Path(".iotmon"), description="where embedded adapters keep their files")
    host: str = "127.0.0.1"
    # The gateway as clients and devices reach it: firmware upload and download URLs start with it.
    # `iotmon up` sets it to its own gateway when unset; alone, a service assumes http://127.0.0.1:8080.
    public_url: str | None = None
    log_level: str = "INFO"
    # Seconds a stopping server lets in-flight calls finish.
    grace_seconds: float = 10.0

    # Token verification. Without jwks_url the embedded issuer's key set in the data directory is used.
    jwt_issuer: str = "iotmon-local"
    jwt_audience: str = "iotmon"
    jwks_url: str | None = None
    # Cognito ID tokens carry token_use=id; set to "id" to require it.
    jwt_token_use: str | None = None

    # Service tokens: how services authenticate to each other for internal RPCs and device ingest.
    # Embedded mode signs them with the data directory's key; in production a token file is mounted
    # (a Kubernetes Secret) and verifiers read the service JWK set from service_jwks_path.
    service_issuer: str = "iotmon-services"
    service_audience: str = "iotmon-internal"
    service_jwks_path: Path | None = None
    service_token_file: Path | None = None

    # The event bus: RabbitMQ when an AMQP URL is set, else in-process (one process: `iotmon up`).
    amqp_url: str | None = None
    bus_exchange: str = "iotmon.events"
    # Queue names start with it (iotmon.<group>.…): deployments or test runs sharing a broker keep apart.
    bus_queue_prefix: str = "iotmon"
    # Partitions of partitioned subscriptions (alerting's per-device state); every process must agree.
    bus_partitions: int = Field(default=16, ge=1, le=256)
    # How often replicas of a partitioned group tell each other they are alive (3 missed: gone, re-shared).
    bus_heartbeat_seconds: float = Field(default=2.0, gt=0)
    # Deliveries of one event to a failing handler before it goes to the group's dead-letter queue.
    bus_max_deliveries: int = Field(default=5, ge=1)

    # Addresses of the services (host:port), used by the gateway and by services calling each other.
    device_addr: str = f"127.0.0.1:{DEFAULT_PORTS['device']}"
    telemetry_addr: str = f"127.0.0.1:{DEFAULT_PORTS['telemetry']}"
    alerting_addr: str = f"127.0.0.1:{DEFAULT_PORTS['alerting']}"
    notification_addr: str = f"127.0.0.1:{DEFAULT_PORTS['notification']}"
    firmware_addr: str = f"127.0.0.1:{DEFAULT_PORTS['firmware']}"
    analytics_addr: str = f"127.0.0.1:{DEFAULT_PORTS['analytics']}"
    identity_addr: str = f"127.0.0.1:{DEFAULT_PORTS['identity']}"

    def addr(self, service: str) -> str:
        value = getattr(self, f"{service}_addr")
        assert isinstance(value, str)
        return value

    @property
    def keys_dir(self) -> Path:
        """Where the embedded issuer keeps its signing key (services sign their own tokens with it too)."""
        return self.data_dir / "keys"

    @property
    def jwks_path(self) -> Path:
        """The embedded issuer publishes its public keys here; verifiers read them when no URL is set."""
        return self.keys_dir / "jwks.json"
