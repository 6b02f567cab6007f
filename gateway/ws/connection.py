"""One WebSocket client: who it is, what it watches, and a bounded outbox for when its socket is full.

Writing never makes the bus handler wait. A message is written at once when nothing is queued for the
client (uvicorn's `send` only waits while the socket's write buffer is over its high-water mark); should
`send` have to wait, a writer task takes over that message and drains the outbox behind it, and later
messages queue up to the limit. So a healthy client costs no task and no queue — as cheap as a bare
broadcast loop — and a client that stops reading is closed with 1013 instead of growing server memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from enum import Enum
from typing import Any

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
        """Write or queue a message without waiting; never blocks the caller (the bus handler)."""
        if self.state is not State.OPEN:
            return
        if self._writer is None:
            in_flight = self._write_now(message)
            if in_flight is not None:
                self._writer = asyncio.get_running_loop().create_task(self._drain(in_flight))
            return
        if len(self._outbox) >= self._limit:
            self._overflow()
            return
        self._outbox.append(message)

    def closed(self) -> None:
        """The client is gone: drop what is queued and stop writing."""
        self.state = State.CLOSED
        self._outbox.clear()
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None

    def _write_now(self, message: Outgoing) -> Awaitable[None] | None:
        """Run `send` up to its first wait: None when it completed, else what finishes it."""
        sending = self._send(message)
        if not isinstance(sending, Coroutine):
            return sending
        try:
            waiting_on = sending.send(None)
        except StopIteration:
            return None
        except (OSError, RuntimeError):
            self._gone()
            return None
        return _Resumed(sending, waiting_on)

    def _overflow(self) -> None:
        log.warning(
            "websocket client too slow, closing",
            extra={"organizationId": self.organization_id, "userId": self.caller.user_id, "queued": self._limit},
        )
        self.state = State.CLOSING
        self._outbox.clear()
        self._on_overflow(self)

    async def _drain(self, in_flight: Awaitable[None]) -> None:
        try:
            await in_flight
            while self._outbox:
                await self._send(self._outbox.popleft())
            if self.state is State.CLOSING:
                self.state = State.CLOSED
                await self._send({"type": "websocket.close", "code": TOO_SLOW, "reason": TOO_SLOW_REASON})
        except (OSError, RuntimeError):
            self._gone()
        finally:
            self._writer = None

    def _gone(self) -> None:
        # uvicorn raises ClientDisconnected (an OSError) or RuntimeError once the socket is gone; the
        # endpoint sees the disconnect and removes the connection from the hub.
        self.state = State.CLOSED
        self._outbox.clear()


class _Resumed:
    """Awaiting this finishes a coroutine that was started by hand and is suspended on `waiting_on`.

    It does what `await` does (pass each future the coroutine waits on up to the task, and the task's
    answer or exception back down), starting from the middle: the task first waits on the future the
    coroutine already yielded.
    """

    __slots__ = ("_coroutine", "_waiting_on")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], waiting_on: Any):
        self._coroutine = coroutine
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, None]:
        coroutine, waiting_on = self._coroutine, self._waiting_on
        while True:
            try:
                answer = yield waiting_on
            except BaseException as error:  # cancellation included: the coroutine gets to clean up
                try:
                    waiting_on = coroutine.throw(error)
                except StopIteration:
                    return
            else:
                try:
                    waiting_on = coroutine.send(answer)
                except StopIteration:
                    return
