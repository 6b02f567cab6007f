"""Use cases keeping devices in step with their telemetry: activity reported by the telemetry service, and the
heartbeat sweep that takes silent devices offline. Both act for the platform, never for a user.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.device.domain.activity import ActivitySummary, apply_activity, silent_since, summarize, take_offline
from services.device.domain.commands import ActivityReport
from services.device.domain.errors import DeviceChangedConcurrently
from services.device.domain.health import HealthPolicy
from services.device.domain.model import DeviceState
from services.device.ports import DeviceEvents, DeviceRepository
from services.kernel.caller import Caller
from services.kernel.clock import Clock, SystemClock
from services.kernel.errors import PermissionDenied

# Devices whose write met a concurrent one are read again and re-applied; more rounds than this means a
# device is written continuously by someone else, and the caller is told to retry the batch.
MAX_ROUNDS = 5
SWEEP_BATCH = 500


@dataclass(frozen=True)
class SweepResult:
    # Candidates the store returned; as many as the limit means there may be more.
    examined: int
    taken_offline: int


class LivenessService:
    def __init__(
        self,
        repository: DeviceRepository,
        events: DeviceEvents,
        clock: Clock | None = None,
        policy: HealthPolicy | None = None,
    ):
        self._repository = repository
        self._events = events
        self._clock = clock or SystemClock()
        self._policy = policy or HealthPolicy()

    async def record_activity(self, caller: Caller, reports: Sequence[ActivityReport]) -> int:
        """Apply one telemetry batch, coalesced per device, in any organization; returns the devices changed."""
        if not caller.is_service:
            raise PermissionDenied("only the platform's services record device activity")
        pending = summarize(reports)
        now = self._clock.now()
        changed = 0
        for _ in range(MAX_ROUNDS):
            if not pending:
                return changed
            states = await self._repository.get_states(list(pending))
            pending, saved = await self._apply(states, pending, now)
            changed += saved
        if pending:
            raise DeviceChangedConcurrently(next(iter(pending)))
        return changed

    async def _apply(
        self, states: Sequence[DeviceState], summaries: Mapping[str, ActivitySummary], now: datetime
    ) -> tuple[dict[str, ActivitySummary], int]:
        """Save what the activity changes in one bulk write; returns the summaries still to apply (conflicts)."""
        updates = []
        for state in states:
            updated = apply_activity(state, summaries[state.device_id], now, self._policy)
            if updated is not None:
                updates.append((updated, state))
        conflicted = await self._repository.save_states(updates)
        for updated, previous in updates:
            if updated.device_id not in conflicted and updated.status is not previous.status:
                await self._events.status_changed(updated, previous.status, None)
        return {i: summaries[i] for i in conflicted}, len(updates) - len(conflicted)

    async def take_silent_devices_offline(self, limit: int = SWEEP_BATCH) -> SweepResult:
        """One round of the heartbeat: online devices silent for longer than the timeout go offline."""
        now = self._clock.now()
        candidates = await self._repository.find_silent(silent_since(now, self._policy), limit)
        updates = []
        for state in candidates:
            # The store's answer may be a moment old (DynamoDB's index): the state itself has the last word.
            offline = take_offline(state, now, self._policy)
            if offline is not None:
                updates.append((offline, state))
        # A conflict means the device was written meanwhile, most likely by fresh activity: leave it be.
        conflicted = await self._repository.save_states(updates)
        done = [(updated, previous) for updated, previous in updates if updated.device_id not in conflicted]
        for updated, previous in done:
            await self._events.status_changed(updated, previous.status, None)
        return SweepResult(examined=len(candidates), taken_offline=len(done))
