"""A MalwareScanner talking to clamd over TCP with the INSTREAM command.

The protocol: `zINSTREAM\0`, then chunks each prefixed by its length (4 bytes, big-endian), a zero length to
end, and one reply such as `stream: OK` or `stream: Eicar-Signature FOUND`, terminated by a NUL. An ERROR
reply (e.g. the stream is over clamd's StreamMaxLength) or no answer is an infrastructure failure: the
processor hands the image back and the upload event is delivered again.
"""

from __future__ import annotations

import asyncio
import struct

from services.firmware.domain.catalog.objects import ScanVerdict

# clamd refuses chunks larger than its StreamMaxLength; keep each well below it.
MAX_CHUNK = 1024 * 1024


class ClamdUnavailable(Exception):
    pass


def parse_address(address: str) -> tuple[str, int]:
    """`host:port` (tcp:// allowed in front)."""
    host, _, port = address.removeprefix("tcp://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"clamd address must be host:port, got {address!r}")
    return host.strip("[]"), int(port)


class ClamdScanner:
    def __init__(self, address: str, *, timeout: float = 30.0):
        self._host, self._port = parse_address(address)
        self._timeout = timeout

    async def open(self) -> ClamdSession:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self._host, self._port), timeout=self._timeout
            )
        except (OSError, TimeoutError) as error:
            raise ClamdUnavailable(f"clamd at {self._host}:{self._port}: {error}") from error
        writer.write(b"zINSTREAM\0")
        return ClamdSession(reader, writer, self._timeout)


class ClamdSession:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float):
        self._reader = reader
        self._writer = writer
        self._timeout = timeout

    async def send(self, chunk: bytes) -> None:
        for start in range(0, len(chunk), MAX_CHUNK):
            part = chunk[start : start + MAX_CHUNK]
            self._writer.write(struct.pack(">I", len(part)) + part)
            await asyncio.wait_for(self._writer.drain(), timeout=self._timeout)

    async def verdict(self) -> ScanVerdict:
        try:
            self._writer.write(struct.pack(">I", 0))
            await asyncio.wait_for(self._writer.drain(), timeout=self._timeout)
            raw = await asyncio.wait_for(self._reader.readuntil(b"\0"), timeout=self._timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
            raise ClamdUnavailable(f"clamd did not answer: {error}") from error
        finally:
            await self.abort()
        return parse_reply(raw.rstrip(b"\0").decode("utf-8", "replace"))

    async def abort(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()


def parse_reply(reply: str) -> ScanVerdict:
    """`stream: OK` → clean; `stream: <name> FOUND` → infected with <name>; anything else is an error."""
    text = reply.strip()
    if text.endswith(": OK"):
        return ScanVerdict(clean=True)
    if text.endswith(" FOUND"):
        return ScanVerdict(clean=False, signature=text.removesuffix(" FOUND").split(": ", 1)[-1])
    raise ClamdUnavailable(f"clamd answered {text!r}")
