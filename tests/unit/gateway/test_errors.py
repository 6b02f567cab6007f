"""gRPC status (with or without google.rpc details) → HTTP status, §8.2 code, details and headers."""

from __future__ import annotations

import grpc
import grpc.aio
import orjson
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from gateway.errors import HttpError, error_body, from_domain_error, from_rpc_error
from services.kernel.errors import (
    AlreadyExists,
    Conflict,
    DomainError,
    FieldViolation,
    NotFound,
    PermissionDenied,
    RateLimited,
    TooLarge,
    Unauthenticated,
    Unavailable,
    ValidationFailed,
)
from services.runtime.service import NotImplementedYet
from services.runtime.status import internal_status, to_status


def rpc_error_from(status: grpc.Status) -> grpc.aio.AioRpcError:
    """What a grpc.aio client raises when a service aborts with `status`."""
    return grpc.aio.AioRpcError(
        status.code, grpc.aio.Metadata(), grpc.aio.Metadata(*status.trailing_metadata), status.details
    )


def bare_rpc_error(code: grpc.StatusCode, details: str = "upstream said so") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ValidationFailed.of_field("name", "too short"), 400, "VALIDATION_ERROR"),
        (Unauthenticated("expired", reason="TOKEN_EXPIRED"), 401, "TOKEN_EXPIRED"),
        (PermissionDenied("admins only"), 403, "FORBIDDEN"),
        (NotFound("no device", reason="DEVICE_NOT_FOUND", details={"deviceId": "dev-1"}), 404, "DEVICE_NOT_FOUND"),
        (AlreadyExists("dup", reason="DEVICE_ALREADY_EXISTS"), 409, "DEVICE_ALREADY_EXISTS"),
        (Conflict("alerts", reason="DEVICE_HAS_ACTIVE_ALERTS"), 409, "DEVICE_HAS_ACTIVE_ALERTS"),
        (TooLarge("too big"), 413, "PAYLOAD_TOO_LARGE"),
        (RateLimited("slow down"), 429, "RATE_LIMITED"),
        (NotImplementedYet("later"), 501, "NOT_IMPLEMENTED"),
        (Unavailable("a dependency did not answer"), 503, "UPSTREAM_UNAVAILABLE"),
    ],
)
def test_domain_errors_from_services_keep_their_reason_and_message(error: DomainError, status: int, code: str) -> None:
    result = from_rpc_error(rpc_error_from(to_status(error)), "device")
    assert (result.status, result.code, result.message) == (status, code, error.message)
    assert {k: v for k, v in result.details.items() if k != "fields"} == error.details
    # The same error raised inside the gateway maps the same way.
    local = from_domain_error(error)
    assert (local.status, local.code) == (status, code)


def test_bad_request_details_become_fields() -> None:
    error = ValidationFailed(
        "2 invalid fields", violations=[FieldViolation("location.lat", "out of range"), FieldViolation("name", "empty")]
    )
    result = from_rpc_error(rpc_error_from(to_status(error)), "device")
    assert result.details["fields"] == [
        {"field": "location.lat", "description": "out of range"},
        {"field": "name", "description": "empty"},
    ]


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400, "VALIDATION_ERROR"),
        (grpc.StatusCode.OUT_OF_RANGE, 400, "VALIDATION_ERROR"),
        (grpc.StatusCode.UNAUTHENTICATED, 401, "UNAUTHENTICATED"),
        (grpc.StatusCode.PERMISSION_DENIED, 403, "FORBIDDEN"),
        (grpc.StatusCode.NOT_FOUND, 404, "NOT_FOUND"),
        (grpc.StatusCode.ALREADY_EXISTS, 409, "ALREADY_EXISTS"),
        (grpc.StatusCode.FAILED_PRECONDITION, 409, "CONFLICT"),
        (grpc.StatusCode.ABORTED, 409, "CONFLICT"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429, "RATE_LIMITED"),
        (grpc.StatusCode.UNIMPLEMENTED, 501, "NOT_IMPLEMENTED"),
        (grpc.StatusCode.UNAVAILABLE, 503, "UPSTREAM_UNAVAILABLE"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504, "UPSTREAM_UNAVAILABLE"),
        (grpc.StatusCode.INTERNAL, 500, "INTERNAL"),
        (grpc.StatusCode.UNKNOWN, 500, "INTERNAL"),
        (grpc.StatusCode.DATA_LOSS, 500, "INTERNAL"),
        (grpc.StatusCode.CANCELLED, 500, "INTERNAL"),
    ],
)
def test_a_missing_error_info_still_yields_a_sensible_code(code: grpc.StatusCode, status: int, reason: str) -> None:
    result = from_rpc_error(bare_rpc_error(code, "failed to connect to 10.0.0.7:50051"), "device")
    assert (result.status, result.code) == (status, reason)
    if status >= 500:
        assert "10.0.0.7" not in result.message  # transport details stay in the log


def test_transport_failures_name_the_service_not_the_address() -> None:
    assert from_rpc_error(bare_rpc_error(grpc.StatusCode.UNAVAILABLE), "telemetry").message == (
        "the telemetry service is unavailable"
    )


def test_internal_errors_never_show_upstream_internals() -> None:
    result = from_rpc_error(rpc_error_from(internal_status("KeyError: 'password' in db.py line 3")), "device")
    assert (result.status, result.code, result.message) == (500, "INTERNAL", "internal error")
    assert result.details == {}


def test_rate_limits_carry_retry_after_from_retry_info_or_a_default() -> None:
    assert from_rpc_error(rpc_error_from(to_status(RateLimited("slow"))), "device").headers["Retry-After"] == "1"
    info = error_details_pb2.ErrorInfo(reason="RATE_LIMITED")
    retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=7, nanos=1))
    details = [any_pb2.Any(), any_pb2.Any()]
    details[0].Pack(info)
    details[1].Pack(retry)
    raw = status_pb2.Status(code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], message="slow", details=details)
    error = grpc.aio.AioRpcError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(("grpc-status-details-bin", raw.SerializeToString())),
        "slow",
    )
    assert from_rpc_error(error, "device").headers["Retry-After"] == "8"


def test_unauthenticated_carries_a_bearer_challenge() -> None:
    result = from_rpc_error(rpc_error_from(to_status(Unauthenticated("bad", reason="INVALID_TOKEN"))), "device")
    assert result.headers["WWW-Authenticate"] == 'Bearer realm="iotmon", error="invalid_token"'


def test_a_malformed_status_trailer_falls_back_to_the_code() -> None:
    error = grpc.aio.AioRpcError(
        grpc.StatusCode.NOT_FOUND,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(("grpc-status-details-bin", b"\xff\x00garbage")),
        "gone",
    )
    assert (from_rpc_error(error, "device").status, from_rpc_error(error, "device").code) == (404, "NOT_FOUND")


def test_error_body_has_the_spec_shape() -> None:
    body = orjson.loads(error_body(HttpError(404, "DEVICE_NOT_FOUND", "gone", {"deviceId": "dev-1"}), "req-1"))
    assert body == {
        "error": {"code": "DEVICE_NOT_FOUND", "message": "gone", "details": {"deviceId": "dev-1"}, "requestId": "req-1"}
    }
