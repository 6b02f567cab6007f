"""One WebSocket client: who it is, what it watches, and a bounded outbox drained by a short-lived task.

An idle connection costs one object and no task of its own: a writer task exists only while the outbox
holds messages, so a burst is written in one go and the bus handler that filled the outbox never waits on
a socket. A client that lets its outbox fill up is closed with 1013 instead of growing server memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from enum import Enum

from starlette.types import Send

from gateway.ws.messages import Outgoing
from services.kernel.caller import Caller

log = logging.getLogger("iotmon.gateway")

TOO_SLOW = 1013  # Try Again Later: the client may reconnect and subscribe again
TOO_SLOW_REASON = "client too slow"


class State(Enum):
    OPEN = 1
    CLOSING = 2  # the outbox overflowed: nothing more is queued, the close frame goes out next
    CLOSED = 3


class Connection:
    __slots__ = ("_limit", "_on_overflow", "_outbox", "_send", "_writer", "caller", "devices", "state")

    def __init__(self, caller: Caller, send: Send, limit: int, on_overflow: Callable[[Connection], None]):
        self.caller = caller
        self.devices: set[str] = set()
        self.state = State.OPEN
        self._send = send
        self._limit = limit
        self._on_overflow = on_overflow
        self._outbox: deque[Outgoing] = deque()
        self._writer: asyncio.Task[None] | None = None

    @property
    def organization_id(self) -> str:
        return self.caller.organization_id

    @property
    def queued(self) -> int:
        return len(self._outbox)

    def push(self, message: Outgoing) -> None:
        """Queue a message without waiting; never blocks the caller (the bus handler)."""
        if self.state is not State.OPEN:
            return
        if len(self._outbox) >= self._limit:
            self._overflow()
            return
        self._outbox.append(message)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    def closed(self) -> None:
        """The client is gone: drop what is queued and stop writing."""
        self.state = State.CLOSED
        self._outbox.clear()
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None

    def _overflow(self) -> None:
        log.warning(
            "websocket client too slow, closing",
            extra={"organizationId": self.organization_id, "userId": self.caller.user_id, "queued": self._limit},
        )
        self.state = State.CLOSING
        self._outbox.clear()
        self._on_overflow(self)

    async def _drain(self) -> None:
        try:
            while self._outbox:
                await self._send(self._outbox.popleft())
            if self.state is State.CLOSING:
                self.state = State.CLOSED
                await self._send({"type": "websocket.close", "code": TOO_SLOW, "reason": TOO_SLOW_REASON})
        except (OSError, RuntimeError):
            # uvicorn raises ClientDisconnected (an OSError) or RuntimeError once the socket is gone; the
            # endpoint sees the disconnect and cleans up.
            self.state = State.CLOSED
            self._outbox.clear()
        finally:
            self._writer = None
