"""The iotmon firmware image format (version 1): a self-describing header, then the binary payload.

Every integer is big-endian. The header:

    offset  size  field
    0       4     magic b"IOTF"
    4       2     format version (1)
    6       2     header length in bytes, this table's fields and the CRC included
    8       8     payload length in bytes
    16      32    SHA-256 of the payload
    48      1     length V of the firmware version (1..64)
    49      V     firmware version, UTF-8 (e.g. "v2.1.0")
    49+V    1     number N of device types (1..32)
    …             N times: 1 byte length L (1..64), then L bytes of UTF-8 device type
    end-4   4     CRC-32 of every header byte before it

and then exactly `payload length` bytes of payload. A CRC-32 detects every change of up to 32 adjacent bits,
so any one changed header byte is refused (HEADER_CORRUPT, or BAD_MAGIC / UNSUPPORTED_FORMAT / TRUNCATED
when the change hits those fields first); the payload is covered by its SHA-256.

`ImageReader` parses an image fed in chunks of any size, hashing the payload as it goes: a 100 MB image is
never held in memory. `pack` builds a whole image; `pack_header` only the header, for writers that stream
the payload themselves (`iotmon firmware pack`).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from enum import StrEnum

MAGIC = b"IOTF"
FORMAT_VERSION = 1
# magic, format version, header length, payload length, payload SHA-256.
_PREFIX = struct.Struct(">4sHHQ32s")
_CRC = struct.Struct(">I")
MIN_HEADER_LENGTH = _PREFIX.size + 1 + 1 + 1 + 1 + 1 + _CRC.size
MAX_HEADER_LENGTH = 4096
MAX_TEXT_BYTES = 64
MAX_DEVICE_TYPES = 32


class ImageProblem(StrEnum):
    """Why an image is refused: the reason code shown in the firmware's rejectionReason."""

    BAD_MAGIC = "BAD_MAGIC"
    UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
    HEADER_CORRUPT = "HEADER_CORRUPT"
    TRUNCATED = "TRUNCATED"
    TRAILING_DATA = "TRAILING_DATA"
    PAYLOAD_CHECKSUM_MISMATCH = "PAYLOAD_CHECKSUM_MISMATCH"
    VERSION_MISMATCH = "VERSION_MISMATCH"
    DEVICE_TYPE_MISMATCH = "DEVICE_TYPE_MISMATCH"
    TOO_LARGE = "TOO_LARGE"
    MALWARE_FOUND = "MALWARE_FOUND"


class ImageRejected(Exception):
    """The image cannot be accepted; `problem` is the reason code, the message says what exactly."""

    def __init__(self, problem: ImageProblem, message: str):
        super().__init__(f"{problem.value}: {message}")
        self.problem = problem
        self.message = message

    @property
    def reason(self) -> str:
        """The firmware's rejectionReason: the code, then the detail."""
        return f"{self.problem.value}: {self.message}"


@dataclass(frozen=True)
class ImageHeader:
    version: str
    device_types: tuple[str, ...]
    payload_length: int
    payload_sha256: bytes
    header_length: int


@dataclass(frozen=True)
class ImageMetadata:
    """What a complete, valid image says about itself."""

    version: str
    device_types: tuple[str, ...]
    payload_length: int
    payload_sha256: str  # hex


def pack_header(
    version: str, device_types: tuple[str, ...] | list[str], payload_length: int, payload_sha256: bytes
) -> bytes:
    """The header of an image whose payload has that length and SHA-256 (raises ValueError on bad input)."""
    encoded_version = _text(version, "version")
    types = [_text(t, "device type") for t in device_types]
    if not 1 <= len(types) <= MAX_DEVICE_TYPES:
        raise ValueError(f"an image names 1 to {MAX_DEVICE_TYPES} device types, got {len(types)}")
    if len(payload_sha256) != 32:
        raise ValueError("payload_sha256 must be the 32-byte digest")
    body = bytes([len(encoded_version)]) + encoded_version + bytes([len(types)])
    body += b"".join(bytes([len(t)]) + t for t in types)
    header_length = _PREFIX.size + len(body) + _CRC.size
    head = _PREFIX.pack(MAGIC, FORMAT_VERSION, header_length, payload_length, payload_sha256) + body
    return head + _CRC.pack(zlib.crc32(head))


def pack(version: str, device_types: tuple[str, ...] | list[str], payload: bytes) -> bytes:
    return pack_header(version, device_types, len(payload), hashlib.sha256(payload).digest()) + payload


def _text(value: str, what: str) -> bytes:
    encoded = value.encode()
    if not 1 <= len(encoded) <= MAX_TEXT_BYTES:
        raise ValueError(f"a {what} is 1 to {MAX_TEXT_BYTES} bytes of UTF-8, got {value!r}")
    return encoded


def _check_prefix(data: bytes) -> int:
    """Judge magic, format version and header length from the fixed prefix; returns the header length."""
    if data[:4] != MAGIC[: min(4, len(data))]:
        raise ImageRejected(ImageProblem.BAD_MAGIC, "the image does not start with the IOTF magic")
    if len(data) < _PREFIX.size:
        raise ImageRejected(ImageProblem.TRUNCATED, f"the image ends after {len(data)} bytes, inside its header")
    _, format_version, header_length, _, _ = _PREFIX.unpack_from(data)
    if format_version != FORMAT_VERSION:
        raise ImageRejected(ImageProblem.UNSUPPORTED_FORMAT, f"format version {format_version} is not supported")
    if not MIN_HEADER_LENGTH <= header_length <= MAX_HEADER_LENGTH:
        raise ImageRejected(ImageProblem.HEADER_CORRUPT, f"impossible header length {header_length}")
    return int(header_length)


def parse_header(data: bytes) -> ImageHeader:
    """Parse a complete header (`data` may continue with payload). Raises ImageRejected."""
    header_length = _check_prefix(data)
    if len(data) < header_length:
        raise ImageRejected(ImageProblem.TRUNCATED, f"the image ends after {len(data)} bytes, inside its header")
    _, _, _, payload_length, payload_sha256 = _PREFIX.unpack_from(data)
    end = header_length - _CRC.size
    (stored_crc,) = _CRC.unpack_from(data, end)
    if zlib.crc32(data[:end]) != stored_crc:
        raise ImageRejected(ImageProblem.HEADER_CORRUPT, "the header's CRC-32 does not match its bytes")
    fields = _HeaderFields(data[_PREFIX.size : end])
    version = fields.text("version")
    count = fields.byte()
    if not 1 <= count <= MAX_DEVICE_TYPES:
        raise ImageRejected(ImageProblem.HEADER_CORRUPT, f"impossible device type count {count}")
    device_types = tuple(fields.text("device type") for _ in range(count))
    fields.expect_end()
    return ImageHeader(version, device_types, payload_length, payload_sha256, header_length)


class _HeaderFields:
    """Reads the variable part of a header whose CRC already matched: lengths must still add up exactly."""

    def __init__(self, data: bytes):
        self._data = data
        self._at = 0

    def byte(self) -> int:
        if self._at >= len(self._data):
            raise ImageRejected(ImageProblem.HEADER_CORRUPT, "the header's fields run past its length")
        value = self._data[self._at]
        self._at += 1
        return value

    def text(self, what: str) -> str:
        length = self.byte()
        raw = self._data[self._at : self._at + length]
        if length == 0 or len(raw) != length:
            raise ImageRejected(ImageProblem.HEADER_CORRUPT, f"the header's {what} has an impossible length")
        self._at += length
        try:
            return raw.decode()
        except UnicodeDecodeError:
            raise ImageRejected(ImageProblem.HEADER_CORRUPT, f"the header's {what} is not UTF-8") from None

    def expect_end(self) -> None:
        if self._at != len(self._data):
            raise ImageRejected(ImageProblem.HEADER_CORRUPT, "the header has bytes its fields do not account for")


class ImageReader:
    """Parses an image fed chunk by chunk; `finish()` checks the payload and returns the metadata.

    Only the header is buffered (at most MAX_HEADER_LENGTH bytes); payload bytes are hashed and dropped.
    """

    def __init__(self) -> None:
        self._head = bytearray()
        self._header: ImageHeader | None = None
        self._payload_hash = hashlib.sha256()
        self._payload_seen = 0

    @property
    def header(self) -> ImageHeader | None:
        return self._header

    def feed(self, chunk: bytes | memoryview) -> None:
        if self._header is None:
            self._head += chunk
            if not self._try_header():
                return
            rest = memoryview(self._head)[self._header_length :]
            self._consume_payload(rest)
            self._head = bytearray()
        else:
            self._consume_payload(memoryview(chunk))

    @property
    def _header_length(self) -> int:
        assert self._header is not None
        return self._header.header_length

    def _try_header(self) -> bool:
        """Parse the header once all of it arrived; refuse as early as the bytes so far show a problem."""
        head = bytes(self._head)
        if len(head) < _PREFIX.size:
            if head[:4] != MAGIC[: min(4, len(head))]:
                _check_prefix(head)  # raises BAD_MAGIC
            return False
        if len(head) < _check_prefix(head):
            return False
        self._header = parse_header(head)
        return True

    def _consume_payload(self, data: memoryview) -> None:
        assert self._header is not None
        room = self._header.payload_length - self._payload_seen
        if len(data) > room:
            raise ImageRejected(
                ImageProblem.TRAILING_DATA, f"more bytes follow the {self._header.payload_length}-byte payload"
            )
        self._payload_hash.update(data)
        self._payload_seen += len(data)

    def finish(self) -> ImageMetadata:
        if self._header is None:
            parse_header(bytes(self._head))  # raises: the image ended before its header did
            raise AssertionError("unreachable: a complete header would have been parsed")
        header = self._header
        if self._payload_seen < header.payload_length:
            raise ImageRejected(
                ImageProblem.TRUNCATED,
                f"the payload has {self._payload_seen} of its {header.payload_length} bytes",
            )
        if self._payload_hash.digest() != header.payload_sha256:
            raise ImageRejected(ImageProblem.PAYLOAD_CHECKSUM_MISMATCH, "the payload's SHA-256 is not the header's")
        return ImageMetadata(header.version, header.device_types, header.payload_length, header.payload_sha256.hex())


def parse(data: bytes) -> ImageMetadata:
    """Parse a whole image held in memory (small images, tests)."""
    reader = ImageReader()
    reader.feed(data)
    return reader.finish()


def check_matches(metadata: ImageMetadata, version: str, device_types: tuple[str, ...]) -> None:
    """The image must be the version the upload declared and support every device type it declared."""
    if metadata.version != version:
        raise ImageRejected(
            ImageProblem.VERSION_MISMATCH, f"the image is version {metadata.version!r}, the upload said {version!r}"
        )
    missing = sorted(set(device_types) - set(metadata.device_types))
    if missing:
        raise ImageRejected(
            ImageProblem.DEVICE_TYPE_MISMATCH, f"the image does not support device types {', '.join(missing)}"
        )
