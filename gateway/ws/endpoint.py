"""The /ws endpoint: authenticate on connect, then act on the client's messages until it leaves.

A plain ASGI callable (no Starlette WebSocket wrapper or router frames), so an idle connection holds
little more than uvicorn's own protocol object. Close codes (docs/websocket.md):
  4401  no token, or a token that is invalid or expired (sent right after the handshake, with the reason)
  4403  a service token: only users subscribe
  1013  the client did not read fast enough and its send queue filled up ("client too slow")
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from gateway.ws import messages
from gateway.ws.access import AccessUnavailable, DeviceAccess
from gateway.ws.connection import Connection, State
from gateway.ws.hub import Hub
from gateway.ws.messages import InvalidAction, Ping, Subscribe, Unsubscribe
from services.kernel.caller import Caller
from services.kernel.errors import Unauthenticated
from services.runtime.auth import TokenVerifier

log = logging.getLogger("iotmon.gateway")

UNAUTHENTICATED = 4401
FORBIDDEN = 4403
BEARER_SUBPROTOCOL = "bearer"
MAX_CLOSE_REASON_BYTES = 123  # what fits in a close frame


class WebSocketEndpoint:
    def __init__(
        self,
        hub: Hub,
        verifier: TokenVerifier,
        access: DeviceAccess,
        *,
        send_queue_size: int,
        max_devices: int,
    ):
        self._hub = hub
        self._verifier = verifier
        self._access = access
        self._send_queue_size = send_queue_size
        self._max_devices = max_devices

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        token, subprotocol = token_of(scope)
        caller = await self._authenticate(token, subprotocol, send)
        if caller is None:
            return
        connection = Connection(caller, send, self._send_queue_size, self._hub.remove)
        self._hub.add(connection)
        try:
            await self._serve(connection, receive)
        finally:
            connection.closed()
            self._hub.remove(connection)

    async def _authenticate(self, token: str | None, subprotocol: str | None, send: Send) -> Caller | None:
        """The caller, with the handshake accepted; or None once the client was told why not."""
        try:
            if not token:
                raise Unauthenticated("connect with /ws?token=<JWT> (or Authorization: Bearer <JWT>)")
            caller = self._verifier.verify(token)
        except Unauthenticated as refused:
            await _accept_and_close(send, subprotocol, UNAUTHENTICATED, refused.message)
            return None
        if caller.is_service:
            await _accept_and_close(send, subprotocol, FORBIDDEN, "service tokens cannot subscribe")
            return None
        await send({"type": "websocket.accept", "subprotocol": subprotocol})
        return caller

    async def _serve(self, connection: Connection, receive: Receive) -> None:
        while True:
            event = await receive()
            if event["type"] != "websocket.receive":
                return  # websocket.disconnect
            raw = event.get("text")
            if raw is None:
                raw = event.get("bytes") or b""
            try:
                action = messages.parse_action(raw, self._max_devices)
            except InvalidAction as invalid:
                connection.push(messages.error("VALIDATION_ERROR", invalid.message))
                continue
            if isinstance(action, Ping):
                connection.push(messages.PONG)
            elif isinstance(action, Subscribe):
                await self._subscribe(connection, action.device_ids)
            elif isinstance(action, Unsubscribe):
                self._hub.unsubscribe(connection, action.device_ids)
                connection.push(messages.unsubscribed(action.device_ids))

    async def _subscribe(self, connection: Connection, device_ids: tuple[str, ...]) -> None:
        new = [d for d in device_ids if d not in connection.devices]
        if len(connection.devices) + len(new) > self._max_devices:
            message = f"a connection may watch at most {self._max_devices} devices; unsubscribe some first"
            connection.push(messages.error("VALIDATION_ERROR", message))
            return
        try:
            visible = await self._access.visible(connection.caller, new) if new else set()
        except AccessUnavailable as unavailable:
            connection.push(messages.error("UPSTREAM_UNAVAILABLE", str(unavailable)))
            return
        if connection.state is not State.OPEN:
            return  # closed while the device service answered
        granted = [d for d in device_ids if d in visible or d in connection.devices]
        self._hub.subscribe(connection, visible)
        denied = [d for d in device_ids if d not in granted]
        connection.push(messages.subscribed(granted, denied))


def token_of(scope: Scope) -> tuple[str | None, str | None]:
    """(token, subprotocol to accept) from ?token=, `Authorization: Bearer`, or the subprotocols
    `bearer, <JWT>` (browsers cannot set headers on a WebSocket)."""
    subprotocols = scope.get("subprotocols") or []
    if BEARER_SUBPROTOCOL in subprotocols:
        after = subprotocols.index(BEARER_SUBPROTOCOL) + 1
        return (subprotocols[after] if after < len(subprotocols) else None), BEARER_SUBPROTOCOL
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0], None
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return (token.strip() if scheme.lower() == "bearer" else None), None
    return None, None


async def _accept_and_close(send: Send, subprotocol: str | None, code: int, reason: str) -> None:
    # Accept first: browsers see the close code and reason, while a refused handshake is an opaque 1006.
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    encoded = reason.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")
    await send({"type": "websocket.close", "code": code, "reason": encoded})
