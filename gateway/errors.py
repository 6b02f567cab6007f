"""Every failure becomes one HTTP status and the spec §8.2 body: {"error": {code, message, details, requestId}}.

Upstream failures arrive as gRPC status codes with a google.rpc.Status in the trailing metadata
(`grpc-status-details-bin`, written by services/runtime/status.py): ErrorInfo gives the machine-readable
code and its metadata, BadRequest the invalid fields. Anything unexpected is a 500 with a generic
message; what really happened goes to the log, never to the client.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
import orjson
from google.rpc import error_details_pb2, status_pb2

from services.kernel.errors import DomainError, ValidationFailed
from services.runtime.status import GRPC_CODE

log = logging.getLogger("iotmon.gateway")

STATUS_DETAILS_KEY = "grpc-status-details-bin"
INTERNAL_MESSAGE = "internal error"

# gRPC status → (HTTP status, code used when the upstream sent no ErrorInfo).
HTTP_STATUS: dict[grpc.StatusCode, tuple[int, str]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "VALIDATION_ERROR"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "VALIDATION_ERROR"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "UNAUTHENTICATED"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "FORBIDDEN"),
    grpc.StatusCode.NOT_FOUND: (404, "NOT_FOUND"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "ALREADY_EXISTS"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "CONFLICT"),
    grpc.StatusCode.ABORTED: (409, "CONFLICT"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "RATE_LIMITED"),
    grpc.StatusCode.UNIMPLEMENTED: (501, "NOT_IMPLEMENTED"),
    grpc.StatusCode.UNAVAILABLE: (503, "UPSTREAM_UNAVAILABLE"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "UPSTREAM_UNAVAILABLE"),
}
INTERNAL = (500, "INTERNAL")
# Messages for failures the upstream did not describe itself (transport errors carry addresses and such).
GENERIC_MESSAGE = {
    501: "this operation is not implemented yet",
    503: "the {service} service is unavailable",
    504: "the {service} service did not answer in time",
}
DEFAULT_RETRY_AFTER_SECONDS = 1


@dataclass
class HttpError(Exception):
    """An error response: raised anywhere in the gateway, rendered once at the edge."""

    status: int
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def validation_error(field_name: str, description: str, message: str | None = None) -> HttpError:
    """400 naming one field, in the same shape as a BadRequest from a service."""
    return HttpError(
        400,
        "VALIDATION_ERROR",
        message or f"{field_name}: {description}",
        {"fields": [{"field": field_name, "description": description}]},
    )


def internal_error() -> HttpError:
    """The only 500 clients ever see: what went wrong is logged, not told."""
    return HttpError(500, "INTERNAL", INTERNAL_MESSAGE)


def http_status(code: grpc.StatusCode, reason: str) -> tuple[int, str]:
    """(HTTP status, default code) of a gRPC status; RESOURCE_EXHAUSTED is 413 when the reason says size."""
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and reason == "PAYLOAD_TOO_LARGE":
        return 413, reason
    return HTTP_STATUS.get(code, INTERNAL)


def from_domain_error(error: DomainError) -> HttpError:
    """A domain error raised inside the gateway (e.g. by the TokenVerifier), mapped like an upstream one."""
    status, _ = http_status(GRPC_CODE[error.kind], error.reason)
    details: dict[str, Any] = dict(error.details)
    if isinstance(error, ValidationFailed) and error.violations:
        details["fields"] = [{"field": v.field, "description": v.description} for v in error.violations]
    return _with_status_headers(HttpError(status, error.reason, error.message, details))


def from_rpc_error(error: grpc.aio.AioRpcError, service: str) -> HttpError:
    status, default_code = HTTP_STATUS.get(error.code(), INTERNAL)
    if status == 500:
        log.error(
            "upstream call failed",
            extra={"service": service, "grpcCode": error.code().name, "grpcMessage": error.details()},
        )
        return internal_error()
    described = _read_status_details(error)
    if described is None:
        generic = GENERIC_MESSAGE.get(status)
        message = generic.format(service=service) if generic else (error.details() or default_code)
        return _with_status_headers(HttpError(status, default_code, message))
    code, details, retry_after = described
    status, default_code = http_status(error.code(), code)
    result = HttpError(status, code or default_code, error.details() or code or default_code, details)
    if retry_after is not None:
        result.headers["Retry-After"] = str(retry_after)
    return _with_status_headers(result)


def _read_status_details(error: grpc.aio.AioRpcError) -> tuple[str, dict[str, Any], int | None] | None:
    """(code, details, retry-after seconds) from the google.rpc.Status, or None when there is none."""
    raw = next((v for k, v in error.trailing_metadata() or () if k == STATUS_DETAILS_KEY), None)
    if not isinstance(raw, bytes):
        return None
    try:
        status = status_pb2.Status.FromString(raw)
    except Exception:  # a malformed trailer is the upstream's bug; fall back to the status code alone
        return None
    code, details, retry_after = "", dict[str, Any](), None
    info = error_details_pb2.ErrorInfo()
    bad = error_details_pb2.BadRequest()
    retry = error_details_pb2.RetryInfo()
    for detail in status.details:
        # Unpack answers False when the detail holds another type.
        if detail.Unpack(info):
            code = info.reason
            details.update(dict(info.metadata))
        elif detail.Unpack(bad):
            details["fields"] = [{"field": v.field, "description": v.description} for v in bad.field_violations]
        elif detail.Unpack(retry):
            delay = retry.retry_delay
            retry_after = max(1, delay.seconds + (1 if delay.nanos > 0 else 0))  # whole seconds, rounded up
    if not code and not details:
        return None
    return code, details, retry_after


def _with_status_headers(error: HttpError) -> HttpError:
    """Headers HTTP expects with some statuses: a challenge with 401, a retry hint with 429."""
    if error.status == 401:
        challenge = 'Bearer realm="iotmon"'
        if error.code in ("INVALID_TOKEN", "TOKEN_EXPIRED"):
            challenge += ', error="invalid_token"'
        error.headers.setdefault("WWW-Authenticate", challenge)
    if error.status == 429:
        error.headers.setdefault("Retry-After", str(DEFAULT_RETRY_AFTER_SECONDS))
    return error


def error_body(error: HttpError, request_id: str | None) -> bytes:
    return orjson.dumps(
        {
            "error": {
                "code": error.code,
                "message": error.message,
                "details": error.details,
                "requestId": request_id,
            }
        }
    )
