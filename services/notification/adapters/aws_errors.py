"""How AWS client errors become delivery failures: throttling and outages are worth retrying, the rest not."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from services.notification.domain.errors import DeliveryFailed

_RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
    }
)


def delivery_failure(service: str, error: Exception) -> DeliveryFailed:
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        message = str(error.response.get("Error", {}).get("Message", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        retryable = code in _RETRYABLE_CODES or status >= 500
        return DeliveryFailed(f"{service} {code}: {message}", retryable=retryable)
    if isinstance(error, BotoCoreError):
        return DeliveryFailed(f"{service} unreachable: {error}", retryable=True)
    return DeliveryFailed(f"{service} failed: {error!r}", retryable=True)
