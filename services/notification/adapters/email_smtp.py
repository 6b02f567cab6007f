"""EmailSender over SMTP (aiosmtplib): IOTMON_SMTP_URL = smtp://[user:password@]host:port[?starttls=true],
or smtps:// for TLS from the first byte.

Each message carries Message-ID <delivery id@domain>, the same on every retry of one delivery, so a mail
system (or a person's client) can drop the copy a crash between "accepted" and "recorded" may produce.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from aiosmtplib import SMTPStatus

from services.notification.domain.errors import DeliveryFailed
from services.notification.domain.messages import EmailContent, SendReceipt
from services.notification.ports import HandOver

_TRUE = ("1", "true", "yes", "on")
_LEADING_DOT = re.compile(rb"(?m)^\.")


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
    # Quoted-printable keeps every line 7-bit and short, whatever the server supports.
    message.set_content(content.text, cte="quoted-printable")
    message.add_alternative(content.html, subtype="html", cte="quoted-printable")
    return message


class SmtpEmailSender:
    """One connection per message, with the DATA phase driven here so that `hand_over` runs between the
    server's 354 and the write of the message with its final line: the server commits to a message when
    that line arrives, so the delivery log learns of it in the same event-loop step (docs/notifications.md).
    The QUIT that closes the session runs afterwards, in the background."""

    def __init__(self, server: SmtpServer, sender: str, timeout_seconds: float = 10.0):
        self._server = server
        self._sender = sender
        self._envelope_sender = parseaddr(sender)[1]
        self._timeout = timeout_seconds
        self._closing: set[asyncio.Task[None]] = set()

    async def send(
        self, to: str, content: EmailContent, message_id: str, hand_over: HandOver | None = None
    ) -> SendReceipt:
        data = _wire_format(build_message(self._sender, to, content, message_id))
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
            await client.mail(self._envelope_sender)
            await client.rcpt(to)
            ready = await client.execute_command(b"DATA")
            if ready.code != SMTPStatus.start_input:
                raise aiosmtplib.SMTPDataError(ready.code, ready.message)
            if hand_over is not None:
                try:
                    await hand_over()
                except BaseException:
                    client.close()  # mid-DATA: a QUIT would be read as message text
                    raise
            # write() and read_response() in one step: the reply cannot arrive before it is awaited.
            client.protocol.write(data)  # type: ignore[union-attr]
            reply = await client.protocol.read_response(timeout=self._timeout)  # type: ignore[union-attr]
            if reply.code != SMTPStatus.completed:
                raise aiosmtplib.SMTPDataError(reply.code, reply.message)
        except aiosmtplib.SMTPRecipientRefused as refused:
            raise DeliveryFailed(
                f"recipient refused: SMTP {refused.code} {refused.message}", retryable=refused.code < 500
            ) from None
        except aiosmtplib.SMTPResponseException as error:
            # 4xx: try later (greylisting, a full queue); 5xx: the server will never take it.
            raise DeliveryFailed(f"SMTP {error.code}: {error.message}", retryable=error.code < 500) from None
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryFailed(f"SMTP server unreachable: {error}", retryable=True) from None
        finally:
            self._close_later(client)
        return SendReceipt(note=reply.message.strip() or None)

    async def close(self) -> None:
        """Let the sessions still saying QUIT finish (on shutdown)."""
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _close_later(self, client: aiosmtplib.SMTP) -> None:
        task = asyncio.create_task(_quit(client))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def _wire_format(message: EmailMessage) -> bytes:
    """The DATA payload: CRLF lines, a leading dot doubled (RFC 5321 4.5.2), then the final "." line."""
    data = message.as_bytes(policy=SMTP_POLICY)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return _LEADING_DOT.sub(b"..", data) + b".\r\n"


async def _quit(client: aiosmtplib.SMTP) -> None:
    if not client.is_connected or client.protocol is None:
        return
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()
