"""The hub: which connection watches what, and the bus events it turns into messages for them.

Two indexes and nothing per connection beyond its own set of device ids:
- organization → connections (alerts and deployment progress go to the whole organization: dashboards want
  the alert feed, and a rollout is watched from any page);
- organization → device → connections (readings and status changes go to a device's subscribers).
Keying devices under the organization means an event reaches only connections of the organization the
event names (EventMeta.organization_id), whatever device ids it carries.

Every replica of the gateway subscribes with group=None, so each one gets every event and serves its own
connections. Handlers only queue (Connection.push): they never wait on a client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator

from iot.alerting.v1 import events_pb2 as alerting_events
from iot.device.v1 import events_pb2 as device_events
from iot.firmware.v1 import events_pb2 as firmware_events
from iot.telemetry.v1 import events_pb2 as telemetry_events

from gateway.render import JsonRenderer
from gateway.ws import messages
from gateway.ws.connection import Connection
from gateway.ws.messages import Outgoing
from services.runtime.bus import EventBus

log = logging.getLogger("iotmon.gateway")

READINGS_STORED = "telemetry.readings_stored"
DEVICE_STATUS_CHANGED = "device.status_changed"
DEPLOYMENT_CHANGED = "firmware.deployment_changed"
AlertEvent = alerting_events.AlertTriggered | alerting_events.AlertAcknowledged | alerting_events.AlertResolved
ALERT_EVENTS: dict[str, Callable[[bytes], AlertEvent]] = {
    "alerting.alert_triggered": alerting_events.AlertTriggered.FromString,
    "alerting.alert_acknowledged": alerting_events.AlertAcknowledged.FromString,
    "alerting.alert_resolved": alerting_events.AlertResolved.FromString,
}
ROUTING_KEYS = (READINGS_STORED, DEVICE_STATUS_CHANGED, DEPLOYMENT_CHANGED, *ALERT_EVENTS)


class Hub:
    def __init__(self) -> None:
        self._organizations: dict[str, set[Connection]] = {}
        self._devices: dict[str, dict[str, set[Connection]]] = {}
        self._attached = False
        # The REST transcoder's renderer: a pushed deployment is exactly what GET /firmware/deployments/{id} shows.
        self._renderer = JsonRenderer()

    # -- the bus

    def attach(self, bus: EventBus) -> None:
        """Subscribe to the events the hub pushes (the bus allows it after start)."""
        for routing_key in ROUTING_KEYS:
            bus.subscribe(routing_key, self.on_event, group=None)
        self._attached = True

    def detach(self) -> None:
        """Ignore events from now on (the bus has no unsubscribe; the app is stopping)."""
        self._attached = False

    async def on_event(self, routing_key: str, body: bytes) -> None:
        if not self._attached or not self._organizations:
            return  # nobody connected to this replica: skip even the parsing
        if routing_key == READINGS_STORED:
            stored = telemetry_events.ReadingsStored.FromString(body)
            devices = self._devices.get(stored.meta.organization_id)
            if devices:
                for reading in stored.readings:
                    watchers = devices.get(reading.device_id)
                    if watchers:
                        _fan_out(watchers, messages.reading(reading))
        elif routing_key == DEVICE_STATUS_CHANGED:
            changed = device_events.DeviceStatusChanged.FromString(body)
            watchers = self._devices.get(changed.meta.organization_id, {}).get(changed.device_id)
            if watchers:
                _fan_out(watchers, messages.device_status(changed))
        elif (parse_alert_event := ALERT_EVENTS.get(routing_key)) is not None:
            event = parse_alert_event(body)
            members = self._organizations.get(event.meta.organization_id)
            if members:
                _fan_out(members, messages.alert(event.alert))
        elif routing_key == DEPLOYMENT_CHANGED:
            moved = firmware_events.DeploymentChanged.FromString(body)
            members = self._organizations.get(moved.meta.organization_id)
            if members:
                _fan_out(members, messages.deployment(self._renderer.to_dict(moved.deployment)))

    # -- the indexes

    def add(self, connection: Connection) -> None:
        self._organizations.setdefault(connection.organization_id, set()).add(connection)

    def remove(self, connection: Connection) -> None:
        """Forget a connection everywhere (disconnect, or closed for being too slow); safe to repeat."""
        self.unsubscribe(connection, tuple(connection.devices))
        members = self._organizations.get(connection.organization_id)
        if members is not None:
            members.discard(connection)
            if not members:
                del self._organizations[connection.organization_id]

    def subscribe(self, connection: Connection, device_ids: Iterable[str]) -> None:
        devices = self._devices.setdefault(connection.organization_id, {})
        for device_id in device_ids:
            devices.setdefault(device_id, set()).add(connection)
            connection.devices.add(device_id)

    def unsubscribe(self, connection: Connection, device_ids: Collection[str]) -> None:
        connection.devices.difference_update(device_ids)
        devices = self._devices.get(connection.organization_id)
        if devices is None:
            return
        for device_id in device_ids:
            watchers = devices.get(device_id)
            if watchers is not None:
                watchers.discard(connection)
                if not watchers:
                    del devices[device_id]
        if not devices:
            del self._devices[connection.organization_id]

    # -- what tests and operators look at

    @property
    def connection_count(self) -> int:
        return sum(len(members) for members in self._organizations.values())

    @property
    def subscription_count(self) -> int:
        """(device, connection) pairs in the index."""
        return sum(len(w) for devices in self._devices.values() for w in devices.values())

    def connections(self) -> Iterator[Connection]:
        for members in self._organizations.values():
            yield from members

    def watchers_of(self, organization_id: str, device_id: str) -> int:
        return len(self._devices.get(organization_id, {}).get(device_id, ()))


def _fan_out(connections: set[Connection], message: Outgoing) -> None:
    # A copy: a connection that overflows asks to be removed, which must not resize the set mid-loop.
    for connection in tuple(connections):
        connection.push(message)
