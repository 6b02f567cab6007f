"""UserEvents over the event bus: iot.identity.v1 events on identity.user_created / identity.user_updated."""

from __future__ import annotations

from iot.identity.v1 import events_pb2

from services.identity.convert import user_to_proto
from services.identity.domain.model import User
from services.runtime.bus import EventPublisher, event_meta

USER_CREATED = "identity.user_created"
USER_UPDATED = "identity.user_updated"


class BusUserEvents:
    def __init__(self, bus: EventPublisher):
        self._bus = bus

    async def user_created(self, user: User, actor_user_id: str | None) -> None:
        meta = event_meta(user.organization_id, actor_user_id)
        await self._bus.publish(USER_CREATED, events_pb2.UserCreated(meta=meta, user=user_to_proto(user)))

    async def user_updated(self, user: User, actor_user_id: str | None) -> None:
        meta = event_meta(user.organization_id, actor_user_id)
        await self._bus.publish(USER_UPDATED, events_pb2.UserUpdated(meta=meta, user=user_to_proto(user)))
