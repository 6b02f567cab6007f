"""Gateway-only settings (IOTMON_GATEWAY_*); everything shared comes from RuntimeSettings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOTMON_GATEWAY_", extra="ignore")

    upstream_timeout_seconds: float = Field(default=30.0, gt=0, description="deadline of every upstream call")
    max_body_bytes: int = Field(default=MIB, gt=0, description="larger request bodies are refused with 413")
    # Per token (organization and subject) and per gateway process; docs/security.md.
    rate_limit_per_second: float = Field(
        default=100.0, ge=0, description="requests one token may make per second on average; 0 turns the limit off"
    )
    rate_limit_burst: int = Field(default=200, gt=0, description="requests one token may make at once")
    readiness_cache_seconds: float = Field(default=1.0, ge=0, description="how long /readyz reuses its answer")
    health_check_timeout_seconds: float = Field(default=1.0, gt=0, description="deadline of one health check")
    ws_send_queue_size: int = Field(
        default=256, gt=0, description="messages queued for one WebSocket client before it is closed as too slow"
    )
    ws_max_devices: int = Field(default=1000, gt=0, description="devices one WebSocket connection may watch")
