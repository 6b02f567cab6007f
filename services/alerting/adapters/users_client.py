"""UserNames over gRPC: the caller's own profile from iot.identity.v1.IdentityService/GetProfile.

The channel forwards the caller's token (open_channel without service tokens), so identity answers for exactly
the user who acknowledges or resolves. When identity cannot answer, the alert still changes: the name falls
back to the token's email, then the user id.
"""

from __future__ import annotations

import logging

import grpc
import grpc.aio
from iot.identity.v1 import identity_pb2, identity_pb2_grpc

from services.kernel.caller import Caller
from services.runtime.ttl_cache import TtlCache

log = logging.getLogger("iotmon.alerting.users")

TIMEOUT_SECONDS = 3.0


class GrpcUserNames:
    def __init__(
        self, channel: grpc.aio.Channel, cache_seconds: float = 60.0, timeout_seconds: float = TIMEOUT_SECONDS
    ):
        self._stub = identity_pb2_grpc.IdentityServiceStub(channel)
        self._timeout = timeout_seconds
        self._cache = TtlCache[str, str](positive_ttl=cache_seconds)

    async def name_of(self, caller: Caller) -> str:
        fallback = caller.email or caller.user_id
        if caller.is_service:
            return caller.user_id
        cached = self._cache.get(caller.user_id)
        if cached is not None:
            return cached
        try:
            reply = await self._stub.GetProfile(identity_pb2.GetProfileRequest(), timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            log.warning(
                "identity did not give the caller's name; using %s",
                "the email" if caller.email else "the user id",
                extra={"userId": caller.user_id, "status": error.code().name},
            )
            return fallback
        name = reply.user.name or fallback
        self._cache.put(caller.user_id, name)
        return name
