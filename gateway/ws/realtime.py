"""Everything /ws needs, built from the settings and started and stopped with the gateway app."""

from __future__ import annotations

from gateway.settings import GatewaySettings
from gateway.ws.access import DeviceAccess
from gateway.ws.endpoint import WebSocketEndpoint
from gateway.ws.hub import Hub
from services.runtime.auth import TokenVerifier
from services.runtime.bus import EventBus
from services.runtime.service_tokens import ServiceTokens
from services.runtime.settings import RuntimeSettings

SERVICE_NAME = "gateway"


class Realtime:
    def __init__(
        self,
        bus: EventBus,
        settings: RuntimeSettings,
        device_address: str,
        verifier: TokenVerifier,
        options: GatewaySettings,
    ):
        self.hub = Hub()
        self._bus = bus
        self._access = DeviceAccess(
            device_address, ServiceTokens(settings, SERVICE_NAME), options.upstream_timeout_seconds
        )
        self.endpoint = WebSocketEndpoint(
            self.hub,
            verifier,
            self._access,
            send_queue_size=options.ws_send_queue_size,
            max_devices=options.ws_max_devices,
        )

    async def start(self) -> None:
        await self._access.open()
        self.hub.attach(self._bus)

    async def stop(self) -> None:
        self.hub.detach()
        await self._access.close()
