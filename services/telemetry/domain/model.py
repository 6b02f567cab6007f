"""The values the telemetry pipeline moves around. Pure data: no I/O, no protobuf.

A record arrives (RawRecord), is checked and transformed into a Reading or refused with a Rejection; readings
are stored as datapoints identified by (device, timestamp, metric) — storing one twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Source(StrEnum):
    HTTP = "http"
    GRPC = "grpc"
    MQTT = "mqtt"
    KINESIS = "kinesis"
    REPLAY = "replay"


class RejectReason(StrEnum):
    """Why a record was not stored; each one is documented in docs/telemetry.md."""

    MALFORMED_JSON = "MALFORMED_JSON"  # the bytes are not a JSON object
    INVALID_RECORD = "INVALID_RECORD"  # deviceId, timestamp or data missing or of the wrong JSON type
    UNKNOWN_DEVICE = "UNKNOWN_DEVICE"  # no such device (or not the caller's organization's)
    DEVICE_DELETED = "DEVICE_DELETED"  # the device was deleted
    TOPIC_MISMATCH = "TOPIC_MISMATCH"  # MQTT: the payload's deviceId is not the topic's
    UNKNOWN_METRIC = "UNKNOWN_METRIC"  # a metric the device type does not declare
    INVALID_TYPE = "INVALID_TYPE"  # a metric value of the wrong type (a string for a number, ...)
    OUT_OF_RANGE = "OUT_OF_RANGE"  # a value outside the metric's valid range
    TIMESTAMP_IN_FUTURE = "TIMESTAMP_IN_FUTURE"  # more than the allowed skew ahead of the server clock
    TIMESTAMP_TOO_OLD = "TIMESTAMP_TOO_OLD"  # older than the retention period


# RawRecord and Reading are built once per record on the hot path: not frozen, because a frozen dataclass's
# __init__ costs about four times a plain one's (≈ 2 µs against 0.5 µs, a fifth of the per-record budget).
# Treat them as immutable all the same.
@dataclass(slots=True)
class RawRecord:
    """One record as a source received it, before anything is checked.

    `payload` is the decoded JSON value when the source already parsed it (HTTP batch, gRPC), else the raw
    bytes (MQTT, Kinesis) so that undecodable input becomes MALFORMED_JSON for this record alone.
    """

    payload: object
    source: Source
    received_at_ms: int
    # HTTP/gRPC callers act for one organization, which must own the device; device channels (MQTT,
    # Kinesis) are trusted by the broker's authentication and leave it None.
    required_organization: str | None = None
    # MQTT: the device id named by the topic devices/{deviceId}/telemetry.
    topic_device_id: str | None = None


@dataclass(slots=True)
class Reading:
    """A validated, transformed record: the values of one device at one instant."""

    device_id: str
    organization_id: str
    device_type: str
    timestamp_ms: int
    values: dict[str, float]
    # Metrics of this reading flagged as anomalous by the detector.
    anomalies: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    reason: RejectReason
    message: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A refused record kept with its reason, so nothing sent is ever silently lost."""

    dead_letter_id: str
    record: object  # the JSON value as received, or the raw text when it was not JSON
    reason: RejectReason
    message: str
    source: Source
    received_at_ms: int
    # The organization the record was sent for (the HTTP/gRPC caller's) or else its device's; None when neither
    # is known (an unknown device over MQTT/Kinesis: only service principals see those).
    organization_id: str | None
    device_id: str | None


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What telemetry needs to know of a device (from the device service)."""

    device_id: str
    organization_id: str
    device_type: str
    deleted: bool = False


@dataclass(slots=True)  # one per device and batch, on the hot path: not frozen (see RawRecord)
class DeviceActivity:
    """Per device and batch: the newest reading and how many readings were stored or refused."""

    device_id: str
    organization_id: str
    # The newest accepted reading's time and values; None and {} when every record of the batch was refused
    # (the device still counts the refusals towards its data quality).
    last_seen_ms: int | None
    last_values: dict[str, float]
    accepted: int
    rejected: int


@dataclass
class BatchResult:
    accepted: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    # Datapoints that were new to the store (replays and redeliveries add none).
    stored_datapoints: int = 0
