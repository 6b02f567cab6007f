"""Helpers shared by the AWS adapters: reading error codes, and outages reported as 503."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from services.kernel.errors import Unavailable

# Codes meaning "try again later" rather than "your request is wrong".
_TRANSIENT_CODES = frozenset(
    {
        "InternalErrorException",
        "InternalServerError",
        "LimitExceededException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ThrottlingException",
        "TooManyRequestsException",
    }
)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextmanager
def outages_as_unavailable(service: str) -> Iterator[None]:
    """Turn network failures and throttling into Unavailable (503); anything else passes through."""
    try:
        yield
    except (BotoConnectionError, HTTPClientError) as error:
        raise Unavailable(f"{service} did not answer", details={"dependency": service}) from error
    except ClientError as error:
        if error_code(error) in _TRANSIENT_CODES:
            raise Unavailable(f"{service} is busy; retry later", details={"dependency": service}) from error
        raise
