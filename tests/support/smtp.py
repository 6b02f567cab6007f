"""A real SMTP server (aiosmtpd) on a free port that keeps every message it accepts.

Addresses in `refuse` get a 550 at RCPT, in `defer` a 451, and messages to `refuse_data` a 554 after their
data: the notification tests use them for the sender's permanent and temporary failures.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.servers import free_port


@dataclass
class SmtpInbox:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    defer: set[str] = field(default_factory=set)
    refuse_data: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # the server appends from its own thread

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def received(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.received() if address in str(m["To"])]

    def wait_for(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.received()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.received())} of {count} emails within {timeout} s")
            time.sleep(0.02)
        return self.received()

    def _accept(self, message: EmailMessage) -> None:
        with self._lock:
            self.messages.append(message)


class _Handler:
    """aiosmtpd's handler protocol (its method names)."""

    def __init__(self, inbox: SmtpInbox):
        self._inbox = inbox

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self._inbox.refuse:
            return "550 5.1.1 no such user"
        if address in self._inbox.defer:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if set(envelope.rcpt_tos) & self._inbox.refuse_data:
            return "554 5.7.1 message refused"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self._inbox._accept(message)
        return "250 2.0.0 queued"


@contextmanager
def smtp_server() -> Iterator[SmtpInbox]:
    inbox = SmtpInbox("127.0.0.1", free_port())
    controller = Controller(_Handler(inbox), hostname=inbox.host, port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
