"""A batch after the pipeline's checks, and what comes of it: dead letters for the refused records, one
activity entry per device for the accepted ones."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from services.telemetry.domain.anomalies import Anomaly
from services.telemetry.domain.batch import Batch
from services.telemetry.domain.model import DeadLetter, DeviceActivity, Reading, Rejection, RejectReason
from services.telemetry.domain.schemas import DeviceType
from services.telemetry.domain.validation import Rejected


@dataclass(frozen=True, slots=True)
class Refusal:
    index: int
    record: object  # as received: the decoded JSON value, or the text when it was not JSON
    reason: RejectReason
    message: str
    organization_id: str | None
    device_id: str | None


@dataclass
class Checked:
    """A batch after validation, transformation and detection, before anything is written."""

    readings: list[Reading] = field(default_factory=list)
    types: list[DeviceType | None] = field(default_factory=list)  # parallel to readings
    refusals: list[Refusal] = field(default_factory=list)
    # Refusals of records whose device was found (they count against its data quality), by device.
    refused_per_device: dict[str, tuple[str, int]] = field(default_factory=dict)
    anomalies: list[tuple[Reading, Anomaly]] = field(default_factory=list)

    def refuse(
        self, index: int, record: object, refusal: Rejected, organization: str | None, device: str | None
    ) -> None:
        self.refusals.append(Refusal(index, record, refusal.reason, refusal.message, organization, device))

    def rejections(self) -> list[Rejection]:
        return sorted((Rejection(r.index, r.reason, r.message) for r in self.refusals), key=lambda r: r.index)


def device_activities(checked: Checked) -> list[DeviceActivity]:
    """One entry per device of the batch: its newest reading and how many of its records passed or failed."""
    newest: dict[str, Reading] = {}
    accepted: dict[str, int] = {}
    for reading in checked.readings:
        device_id = reading.device_id
        known = newest.get(device_id)
        if known is None or reading.timestamp_ms >= known.timestamp_ms:
            newest[device_id] = reading
        accepted[device_id] = accepted.get(device_id, 0) + 1
    activities = [
        DeviceActivity(
            r.device_id,
            r.organization_id,
            r.timestamp_ms,
            r.values,
            accepted[r.device_id],
            checked.refused_per_device.get(r.device_id, ("", 0))[1],
        )
        for r in newest.values()
    ]
    for device_id, (organization_id, refused) in checked.refused_per_device.items():
        if device_id not in newest:
            activities.append(DeviceActivity(device_id, organization_id, None, {}, 0, refused))
    return activities


def new_dead_letter(batch: Batch, refusal: Refusal) -> DeadLetter:
    return DeadLetter(
        dead_letter_id=dead_letter_id(refusal.organization_id, refusal.record),
        record=refusal.record,
        reason=refusal.reason,
        message=refusal.message,
        source=batch.sources[refusal.index],
        received_at_ms=batch.received_at_ms[refusal.index],
        organization_id=refusal.organization_id,
        device_id=refusal.device_id,
    )


def dead_letter_id(organization_id: str | None, record: object) -> str:
    """The same record refused again (a retried request, a redelivery) keeps one dead letter, not two."""
    digest = hashlib.blake2b(repr((organization_id, record)).encode(), digest_size=10).hexdigest()
    return f"dlq-{digest}"
