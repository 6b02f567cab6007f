"""A pipeline and its use cases wired to in-memory adapters and fakes, at a fixed instant."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from services.telemetry.adapters.dead_letters_memory import InMemoryDeadLetterStore
from services.telemetry.adapters.timeseries_memory import InMemoryTimeSeriesStore
from services.telemetry.domain.anomalies import AnomalyDetector, DetectorSettings
from services.telemetry.domain.batch import Batch
from services.telemetry.domain.checked import Checked
from services.telemetry.domain.model import RawRecord, Source
from services.telemetry.domain.pipeline import TelemetryPipeline
from services.telemetry.domain.schemas import DeviceTypes
from services.telemetry.domain.service import TelemetryService
from services.telemetry.ports import TimeSeriesStore
from tests.unit.telemetry.fakes import NOW_MS, FakeDirectory, FixedClock, RecordingEvents, RecordingSink


def record(device_id: str = "dev-1", timestamp: int | None = None, **data: Any) -> dict[str, Any]:
    values = data or {"temperature": 23.5, "humidity": 45, "co2": 450, "battery": 85}
    return {"deviceId": device_id, "timestamp": NOW_MS - 60_000 if timestamp is None else timestamp, "data": values}


def raw(
    payload: object, source: Source = Source.HTTP, organization: str | None = "org-1", topic: str | None = None
) -> RawRecord:
    return RawRecord(payload, source, NOW_MS, organization, topic)


@dataclass
class World:
    directory: FakeDirectory = field(default_factory=FakeDirectory)
    store: TimeSeriesStore = field(default_factory=InMemoryTimeSeriesStore)
    dead_letters: InMemoryDeadLetterStore = field(default_factory=InMemoryDeadLetterStore)
    sink: RecordingSink = field(default_factory=RecordingSink)
    events: RecordingEvents = field(default_factory=RecordingEvents)
    types: DeviceTypes = field(default_factory=DeviceTypes)
    detector: AnomalyDetector = field(default_factory=lambda: AnomalyDetector(DetectorSettings(warmup=5)))

    def __post_init__(self) -> None:
        self.directory.add("dev-1")
        self.directory.add("dev-2")
        self.directory.add("dev-other", organization_id="org-2")
        self.directory.add("dev-gone", deleted=True)
        self.directory.add("dev-free", device_type="unknown-type")

    @property
    def pipeline(self) -> TelemetryPipeline:
        return TelemetryPipeline(
            directory=self.directory,
            store=self.store,
            dead_letters=self.dead_letters,
            activity=self.sink,
            events=self.events,
            device_types=self.types,
            detector=self.detector,
            clock=FixedClock(),
            decode=json.loads,
        )

    @property
    def service(self) -> TelemetryService:
        return TelemetryService(
            self.pipeline,
            store=self.store,
            dead_letters=self.dead_letters,
            directory=self.directory,
            device_types=self.types,
            decode=json.loads,
            clock=FixedClock(),
        )


async def check(world: World, records: list[RawRecord]) -> Checked:
    """The pipeline's first four steps on RawRecords, nothing written."""
    return await world.pipeline.check(Batch.of(records))
