"""Per-request context carried in contextvars: each gRPC call and HTTP request runs in its own task."""

from __future__ import annotations

from contextvars import ContextVar

from services.kernel.caller import Caller
from services.kernel.errors import Unauthenticated

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
caller_var: ContextVar[Caller | None] = ContextVar("caller", default=None)
# The raw bearer token, forwarded when a service calls another one on the caller's behalf.
token_var: ContextVar[str | None] = ContextVar("token", default=None)
traceparent_var: ContextVar[str | None] = ContextVar("traceparent", default=None)


def current_caller() -> Caller:
    """The authenticated caller of the running RPC; servicers pass it to use cases."""
    caller = caller_var.get()
    if caller is None:
        raise Unauthenticated("this call needs a bearer token")
    return caller
