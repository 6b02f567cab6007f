"""Domain values ↔ iot.telemetry.v1 messages, for the servicer (and the CLI's readers of its answers)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2
from iot.common.v1 import common_pb2
from iot.telemetry.v1 import telemetry_pb2

from services.telemetry.domain.derived import DERIVED_METRICS
from services.telemetry.domain.history import History
from services.telemetry.domain.model import BatchResult, DeadLetter
from services.telemetry.domain.schemas import DeviceType, MetricSpec

TIME_KEY = "timestamp"


def timestamp(ms: int) -> timestamp_pb2.Timestamp:
    seconds, millis = divmod(ms, 1000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=millis * 1_000_000)


def millis(message: timestamp_pb2.Timestamp) -> int:
    return message.seconds * 1000 + message.nanos // 1_000_000


def iso(ms: int) -> str:
    """2025-11-14T10:15:00Z, with milliseconds only when there are some (as json_format prints Timestamps)."""
    moment = datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{moment}.{ms % 1000:03d}Z" if ms % 1000 else f"{moment}Z"


def record_payload(record: telemetry_pb2.TelemetryRecord) -> dict[str, Any]:
    """A typed record as the §4.1 JSON record; proto3's zero values stand for what was left out."""
    data = record.data  # one attribute lookup: a comprehension over a upb map beats dict(map.items())
    return {
        "deviceId": record.device_id or None,
        "timestamp": record.timestamp or None,
        "data": {name: data[name] for name in data},
    }


def failures(result: BatchResult) -> list[telemetry_pb2.RecordFailure]:
    return [
        telemetry_pb2.RecordFailure(index=r.index, reason=r.reason.value, message=r.message) for r in result.rejections
    ]


def to_value(value: Any) -> struct_pb2.Value:
    holder = struct_pb2.Struct()
    holder.update({"value": value})
    return holder.fields["value"]


def dead_letter_message(letter: DeadLetter) -> telemetry_pb2.DeadLetter:
    return telemetry_pb2.DeadLetter(
        dead_letter_id=letter.dead_letter_id,
        record=to_value(letter.record),
        reason=letter.reason.value,
        message=letter.message,
        source=letter.source.value,
        received_at=timestamp(letter.received_at_ms),
        device_id=letter.device_id,
    )


def history_message(history: History) -> telemetry_pb2.GetDeviceHistoryResponse:
    """§3.1.6: one Struct per timestamp, {"timestamp": ISO 8601, <metric>: value, ...}."""
    Value, Struct = struct_pb2.Value, struct_pb2.Struct  # local names: looked up once, not per row
    rows = []
    for ms, values in history.rows:
        fields = {name: Value(number_value=value) for name, value in values.items()}
        fields[TIME_KEY] = Value(string_value=iso(ms))
        rows.append(Struct(fields=fields))
    return telemetry_pb2.GetDeviceHistoryResponse(
        device_id=history.device_id,
        time_range=common_pb2.TimeRange(start=timestamp(history.start_ms), end=timestamp(history.end_ms)),
        metrics=history.metrics,
        aggregation=history.aggregation,
        data=rows,
    )


def _metric_info(spec: MetricSpec) -> telemetry_pb2.MetricInfo:
    return telemetry_pb2.MetricInfo(
        name=spec.name,
        type=spec.kind.value,
        unit=spec.unit,
        min=spec.minimum if math.isfinite(spec.minimum) else None,
        max=spec.maximum if math.isfinite(spec.maximum) else None,
    )


def device_type_message(device_type: DeviceType) -> telemetry_pb2.DeviceType:
    """Declared metrics with their unit and range, then derived ones (computed, in their formula's unit)."""
    derived = [
        telemetry_pb2.MetricInfo(name=name, type="number", unit=DERIVED_METRICS[name].unit, derived=True)
        for name in device_type.derived
    ]
    return telemetry_pb2.DeviceType(
        name=device_type.name, metrics=[_metric_info(m) for m in device_type.metrics.values()] + derived
    )
