"""A DeadLetterStore in memory (IOTMON_TELEMETRY_DLQ=memory, unit tests)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from services.kernel.pagination import Page, PageRequest
from services.telemetry.domain.model import DeadLetter, RejectReason


class InMemoryDeadLetterStore:
    def __init__(self) -> None:
        self._letters: dict[str, DeadLetter] = {}

    async def add(self, letters: Sequence[DeadLetter]) -> None:
        """Adding a letter whose id is stored replaces it (a replay that failed again, with its new reason)."""
        for letter in letters:
            self._letters[letter.dead_letter_id] = letter

    async def page(
        self,
        organization_id: str | None,
        page: PageRequest,
        *,
        device_id: str | None = None,
        reason: RejectReason | None = None,
    ) -> Page[DeadLetter]:
        matching = self._matching(organization_id, device_id, reason)
        matching.sort(key=lambda x: (x.received_at_ms, x.dead_letter_id), reverse=True)
        return Page(matching[page.offset : page.offset + page.page_size], page, len(matching))

    async def oldest(
        self,
        organization_id: str | None,
        limit: int,
        *,
        device_id: str | None = None,
        reason: RejectReason | None = None,
    ) -> list[DeadLetter]:
        matching = self._matching(organization_id, device_id, reason)
        matching.sort(key=lambda x: (x.received_at_ms, x.dead_letter_id))
        return matching[:limit]

    async def remove(self, dead_letter_ids: Collection[str]) -> None:
        for dead_letter_id in dead_letter_ids:
            self._letters.pop(dead_letter_id, None)

    async def close(self) -> None:
        self._letters.clear()

    def _matching(
        self, organization_id: str | None, device_id: str | None, reason: RejectReason | None
    ) -> list[DeadLetter]:
        return [
            x
            for x in self._letters.values()
            if organization_id in (None, x.organization_id)
            and device_id in (None, x.device_id)
            and reason in (None, x.reason)
        ]
