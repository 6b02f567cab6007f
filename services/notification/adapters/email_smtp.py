"""EmailSender over SMTP (aiosmtplib): IOTMON_SMTP_URL = smtp://[user:password@]host:port[?starttls=true],
or smtps:// for TLS from the first byte.

Each message carries Message-ID <delivery id@domain>, the same on every retry of one delivery, so a mail
system (or a person's client) can drop the copy a crash between "accepted" and "recorded" may produce.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from services.notification.domain.errors import DeliveryFailed
from services.notification.domain.messages import EmailContent, SendReceipt

_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    start_tls: bool = False
    use_tls: bool = False

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"IOTMON_SMTP_URL must look like smtp://host:port or smtps://host:port, got {url!r}")
        query = parse_qs(parts.query)
        secure = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if secure else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            start_tls=query.get("starttls", ["false"])[0].lower() in _TRUE,
            use_tls=secure,
        )


def build_message(sender: str, to: str, content: EmailContent, message_id: str) -> EmailMessage:
    """A multipart/alternative message: plain text first, HTML preferred by clients that show it. The
    recipient is the bare address (the greeting carries the name)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = content.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "iotmon.local"
    message["Message-ID"] = f"<{message_id}@{domain}>"
    message.set_content(content.text)
    message.add_alternative(content.html, subtype="html")
    return message


class SmtpEmailSender:
    """One connection per message. The delivery is reported as soon as the server accepts the data; the
    QUIT that closes the session runs afterwards, in the background: a crash between the server's
    acceptance and the delivery log's record sends the message again, and QUIT's round trip would
    otherwise widen that window for every message."""

    def __init__(self, server: SmtpServer, sender: str, timeout_seconds: float = 10.0):
        self._server = server
        self._sender = sender
        self._timeout = timeout_seconds
        self._closing: set[asyncio.Task[None]] = set()

    async def send(self, to: str, content: EmailContent, message_id: str) -> SendReceipt:
        message = build_message(self._sender, to, content, message_id)
        server = self._server
        client = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            start_tls=server.start_tls,
            use_tls=server.use_tls,
            timeout=self._timeout,
        )
        try:
            await client.connect()
            _, reply = await client.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as refused:
            codes = [r.code for r in refused.recipients]
            raise DeliveryFailed(f"recipient refused: {refused}", retryable=all(c < 500 for c in codes)) from None
        except aiosmtplib.SMTPResponseException as error:
            # 4xx: try later (greylisting, a full queue); 5xx: the server will never take it.
            raise DeliveryFailed(f"SMTP {error.code}: {error.message}", retryable=error.code < 500) from None
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryFailed(f"SMTP server unreachable: {error}", retryable=True) from None
        finally:
            self._close_later(client)
        return SendReceipt(note=reply.strip() or None)

    async def close(self) -> None:
        """Let the sessions still saying QUIT finish (on shutdown)."""
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _close_later(self, client: aiosmtplib.SMTP) -> None:
        task = asyncio.create_task(_quit(client))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


async def _quit(client: aiosmtplib.SMTP) -> None:
    if not client.is_connected:
        return
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()
