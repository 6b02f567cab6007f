"""Two orchestrator replicas running for real (their run() loops) on one SQLite or PostgreSQL store: one acts,
the other takes over when it stops, and no (job, attempt) is sent twice."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from services.firmware.domain.rollout.deployment import DeploymentStatus
from services.firmware.domain.rollout.job import JobStatus
from services.firmware.orchestrator import Orchestrator
from services.kernel.clock import SystemClock
from tests.integration.firmware_rollout.conftest import Store
from tests.unit.firmware_rollout.fakes import OPERATOR, RecordingChannel, Rig, fleet


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 10.0) -> None:
    """Poll a condition on state the orchestrators' tasks change."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {within} s")
        await asyncio.sleep(0.02)


def replica(store: Store, sent: list[tuple[str, int]], holder: str) -> tuple[Rig, Orchestrator]:
    rig = Rig(fleet(20), clock=SystemClock(), store=store, channel=RecordingChannel(sent))  # type: ignore[arg-type]
    orch = Orchestrator(rig.service, store, holder=holder, lease_ttl_seconds=0.6, renew_seconds=0.1, tick_seconds=0.05)
    return rig, orch


async def test_one_replica_drives_and_the_other_takes_over_when_it_stops(store: Store) -> None:
    sent: list[tuple[str, int]] = []
    first, first_orch = replica(store, sent, "replica-a")
    second, second_orch = replica(store, sent, "replica-b")
    dep = await first.create([d.device_id for d in fleet(20)], batch_size=10)
    first_task = asyncio.create_task(first_orch.run())
    await eventually(lambda: asyncio.sleep(0, len(first.channel.documents) == 10))
    second_task = asyncio.create_task(second_orch.run())
    try:
        await asyncio.sleep(0.3)
        assert first_orch.holds_lease
        assert not second_orch.holds_lease
        assert second.channel.documents == []

        # Batch 1's devices answer through either replica (reports need no lease).
        for i, doc in enumerate(first.channel.documents):
            answering = first if i % 2 else second
            assert await answering.report(doc.job_id, doc.device_id, JobStatus.SUCCEEDED)
        await eventually(lambda: asyncio.sleep(0, len(sent) == 20))

        first_task.cancel()  # replica-a stops (and hands the lease over)
        with contextlib.suppress(asyncio.CancelledError):
            await first_task
        for doc in first.channel.documents[10:]:
            # Failed once in CI (not reproduced in 15 runs under load): say why if it does again.
            assert await second.report(doc.job_id, doc.device_id, JobStatus.SUCCEEDED), second.last_refusal

        async def completed() -> bool:
            view = await second.service.get_deployment(OPERATOR, dep)
            return view.deployment.status is DeploymentStatus.COMPLETED

        await eventually(completed)
        assert second_orch.holds_lease
        assert len(sent) == 20 == len(set(sent)), "no (job, attempt) sent twice"
    finally:
        second_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await second_task
    assert not second_orch.holds_lease, "released on the way out"
