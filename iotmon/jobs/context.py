"""What a job run gets: the settings, a service token, channels to the services, and the bus when one is reachable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import grpc.aio

from iotmon.jobs.settings import JobSettings
from services.runtime.bus import EventBus
from services.runtime.clients import open_channel
from services.runtime.service_tokens import ServiceTokens
from services.runtime.settings import RuntimeSettings

# The principal jobs act as: a service, so the internal RPCs accept it.
PRINCIPAL = "iotmon-jobs"


@dataclass
class JobOptions:
    """Per-run overrides from the command line (None: the service's own setting)."""

    retention_days: float | None = None
    older_than_days: float | None = None
    month: str | None = None


@dataclass
class JobContext:
    settings: RuntimeSettings
    jobs: JobSettings
    # The mesh's own bus when `iotmon up` runs the job; RabbitMQ when IOTMON_AMQP_URL is set; else None.
    bus: EventBus | None = None
    options: JobOptions = field(default_factory=JobOptions)
    tokens: ServiceTokens | None = None

    def __post_init__(self) -> None:
        if self.tokens is None:
            self.tokens = ServiceTokens(self.settings, PRINCIPAL)

    def channel(self, service: str) -> grpc.aio.Channel:
        return open_channel(self.settings.addr(service), service_tokens=self.tokens)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The service token as call metadata: needed on server-streaming calls, which the channel's token
        interceptors (unary and client-streaming) do not cover."""
        assert self.tokens is not None
        return (("authorization", f"Bearer {self.tokens.token()}"),)


@dataclass
class JobResult:
    ok: bool
    counters: Mapping[str, float] = field(default_factory=dict)
    summary: str = ""
