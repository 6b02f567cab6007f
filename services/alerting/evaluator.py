"""Composition of the stream evaluator, for the alerting bootstrap: `jobs = await build_evaluator(...)`.

Settings (IOTMON_ALERTING_*): how often the sweep runs (no-data alerts, silent devices forgotten) and the
rule cache is reloaded as a safety net under alerting.rule_changed, and how long state and caches live.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.alerting.adapters.device_lookup import GrpcDeviceLookup
from services.alerting.adapters.telemetry_consumer import RaiseAlert, RulesSource, TelemetryAlertConsumer
from services.alerting.domain.evaluation import Evaluator
from services.runtime.clients import open_channel
from services.runtime.service import BuildContext
from services.runtime.service_tokens import ServiceTokens

SERVICE_NAME = "alerting"

BackgroundJob = Callable[[], Coroutine[Any, Any, None]]


class EvaluatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOTMON_ALERTING_", extra="ignore")

    sweep_seconds: float = Field(default=5, gt=0, description="how often no-data conditions are checked")
    rules_refresh_seconds: float = Field(default=60, gt=0, description="full rule reload besides rule_changed")
    state_idle_seconds: float = Field(default=3600, gt=0, description="a device silent this long is forgotten")
    hold_gap_seconds: float = Field(
        default=600,
        gt=0,
        description="readings further apart break a streak; a metric silent this long stops counting",
    )
    retry_seconds: float = Field(default=10, gt=0, description="quiet time after raise_alert declined")
    device_cache_seconds: float = Field(default=300, ge=0, description="how long a device's name and type are cached")
    unknown_device_cache_seconds: float = Field(default=5, ge=0)


async def build_evaluator(
    ctx: BuildContext,
    raise_alert: RaiseAlert,
    rules_for_evaluation: RulesSource,
    settings: EvaluatorSettings | None = None,
) -> list[BackgroundJob]:
    """Load the rules, subscribe the evaluator to the bus and return its background jobs (sweep, reload).

    Call before the bus starts (as every bootstrap runs); the device channel closes with ctx.resources.
    """
    settings = settings or EvaluatorSettings()
    channel = open_channel(ctx.settings.device_addr, service_tokens=ServiceTokens(ctx.settings, SERVICE_NAME))
    ctx.resources.push_async_callback(channel.close)
    devices = GrpcDeviceLookup(
        channel, positive_ttl=settings.device_cache_seconds, negative_ttl=settings.unknown_device_cache_seconds
    )
    evaluator = Evaluator(
        retry_seconds=settings.retry_seconds,
        idle_seconds=settings.state_idle_seconds,
        hold_gap_seconds=settings.hold_gap_seconds,
    )
    consumer = TelemetryAlertConsumer(evaluator, devices, raise_alert, rules_for_evaluation)
    await consumer.reload_rules()
    consumer.subscribe(ctx.bus)

    async def sweep() -> None:
        await consumer.sweep_forever(settings.sweep_seconds)

    async def reload() -> None:
        await consumer.reload_forever(settings.rules_refresh_seconds)

    return [sweep, reload]
