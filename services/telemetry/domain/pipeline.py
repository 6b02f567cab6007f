"""The ingest pipeline, spec §4.1, for every source: one batch in, each record stored or dead-lettered.

deserialize → validate (shape, device, time, metrics; units converted) → transform (derived metrics) →
detect anomalies → persist: the readings to the time-series store and the refused records to the dead-letter
store, concurrently, both durable before the batch counts as done (a failure raises, so the source does not
acknowledge and redelivers; the store ignores what it already has) → announce: one activity call per batch
(newest reading per device, accepted/refused counts) and the events, concurrently → count.

The activity goes out only once the readings are stored, so a device never shows a lastReading the store
lost. Per record the work is plain dict and float operations; everything that does I/O happens once per batch.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from services.kernel.clock import Clock, SystemClock
from services.telemetry.domain.anomalies import AnomalyDetector
from services.telemetry.domain.batch import Batch
from services.telemetry.domain.checked import Checked, device_activities, new_dead_letter
from services.telemetry.domain.derived import add_derived
from services.telemetry.domain.model import (
    BatchResult,
    DeadLetter,
    DeviceInfo,
    RawRecord,
    Reading,
    RejectReason,
    Source,
)
from services.telemetry.domain.schemas import DeviceTypes
from services.telemetry.domain.stats import IngestStats
from services.telemetry.domain.validation import (
    MAX_DEVICE_ID_LENGTH,
    Fields,
    Limits,
    Rejected,
    check_device,
    check_free_values,
    check_shape,
    check_time,
    check_values,
    json_type,
)
from services.telemetry.ports import (
    DeadLetterStore,
    DeviceActivitySink,
    DeviceDirectory,
    TelemetryEvents,
    TimeSeriesStore,
)

Decode = Callable[[bytes], Any]
_RAW = (bytes, bytearray, memoryview)
# Refusals by check_device: the device is unknown, deleted or not the sender's, so nothing counts against it.
DEVICE_REASONS = frozenset({RejectReason.UNKNOWN_DEVICE, RejectReason.DEVICE_DELETED, RejectReason.TOPIC_MISMATCH})


@dataclass(frozen=True)
class ReplayOutcome:
    replayed: int
    accepted: int
    still_failing: int


class TelemetryPipeline:
    def __init__(
        self,
        *,
        directory: DeviceDirectory,
        store: TimeSeriesStore,
        dead_letters: DeadLetterStore,
        activity: DeviceActivitySink,
        events: TelemetryEvents,
        device_types: DeviceTypes | None = None,
        detector: AnomalyDetector | None = None,
        limits: Limits | None = None,
        clock: Clock | None = None,
        decode: Decode = json.loads,
        stats: IngestStats | None = None,
    ):
        self._directory = directory
        self._store = store
        self._dead_letters = dead_letters
        self._activity = activity
        self._events = events
        self._types = device_types or DeviceTypes()
        self._detector = detector if detector is not None else AnomalyDetector()
        self._limits = limits or Limits()
        self._clock = clock or SystemClock()
        self._decode = decode
        self.stats = stats or IngestStats()

    @property
    def limits(self) -> Limits:
        return self._limits

    async def ingest(self, records: Sequence[RawRecord]) -> BatchResult:
        """The Ingest every source calls: returns once each record is stored or dead-lettered."""
        return await self.ingest_batch(Batch.of(records))

    async def ingest_batch(self, batch: Batch) -> BatchResult:
        checked = await self.check(batch)
        letters = [new_dead_letter(batch, refusal) for refusal in checked.refusals]
        stored = await self._persist(checked.readings, letters)
        await self._announce(checked)
        result = BatchResult(len(checked.readings), checked.rejections(), stored)
        self.stats.count(batch.source, len(batch), result, len(checked.anomalies))
        return result

    async def replay(self, letters: Sequence[DeadLetter]) -> ReplayOutcome:
        """Run dead letters through the pipeline again: those that pass are stored and leave the store, the
        others stay with their new reason. A topic mismatch cannot be re-checked (the topic is not kept)."""
        replayable = [letter for letter in letters if letter.reason is not RejectReason.TOPIC_MISMATCH]
        records = [
            RawRecord(_replay_payload(x.record), Source.REPLAY, x.received_at_ms, x.organization_id) for x in replayable
        ]
        checked = await self.check(Batch.of(records))
        refused = {r.index: r for r in checked.refusals}
        still = [replace(replayable[i], reason=r.reason, message=r.message) for i, r in refused.items()]
        passed = [letter.dead_letter_id for i, letter in enumerate(replayable) if i not in refused]
        await self._persist(checked.readings, still)
        if passed:
            await self._dead_letters.remove(passed)
        await self._announce(checked)
        return ReplayOutcome(len(letters), len(passed), len(letters) - len(passed))

    async def check(self, batch: Batch) -> Checked:
        """Deserialize, validate, transform and detect; nothing is written yet."""
        checked = Checked()
        well_formed = self._deserialize(batch, checked)
        device_ids = {fields[0] for _, fields in well_formed}
        devices = await self._directory.lookup(device_ids) if device_ids else {}
        self._validate(batch, well_formed, devices, checked)
        self._transform(checked)
        self._detect(checked)
        return checked

    def _deserialize(self, batch: Batch, checked: Checked) -> list[tuple[int, Fields]]:
        well_formed: list[tuple[int, Fields]] = []
        append = well_formed.append
        for index, payload in enumerate(batch.payloads):
            if type(payload) is dict:
                # check_shape's common case, inline: it runs for every record of every batch.
                device_id, timestamp, data = payload.get("deviceId"), payload.get("timestamp"), payload.get("data")
                if (
                    type(device_id) is str
                    and 0 < len(device_id) <= MAX_DEVICE_ID_LENGTH
                    and type(timestamp) is int
                    and type(data) is dict
                    and data
                    and "units" not in payload
                ):
                    append((index, (device_id, timestamp, data, None, payload)))
                    continue
            try:
                if isinstance(payload, _RAW):
                    payload = self._decoded(payload)
                append((index, check_shape(payload)))
            except Rejected as refusal:
                checked.refuse(index, _as_received(payload), refusal, batch.organizations[index], None)
        return well_formed

    def _decoded(self, payload: bytes | bytearray | memoryview) -> Any:
        try:
            value = self._decode(payload if type(payload) is bytes else bytes(payload))
        except ValueError as error:  # JSONDecodeError and UnicodeDecodeError both are ValueErrors
            raise Rejected(RejectReason.MALFORMED_JSON, f"the payload is not valid JSON: {error}") from None
        if type(value) is not dict:
            raise Rejected(RejectReason.MALFORMED_JSON, f"the payload must be a JSON object, got {json_type(value)}")
        return value

    def _validate(
        self, batch: Batch, well_formed: list[tuple[int, Fields]], devices: dict[str, DeviceInfo], checked: Checked
    ) -> None:
        now_ms = int(self._clock.now().timestamp() * 1000)
        limits, types = self._limits, self._types
        oldest, newest = now_ms - limits.retention_ms, now_ms + limits.future_skew_ms
        organizations, topics = batch.organizations, batch.topics
        readings, reading_types = checked.readings, checked.types
        for index, (device_id, timestamp_ms, data, units, record) in well_formed:
            device = devices.get(device_id)
            organization, topic = organizations[index], topics[index]
            try:
                # The checks of check_device and check_time, inline for the common case; they raise otherwise.
                if (
                    device is None
                    or device.deleted
                    or (organization is not None and device.organization_id != organization)
                    or (topic is not None and topic != device_id)
                ):
                    check_device(device_id, device, organization, topic)
                if not oldest <= timestamp_ms <= newest:
                    check_time(timestamp_ms, now_ms, limits)
                assert device is not None
                device_type = types.get(device.device_type)
                values = check_free_values(data) if device_type is None else check_values(data, units, device_type)
            except Rejected as refusal:
                self._refused(checked, index, device_id, record, refusal, organization, device)
                continue
            readings.append(Reading(device_id, device.organization_id, device.device_type, timestamp_ms, values))
            reading_types.append(device_type)

    @staticmethod
    def _refused(
        checked: Checked,
        index: int,
        device_id: str,
        record: object,
        refusal: Rejected,
        organization: str | None,
        device: DeviceInfo | None,
    ) -> None:
        # A refusal by check_device counts against no device (unknown, deleted, or not the sender's). Its
        # letter goes to the sender's organization, or for a deleted device to the device's.
        visible = device if refusal.reason not in DEVICE_REASONS else None
        owner_device = device if refusal.reason is RejectReason.DEVICE_DELETED else visible
        owner = organization or (owner_device.organization_id if owner_device else None)
        checked.refuse(index, record, refusal, owner, device_id)
        if visible is not None:
            _, count = checked.refused_per_device.get(visible.device_id, (visible.organization_id, 0))
            checked.refused_per_device[visible.device_id] = (visible.organization_id, count + 1)

    @staticmethod
    def _transform(checked: Checked) -> None:
        for reading, device_type in zip(checked.readings, checked.types, strict=True):
            if device_type is not None and device_type.derived:
                add_derived(reading.values, device_type.derived)

    def _detect(self, checked: Checked) -> None:
        observe = self._detector.observe
        none: frozenset[str] = frozenset()
        for reading, device_type in zip(checked.readings, checked.types, strict=True):
            skip = device_type.derived_names if device_type is not None else none
            found = observe(reading.device_id, reading.timestamp_ms, reading.values, skip)
            if found:
                reading.anomalies = frozenset(a.metric for a in found)
                checked.anomalies.extend((reading, anomaly) for anomaly in found)

    async def _persist(self, readings: list[Reading], letters: list[DeadLetter]) -> int:
        """Readings and dead letters, concurrently; the first failure is raised once both are done."""
        jobs: list[Awaitable[Any]] = []
        if readings:
            jobs.append(self._store.write(readings))
        if letters:
            jobs.append(self._dead_letters.add(letters))
        results = await _all(jobs)
        return int(results[0]) if readings else 0

    async def _announce(self, checked: Checked) -> None:
        jobs: list[Awaitable[Any]] = []
        activities = device_activities(checked)
        if activities:
            jobs.append(self._activity.record(activities))
        if checked.readings:
            jobs.append(self._events.readings_stored(checked.readings))
        for reading, anomaly in checked.anomalies:
            jobs.append(self._events.anomaly_detected(reading, anomaly.metric, anomaly.score))
        await _all(jobs)


def _as_received(payload: object) -> object:
    """What a dead letter keeps: the decoded JSON value, or the payload as text when it was no JSON object."""
    if isinstance(payload, _RAW):
        return bytes(payload).decode("utf-8", "replace")
    return payload


def _replay_payload(record: object) -> object:
    # Text was kept because it was not JSON: hand it back as bytes so it is deserialized (and refused) again.
    return record.encode() if isinstance(record, str) else record


async def _all(jobs: list[Awaitable[Any]]) -> list[Any]:
    """Run concurrently and wait for all; then raise the first failure (asyncio.gather would let the others
    run on unobserved, a TaskGroup would wrap a DomainError in an ExceptionGroup)."""
    if len(jobs) == 1:
        return [await jobs[0]]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
