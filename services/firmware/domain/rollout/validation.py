"""Checks of a create-deployment request (§3.4.4) and of the list filters, each naming the field it refuses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.firmware.domain.catalog.firmware import Firmware, FirmwareStatus
from services.firmware.domain.rollout.commands import CreateDeployment, ListDeployments, ListJobs
from services.firmware.domain.rollout.deployment import (
    DEFAULT_JOB_TIMEOUT_SECONDS,
    DEFAULT_MAX_RETRIES,
    DEFAULT_SUCCESS_THRESHOLD,
    DeploymentStatus,
    FirmwareImage,
    ScheduleType,
    Strategy,
)
from services.firmware.domain.rollout.errors import FirmwareNotValidated, RolloutFirmwareNotFound
from services.firmware.domain.rollout.job import JobStatus
from services.firmware.domain.rollout.targets import TargetDevice
from services.kernel.errors import FieldViolation, ValidationFailed, Violations
from services.kernel.pagination import PageRequest

MAX_TARGETS = 10_000
MAX_JOB_TIMEOUT_SECONDS = 7 * 24 * 3600
MAX_RETRIES = 10
# How many offending device ids an error names (the count says how many there were).
NAMED_IN_ERRORS = 20


@dataclass(frozen=True)
class DeploymentPlan:
    """A create request whose fields are valid (devices and firmware are checked against the stores next)."""

    firmware_id: str
    device_ids: tuple[str, ...]
    strategy: Strategy
    batch_size: int
    schedule_type: ScheduleType
    start_time: datetime | None
    success_threshold: float
    job_timeout_seconds: int
    max_retries: int


def _names(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:NAMED_IN_ERRORS])
    return shown + (f" (and {len(ids) - NAMED_IN_ERRORS} more)" if len(ids) > NAMED_IN_ERRORS else "")


def _device_ids(raw: Sequence[str], v: Violations) -> tuple[str, ...]:
    ids = [d.strip() for d in raw]
    if not ids:
        v.add("targetDevices", "must list at least one device")
    elif len(ids) > MAX_TARGETS:
        v.add("targetDevices", f"must list at most {MAX_TARGETS} devices, got {len(ids)}")
    if any(not d for d in ids):
        v.add("targetDevices", "must not contain empty device ids")
    seen: set[str] = set()
    duplicates = sorted({d for d in ids if d and (d in seen or seen.add(d))})  # type: ignore[func-returns-value]
    if duplicates:
        v.add("targetDevices", f"lists devices more than once: {_names(duplicates)}")
    return tuple(ids)


def parse_create(command: CreateDeployment, now: datetime) -> DeploymentPlan:
    v = Violations()
    firmware_id = command.firmware_id.strip()
    if not firmware_id:
        v.add("firmwareId", "is required")
    device_ids = _device_ids(command.target_devices, v)
    strategy = Strategy.STAGED
    try:
        strategy = Strategy((command.strategy or "").strip().lower())
    except ValueError:
        v.add("strategy", f"must be one of {', '.join(Strategy)}, got {command.strategy!r}")
    batch_size = command.batch_size or 0
    if strategy is Strategy.STAGED and batch_size < 1:
        v.add("batchSize", f"must be 1 or more for a staged deployment, got {batch_size}")
    elif batch_size < 0:
        v.add("batchSize", f"must not be negative, got {batch_size}")
    schedule_type = ScheduleType.IMMEDIATE
    start_time: datetime | None = None
    try:
        schedule_type = ScheduleType((command.schedule_type or "immediate").strip().lower())
    except ValueError:
        v.add("schedule.type", f"must be one of {', '.join(ScheduleType)}, got {command.schedule_type!r}")
    if schedule_type is ScheduleType.SCHEDULED:
        start_time = command.start_time
        if start_time is None:
            v.add("schedule.startTime", "is required for a scheduled deployment")
        elif start_time <= now:
            v.add("schedule.startTime", f"must be in the future, got {start_time.isoformat()}")
    threshold = DEFAULT_SUCCESS_THRESHOLD if command.success_threshold is None else command.success_threshold
    if not 0 <= threshold <= 100:
        v.add("successThreshold", f"must be between 0 and 100 (percent), got {threshold:g}")
    timeout = DEFAULT_JOB_TIMEOUT_SECONDS if command.job_timeout_seconds is None else command.job_timeout_seconds
    if not 1 <= timeout <= MAX_JOB_TIMEOUT_SECONDS:
        v.add("jobTimeoutSeconds", f"must be between 1 and {MAX_JOB_TIMEOUT_SECONDS}, got {timeout}")
    retries = DEFAULT_MAX_RETRIES if command.max_retries is None else command.max_retries
    if not 0 <= retries <= MAX_RETRIES:
        v.add("maxRetries", f"must be between 0 and {MAX_RETRIES}, got {retries}")
    v.raise_if_any()
    return DeploymentPlan(
        firmware_id=firmware_id,
        device_ids=device_ids,
        strategy=strategy,
        batch_size=batch_size if strategy is Strategy.STAGED else len(device_ids),
        schedule_type=schedule_type,
        start_time=start_time,
        success_threshold=float(threshold),
        job_timeout_seconds=timeout,
        max_retries=retries,
    )


def image_of(firmware: Firmware | None) -> FirmwareImage | None:
    """What a job installs, when the firmware is validated (processed: checksum and size known)."""
    if firmware is None or firmware.status is not FirmwareStatus.VALIDATED:
        return None
    if firmware.checksum is None or firmware.size is None:
        return None
    return FirmwareImage(firmware.firmware_id, firmware.version, firmware.object_key, firmware.checksum, firmware.size)


def check_firmware(firmware_id: str, firmware: Firmware | None) -> tuple[Firmware, FirmwareImage]:
    if firmware is None:
        raise RolloutFirmwareNotFound(firmware_id)
    image = image_of(firmware)
    if image is None:
        raise FirmwareNotValidated(firmware_id, firmware.status.value)
    return firmware, image


def check_targets(
    device_ids: Sequence[str], found: Mapping[str, TargetDevice], firmware: Firmware
) -> list[TargetDevice]:
    """The devices in request order; a 400 naming those missing from the organization, or of a type the
    firmware does not support."""
    missing = [d for d in device_ids if d not in found]
    if missing:
        raise ValidationFailed(
            f"targetDevices: devices not found: {_names(missing)}",
            reason="DEVICES_NOT_FOUND",
            violations=[FieldViolation("targetDevices", f"devices not found: {_names(missing)}")],
            details={"deviceIds": ",".join(missing[:NAMED_IN_ERRORS]), "count": str(len(missing))},
        )
    targets = [found[d] for d in device_ids]
    unsupported = [t for t in targets if not firmware.supports(t.device_type)]
    if unsupported:
        named = _names([f"{t.device_id} ({t.device_type})" for t in unsupported])
        description = f"firmware {firmware.version} supports {', '.join(firmware.device_types)}; not: {named}"
        raise ValidationFailed(
            f"targetDevices: {description}",
            reason="INCOMPATIBLE_DEVICES",
            violations=[FieldViolation("targetDevices", description)],
            details={
                "deviceIds": ",".join(t.device_id for t in unsupported[:NAMED_IN_ERRORS]),
                "count": str(len(unsupported)),
            },
        )
    return targets


@dataclass(frozen=True)
class DeploymentFilter:
    status: DeploymentStatus | None = None
    firmware_id: str | None = None


@dataclass(frozen=True)
class JobFilter:
    status: JobStatus | None = None
    batch_id: int | None = None


def parse_deployment_query(command: ListDeployments) -> tuple[DeploymentFilter, PageRequest]:
    v = Violations()
    status = None
    if command.status and command.status.strip():
        try:
            status = DeploymentStatus(command.status.strip().lower())
        except ValueError:
            v.add("status", f"must be one of {', '.join(DeploymentStatus)}, got {command.status!r}")
    v.raise_if_any()
    firmware_id = (command.firmware_id or "").strip() or None
    return DeploymentFilter(status, firmware_id), PageRequest.parse(command.page, command.page_size)


def parse_job_query(command: ListJobs) -> tuple[JobFilter, PageRequest]:
    v = Violations()
    status = None
    if command.status and command.status.strip():
        try:
            status = JobStatus(command.status.strip().upper())
        except ValueError:
            v.add("status", f"must be one of {', '.join(JobStatus)}, got {command.status!r}")
    if command.batch_id is not None and command.batch_id < 1:
        v.add("batchId", f"must be 1 or more, got {command.batch_id}")
    v.raise_if_any()
    return JobFilter(status, command.batch_id), PageRequest.parse(command.page, command.page_size)
