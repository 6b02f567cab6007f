"""The clamd adapter against a tiny fake clamd speaking INSTREAM, and the processor rejecting what it finds."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest

from services.firmware.adapters.clamd import ClamdScanner, ClamdUnavailable, parse_address, parse_reply
from services.firmware.domain.catalog.objects import ScanVerdict

SIGNATURE = b"EVIL-PAYLOAD"


class FakeClamd:
    """Reads `zINSTREAM\\0` and length-prefixed chunks; answers FOUND when the stream contains SIGNATURE."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readexactly(10) == b"zINSTREAM\0"
        data = b""
        while True:
            (length,) = struct.unpack(">I", await reader.readexactly(4))
            if length == 0:
                break
            data += await reader.readexactly(length)
        self.received.append(data)
        writer.write(b"stream: Fake.Evil FOUND\0" if SIGNATURE in data else b"stream: OK\0")
        await writer.drain()
        writer.close()


@pytest.fixture
async def clamd() -> AsyncIterator[tuple[FakeClamd, str]]:
    fake = FakeClamd()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield fake, f"127.0.0.1:{port}"


async def scan(address: str, *chunks: bytes) -> ScanVerdict:
    session = await ClamdScanner(address, timeout=5).open()
    for chunk in chunks:
        await session.send(chunk)
    return await session.verdict()


async def test_clean_and_infected_streams(clamd: tuple[FakeClamd, str]) -> None:
    fake, address = clamd
    assert await scan(address, b"hello ", b"world") == ScanVerdict(clean=True)
    assert fake.received[-1] == b"hello world"
    assert await scan(address, b"xx", SIGNATURE) == ScanVerdict(clean=False, signature="Fake.Evil")


async def test_an_absent_clamd_is_unavailable_not_clean() -> None:
    with pytest.raises(ClamdUnavailable):
        await ClamdScanner("127.0.0.1:1", timeout=2).open()


def test_replies_and_addresses() -> None:
    assert parse_reply("stream: OK") == ScanVerdict(clean=True)
    assert parse_reply("stream: Eicar-Signature FOUND") == ScanVerdict(clean=False, signature="Eicar-Signature")
    with pytest.raises(ClamdUnavailable):
        parse_reply("INSTREAM size limit exceeded. ERROR")
    assert parse_address("tcp://clamd.local:3310") == ("clamd.local", 3310)
    with pytest.raises(ValueError, match="host:port"):
        parse_address("clamd")
