"""The JSON a device and the job channels exchange, modelled on AWS IoT Jobs' MQTT API (docs/device-jobs.md).

Shapes:
- an execution (notify-next, `$next/get` answers): {"jobId", "thingName", "status", "versionNumber",
  "executionNumber" (the attempt), "jobDocument": {"operation", "firmwareId", "version", "url", "sha256",
  "size", "deploymentId"}};
- an update request: {"status", "statusDetails" (string → string), "expectedVersion", "clientToken"};
- a rejection: {"code", "message", "timestamp", "clientToken", "executionState"?} with AWS's codes.

Pure functions over bytes and the domain's job types, so the MQTT channel, the IoT Jobs adapter and the tests
agree on one spelling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from services.firmware.domain.rollout.job import (
    DEVICE_REPORTABLE,
    JobDocument,
    JobReport,
    JobReportOutcome,
    JobStatus,
)

# AWS IoT Jobs' rejection codes that this platform uses.
INVALID_REQUEST = "InvalidRequest"
VERSION_MISMATCH = "VersionMismatch"
RESOURCE_NOT_FOUND = "ResourceNotFound"
TERMINAL_STATE_REACHED = "TerminalStateReached"
INTERNAL_ERROR = "InternalError"

# JobReportOutcome.reason → the code a device sees.
REJECTION_CODES = {
    "JOB_NOT_FOUND": RESOURCE_NOT_FOUND,
    "JOB_ALREADY_FINISHED": TERMINAL_STATE_REACHED,
    "VERSION_MISMATCH": VERSION_MISMATCH,
    "INVALID_STATUS": INVALID_REQUEST,
}
MAX_CLIENT_TOKEN = 64  # as AWS
MAX_DETAILS = 10  # AWS allows at most 10 statusDetails entries
MAX_DETAIL_LENGTH = 1024


class BadRequest(ValueError):
    """A device's request that cannot be understood: answered with InvalidRequest, never raised further."""

    def __init__(self, message: str, client_token: str | None = None):
        super().__init__(message)
        self.client_token = client_token


@dataclass(frozen=True)
class UpdateRequest:
    report: JobReport
    client_token: str | None


def job_document(job: JobDocument) -> dict[str, Any]:
    """What the device needs to download, verify and install the image."""
    return {
        "operation": job.operation.value,
        "firmwareId": job.firmware_id,
        "version": job.firmware_version,
        "url": job.download_url,
        "sha256": job.checksum,
        "size": job.size,
        "deploymentId": job.deployment_id,
    }


def execution(job: JobDocument) -> dict[str, Any]:
    return {
        "jobId": job.job_id,
        "thingName": job.device_id,
        "status": job.status.value,
        "versionNumber": job.version_number,
        "executionNumber": job.attempt,
        "jobDocument": job_document(job),
    }


def epoch_seconds(now: datetime) -> int:
    return int(now.timestamp())


def notify_next(job: JobDocument | None, now: datetime) -> bytes:
    """NextJobExecutionChanged; no job: b"" (published retained, it clears the retained notification)."""
    if job is None:
        return b""
    return orjson.dumps({"timestamp": epoch_seconds(now), "execution": execution(job)})


def cancelled(job: JobDocument, now: datetime) -> bytes:
    """Sent on .../jobs/{jobId}/cancel: stop working on this job (and do not report it any more)."""
    return orjson.dumps(
        {
            "timestamp": epoch_seconds(now),
            "jobId": job.job_id,
            "status": JobStatus.CANCELED.value,
            "executionNumber": job.attempt,
        }
    )


def next_job_accepted(job: JobDocument | None, now: datetime, client_token: str | None) -> bytes:
    """DescribeJobExecution of $next: {"execution": ...}, or no "execution" key when nothing is pending."""
    body: dict[str, Any] = {"timestamp": epoch_seconds(now)}
    if job is not None:
        body["execution"] = execution(job)
    return orjson.dumps(_with_token(body, client_token))


def update_accepted(outcome: JobReportOutcome, report: JobReport, now: datetime, client_token: str | None) -> bytes:
    state: dict[str, Any] = {"status": report.status.value, "statusDetails": dict(report.status_details)}
    if outcome.job is not None:
        state["status"] = outcome.job.status.value
        state["versionNumber"] = outcome.job.version_number
    return orjson.dumps(_with_token({"timestamp": epoch_seconds(now), "executionState": state}, client_token))


def rejected(code: str, message: str, now: datetime, client_token: str | None, job: JobDocument | None = None) -> bytes:
    body: dict[str, Any] = {"code": code, "message": message, "timestamp": epoch_seconds(now)}
    if job is not None:  # lets a device that lost track resynchronise (AWS sends it with VersionMismatch)
        body["executionState"] = {"status": job.status.value, "versionNumber": job.version_number}
    return orjson.dumps(_with_token(body, client_token))


def refusal(outcome: JobReportOutcome) -> tuple[str, str]:
    """(code, message) for a refused report."""
    reason = outcome.reason or "INVALID_STATUS"
    return REJECTION_CODES.get(reason, INVALID_REQUEST), reason


def parse_get(payload: bytes) -> str | None:
    """A `$next/get` request: empty, or an object with an optional clientToken. Returns the token."""
    if not payload.strip():
        return None
    return _client_token(_object(payload))


def parse_update(device_id: str, job_id: str, payload: bytes, now: datetime) -> UpdateRequest:
    body = _object(payload)
    token = _client_token(body)
    status = body.get("status")
    reported = JobStatus(status) if isinstance(status, str) and status in JobStatus.__members__ else None
    if reported is None or reported not in DEVICE_REPORTABLE:
        raise BadRequest(f"status must be one of {_reportable()}, got {status!r}", token)
    expected = body.get("expectedVersion")
    if expected is not None and (type(expected) is not int or expected < 0):
        raise BadRequest(f"expectedVersion must be a non-negative integer, got {expected!r}", token)
    details = _details(body.get("statusDetails"), token)
    report = JobReport(job_id, device_id, reported, now, details, expected)
    return UpdateRequest(report, token)


def _details(value: Any, token: str | None) -> Mapping[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_DETAILS:
        raise BadRequest(f"statusDetails must be an object of at most {MAX_DETAILS} string values", token)
    for key, item in value.items():
        if not isinstance(item, str) or len(item) > MAX_DETAIL_LENGTH or not key:
            raise BadRequest(f"statusDetails.{key}: must be a string of at most {MAX_DETAIL_LENGTH} chars", token)
    return dict(value)


def _object(payload: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise BadRequest("the payload is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the payload must be a JSON object")
    return body


def _client_token(body: Mapping[str, Any]) -> str | None:
    token = body.get("clientToken")
    if token is None:
        return None
    if not isinstance(token, str) or len(token) > MAX_CLIENT_TOKEN:
        raise BadRequest(f"clientToken must be a string of at most {MAX_CLIENT_TOKEN} chars")
    return token


def _with_token(body: dict[str, Any], client_token: str | None) -> dict[str, Any]:
    if client_token is not None:
        body["clientToken"] = client_token
    return body


def _reportable() -> str:
    return ", ".join(sorted(status.value for status in DEVICE_REPORTABLE))
