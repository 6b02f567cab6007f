"""The deployment orchestrator and monitor (spec §4.6–4.7) as one leased loop.

One replica at a time drives deployments: the one holding the lease `firmware-orchestrator` in the store
(ttl ~5 s, renewed every ~1 s on the store's clock). A replica that dies stops renewing, and another takes
over within the ttl; everything it needs is in the store (deployments, batches, jobs and which attempt of
each job the channel accepted), so a restarted process resumes where the last one stopped without sending a
job twice. Every tick (~0.5 s, or at once when a local report wakes it) starts due deployments, creates the
jobs of a new batch, sends unsent attempts, times out silent devices, retries, and decides batches.
Reports are applied by whichever replica receives them (RolloutService.on_report); only decisions need
the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

from services.firmware.domain.rollout.service import RolloutService
from services.firmware.ports import Leases
from services.kernel.ids import new_id

log = logging.getLogger("iotmon.firmware.orchestrator")

LEASE_NAME = "firmware-orchestrator"


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{new_id('orc')}"


class Orchestrator:
    def __init__(
        self,
        service: RolloutService,
        leases: Leases,
        *,
        holder: str | None = None,
        lease_name: str = LEASE_NAME,
        lease_ttl_seconds: float = 5.0,
        renew_seconds: float = 1.0,
        tick_seconds: float = 0.5,
        stop_grace_seconds: float = 10.0,
    ):
        self._service = service
        self._leases = leases
        self.holder = holder or default_holder()
        self._lease_name = lease_name
        self._ttl = lease_ttl_seconds
        self._renew_seconds = renew_seconds
        self._tick_seconds = tick_seconds
        self._stop_grace = stop_grace_seconds
        self._woken = asyncio.Event()
        self.holds_lease = False
        service.on_change(self.wake)

    def wake(self) -> None:
        """Tick now rather than at the next interval (a report arrived, a deployment was created)."""
        self._woken.set()

    async def run(self) -> None:
        """Until cancelled: keep (or wait for) the lease and tick. Releases the lease on the way out, so a
        replica shutting down hands over at once instead of after the ttl."""
        keeper = asyncio.create_task(self._keep_lease(), name="firmware-orchestrator-lease")
        try:
            while True:
                await self._tick_to_the_end()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), self._tick_seconds)
                self._woken.clear()
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            if self.holds_lease:
                self.holds_lease = False
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._leases.release(self._lease_name, self.holder))

    async def _tick_to_the_end(self) -> None:
        """One tick that a stop does not cut short (for up to stop_grace_seconds): cut between the channel
        accepting a batch's jobs and the store recording them as sent, the next holder would send them again."""
        tick = asyncio.create_task(self._logged_tick(), name="firmware-orchestrator-tick")
        try:
            await asyncio.shield(tick)
        except asyncio.CancelledError:
            await asyncio.wait({tick}, timeout=self._stop_grace)
            tick.cancel()
            raise

    async def _logged_tick(self) -> None:
        try:
            await self.tick()
        except Exception:
            log.exception("orchestrator tick failed; trying again")

    async def tick(self) -> bool:
        """One pass: hold the lease (take it when free), then advance every deployment that needs it.
        False when another replica holds the lease."""
        await self._hold()
        if not self.holds_lease:
            return False
        for deployment_id in await self._service.deployments_to_drive():
            if not self.holds_lease:
                break
            try:
                await self._service.advance(deployment_id)
            except Exception:
                log.exception("could not advance deployment %s", deployment_id)
        return True

    async def _hold(self) -> None:
        if self.holds_lease:
            self.holds_lease = await self._leases.renew(self._lease_name, self.holder, self._ttl)
            if not self.holds_lease:
                log.warning("orchestrator %s lost its lease", self.holder)
        if not self.holds_lease:
            self.holds_lease = await self._leases.try_acquire(self._lease_name, self.holder, self._ttl)
            if self.holds_lease:
                log.info("orchestrator %s holds the lease", self.holder)

    async def _keep_lease(self) -> None:
        """Renew on time even while a long tick runs (thousands of jobs to send)."""
        while True:
            await asyncio.sleep(self._renew_seconds)
            try:
                await self._hold()
            except Exception:
                log.exception("could not renew the orchestrator lease")
                self.holds_lease = False
