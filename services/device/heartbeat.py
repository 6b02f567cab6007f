"""The heartbeat: a background task of the device service that takes silent devices offline.

A driving edge like the servicer, only driven by a timer instead of requests: it calls the use case and
does nothing else. Every replica may run it; the revision check on each save lets one of them win.
"""

from __future__ import annotations

import asyncio
import logging

from services.device.domain.liveness import SWEEP_BATCH, LivenessService

log = logging.getLogger("iotmon.device.heartbeat")

# Rounds of one sweep at most, so that a store answering stale candidates cannot keep a sweep going.
MAX_ROUNDS = 20


class HeartbeatSweeper:
    def __init__(self, liveness: LivenessService, interval_seconds: float, batch: int = SWEEP_BATCH):
        self._liveness = liveness
        self._interval = interval_seconds
        self._batch = batch

    async def run(self) -> None:
        """Sweep every interval until cancelled; a failed sweep (store unreachable) is logged and retried."""
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("heartbeat sweep failed; retrying at the next interval")
            await asyncio.sleep(self._interval)

    async def sweep(self) -> int:
        """Take every silent device offline, a batch at a time; returns how many went offline."""
        taken_offline = 0
        for _ in range(MAX_ROUNDS):
            result = await self._liveness.take_silent_devices_offline(self._batch)
            taken_offline += result.taken_offline
            if result.examined < self._batch or result.taken_offline == 0:
                break
        if taken_offline:
            log.info("devices went offline", extra={"count": taken_offline})
        return taken_offline
