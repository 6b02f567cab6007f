"""The alerting service on firmware.deployment_changed: a deployment that halted raises one critical alert.

Group "alerting": the replicas share the events; the alert is de-duplicated per deployment in the store, so
redelivered or repeated halted events raise nothing more.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from iot.firmware.v1 import events_pb2, firmware_pb2

from services.alerting.domain.system_alerts import DEFAULT_SUCCESS_THRESHOLD, DeploymentHalted
from services.runtime.bus import EventBus

log = logging.getLogger("iotmon.alerting")

DEPLOYMENT_CHANGED = "firmware.deployment_changed"
GROUP = "alerting"
HALTED = "halted"
# The batch status the orchestrator gives the batch whose success rate stopped the rollout.
FAILED_BATCH = "failed"


def halt_from_event(payload: bytes) -> DeploymentHalted | None:
    """The halt a deployment event tells of; None when the deployment is in any other state."""
    event = events_pb2.DeploymentChanged.FromString(payload)
    deployment = event.deployment
    if deployment.status.strip().lower() != HALTED:
        return None
    failed = _failed_batch(deployment)
    occurred = event.meta.occurred_at
    at_ms = occurred.ToMilliseconds() if event.meta.HasField("occurred_at") else int(time.time() * 1000)
    return DeploymentHalted(
        organization_id=event.meta.organization_id,
        deployment_id=deployment.deployment_id,
        firmware_id=deployment.firmware_id,
        firmware_version=deployment.firmware_version,
        halt_reason=deployment.halt_reason,
        success_rate=failed.success_rate if failed is not None else None,
        success_threshold=deployment.success_threshold or DEFAULT_SUCCESS_THRESHOLD,
        batch_id=failed.batch_id if failed is not None else None,
        at_ms=at_ms,
    )


def _failed_batch(deployment: firmware_pb2.Deployment) -> firmware_pb2.DeploymentBatch | None:
    failed = [b for b in deployment.batches if b.status.strip().lower() == FAILED_BATCH]
    return failed[-1] if failed else None


class DeploymentChangedConsumer:
    """Bus handler; raising (a store that is down) makes the bus redeliver the event."""

    def __init__(self, raise_halted: Callable[[DeploymentHalted], Awaitable[object]]):
        self._raise_halted = raise_halted

    async def __call__(self, routing_key: str, payload: bytes) -> None:
        halt = halt_from_event(payload)
        if halt is None:
            return
        if not halt.organization_id or not halt.deployment_id:
            log.error("halted deployment event without organization or deployment id; dropped")
            return
        await self._raise_halted(halt)


def subscribe_to_deployments(bus: EventBus, raise_halted: Callable[[DeploymentHalted], Awaitable[object]]) -> None:
    bus.subscribe(DEPLOYMENT_CHANGED, DeploymentChangedConsumer(raise_halted), group=GROUP)
