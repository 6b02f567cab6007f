"""Spec §6.2: a background job deleting resolved alerts older than the configured age, once a day."""

from __future__ import annotations

import asyncio
import logging

from services.alerting.domain.service import AlertingService

log = logging.getLogger("iotmon.alerting.cleanup")


class ResolvedAlertsCleanup:
    def __init__(self, service: AlertingService, max_age_seconds: float, interval_seconds: float):
        self._service = service
        self._max_age_ms = int(max_age_seconds * 1000)
        self._interval = interval_seconds

    async def run_once(self) -> int:
        deleted = await self._service.delete_old_resolved(self._max_age_ms)
        log.info("deleted old resolved alerts", extra={"deleted": deleted, "maxAgeDays": self._max_age_ms / 86_400_000})
        return deleted

    async def run(self) -> None:
        """Clean at start, then every interval; a failed round is logged and the next one tries again."""
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("cleaning up old resolved alerts failed; trying again next round")
            await asyncio.sleep(self._interval)
