"""The realtime WebSocket hub at /ws (docs/websocket.md)."""

from gateway.ws.realtime import Realtime

WS_PATH = "/ws"

__all__ = ["WS_PATH", "Realtime"]
