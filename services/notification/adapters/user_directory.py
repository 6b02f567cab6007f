"""UserDirectory over gRPC: ListUsersToNotify on the identity service, as the notification service itself.

A burst of alerts for one organization asks once: answers are cached for `ttl` seconds, and concurrent
lookups of one organization share a single call. Identity events (a new user, changed preferences or phone
number), when the bus brings them to this process, drop the organization's entry at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import grpc
import grpc.aio
from iot.identity.v1 import events_pb2, identity_pb2, identity_pb2_grpc

from services.notification.domain.model import ChannelPreferences, QuietHours, Recipient
from services.runtime.clients import unavailable_when_unreachable
from services.runtime.ttl_cache import TtlCache

USER_EVENTS: dict[str, Callable[[bytes], events_pb2.UserCreated | events_pb2.UserUpdated]] = {
    "identity.user_created": events_pb2.UserCreated.FromString,
    "identity.user_updated": events_pb2.UserUpdated.FromString,
}


def recipient_from_proto(user: identity_pb2.User) -> Recipient:
    """Absent preference fields stay None: the domain applies its defaults (email and push on, SMS off)."""
    channels = user.preferences.notifications
    quiet = user.preferences.quiet_hours
    default_quiet = QuietHours()
    return Recipient(
        user_id=user.user_id,
        name=user.name,
        email=user.email,
        role=user.role,
        channels=ChannelPreferences(
            email=channels.email if channels.HasField("email") else None,
            push=channels.push if channels.HasField("push") else None,
            sms=channels.sms if channels.HasField("sms") else None,
        ),
        quiet_hours=QuietHours(
            enabled=quiet.enabled if quiet.HasField("enabled") else default_quiet.enabled,
            start=quiet.start if quiet.HasField("start") else default_quiet.start,
            end=quiet.end if quiet.HasField("end") else default_quiet.end,
            timezone=quiet.timezone if quiet.HasField("timezone") else default_quiet.timezone,
        ),
        device_tokens=tuple(user.device_tokens),
        phone_number=user.phone_number if user.HasField("phone_number") and user.phone_number else None,
        language=user.preferences.language if user.preferences.HasField("language") else "en",
    )


class GrpcUserDirectory:
    """The channel must carry the notification service's own token: ListUsersToNotify is internal."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        ttl_seconds: float = 30.0,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._stub = identity_pb2_grpc.IdentityServiceStub(channel)
        self._timeout = timeout_seconds
        self._cache = TtlCache[str, list[Recipient]](positive_ttl=ttl_seconds, clock=clock)
        self._pending: dict[str, asyncio.Task[list[Recipient]]] = {}
        self.calls = 0

    async def users_to_notify(self, organization_id: str) -> list[Recipient]:
        cached = self._cache.get(organization_id)
        if cached is not None:
            return cached
        task = self._pending.get(organization_id)
        if task is None:
            task = asyncio.create_task(self._fetch(organization_id))
            self._pending[organization_id] = task
            task.add_done_callback(lambda _: self._pending.pop(organization_id, None))
        return await asyncio.shield(task)

    def invalidate(self, organization_id: str) -> None:
        self._cache.invalidate(organization_id)

    async def on_user_event(self, routing_key: str, payload: bytes) -> None:
        """Bus handler for identity.*: forget the organization of the user the event is about."""
        parse = USER_EVENTS.get(routing_key)
        if parse is not None:
            self.invalidate(parse(payload).user.organization_id)

    async def _fetch(self, organization_id: str) -> list[Recipient]:
        self.calls += 1
        request = identity_pb2.ListUsersToNotifyRequest(organization_id=organization_id)
        with unavailable_when_unreachable("the identity service did not answer; the alert will be redelivered"):
            reply = await self._stub.ListUsersToNotify(request, timeout=self._timeout)
        recipients = [recipient_from_proto(u) for u in reply.users]
        self._cache.put(organization_id, recipients)
        return recipients
