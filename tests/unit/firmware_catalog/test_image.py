"""The IOTF image format: round trips, streaming, and a reason code for every kind of damage."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import pytest

from iotmon.firmware_cmd import pack_file
from services.firmware.domain.catalog.image import (
    ImageProblem,
    ImageReader,
    ImageRejected,
    check_matches,
    pack,
    pack_header,
    parse,
)

PAYLOAD = bytes(range(256)) * 40
TYPES = ("temp-sensor", "gateway")


def header_length(image: bytes) -> int:
    return int(struct.unpack_from(">H", image, 6)[0])


def problem_of(image: bytes) -> ImageProblem:
    with pytest.raises(ImageRejected) as rejected:
        parse(image)
    return rejected.value.problem


def test_round_trip_gives_back_what_was_packed() -> None:
    metadata = parse(pack("v2.1.0", TYPES, PAYLOAD))
    assert metadata.version == "v2.1.0"
    assert metadata.device_types == TYPES
    assert metadata.payload_length == len(PAYLOAD)
    assert metadata.payload_sha256 == hashlib.sha256(PAYLOAD).hexdigest()


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 4096, 1 << 20])
def test_streaming_in_chunks_of_any_size_parses_the_same(chunk_size: int) -> None:
    image = pack("v1.0.0-rc.1", ("sensor",), PAYLOAD)
    reader = ImageReader()
    for start in range(0, len(image), chunk_size):
        reader.feed(image[start : start + chunk_size])
    assert reader.finish() == parse(image)


def test_every_changed_header_byte_is_refused() -> None:
    image = pack("v2.1.0", TYPES, PAYLOAD)
    length = header_length(image)
    assert length > 48
    for index in range(length):
        for flip in (0x01, 0x80, 0xFF):
            damaged = bytearray(image)
            damaged[index] ^= flip
            with pytest.raises(ImageRejected):
                parse(bytes(damaged))


def test_header_damage_is_named_by_what_it_hit() -> None:
    image = bytearray(pack("v2.1.0", TYPES, PAYLOAD))
    assert problem_of(b"XOTF" + bytes(image[4:])) is ImageProblem.BAD_MAGIC
    assert problem_of(bytes(image[:4]) + b"\x00\x02" + bytes(image[6:])) is ImageProblem.UNSUPPORTED_FORMAT
    damaged = bytearray(image)
    damaged[50] ^= 0x20  # inside the version string: only the CRC can tell
    assert problem_of(bytes(damaged)) is ImageProblem.HEADER_CORRUPT


def test_a_header_whose_crc_matches_but_whose_fields_do_not_add_up_is_corrupt() -> None:
    good = pack_header("v1.0.0", ("a",), 0, hashlib.sha256(b"").digest())
    body = bytearray(good[:-4])
    body[48] = 60  # the version claims more bytes than the header has; recompute the CRC to pass that check
    forged = bytes(body) + struct.pack(">I", zlib.crc32(bytes(body)))
    assert problem_of(forged) is ImageProblem.HEADER_CORRUPT


def test_payload_damage_truncation_and_trailing_bytes() -> None:
    image = pack("v2.1.0", TYPES, PAYLOAD)
    damaged = bytearray(image)
    damaged[-1] ^= 0x01
    assert problem_of(bytes(damaged)) is ImageProblem.PAYLOAD_CHECKSUM_MISMATCH
    assert problem_of(image[:-10]) is ImageProblem.TRUNCATED
    assert problem_of(image[:20]) is ImageProblem.TRUNCATED
    assert problem_of(image[: header_length(image) - 1]) is ImageProblem.TRUNCATED
    assert problem_of(image + b"\0") is ImageProblem.TRAILING_DATA
    assert problem_of(b"") is ImageProblem.TRUNCATED
    assert problem_of(b"PK\x03\x04 not an image at all") is ImageProblem.BAD_MAGIC


def test_a_foreign_file_is_refused_at_its_first_bytes_without_reading_on() -> None:
    reader = ImageReader()
    with pytest.raises(ImageRejected) as rejected:
        reader.feed(b"\x7fELF")
    assert rejected.value.problem is ImageProblem.BAD_MAGIC


def test_the_image_must_match_the_uploaded_metadata() -> None:
    metadata = parse(pack("v2.1.0", TYPES, PAYLOAD))
    check_matches(metadata, "v2.1.0", ("gateway",))
    with pytest.raises(ImageRejected) as version:
        check_matches(metadata, "v2.1.1", TYPES)
    assert version.value.problem is ImageProblem.VERSION_MISMATCH
    with pytest.raises(ImageRejected) as types:
        check_matches(metadata, "v2.1.0", ("temp-sensor", "camera"))
    assert types.value.problem is ImageProblem.DEVICE_TYPE_MISMATCH
    assert "camera" in types.value.reason


def test_pack_refuses_what_the_header_cannot_hold() -> None:
    with pytest.raises(ValueError, match="device type"):
        pack("v1.0.0", [], b"")
    with pytest.raises(ValueError, match="version"):
        pack("v" * 65, ["a"], b"")


def test_the_pack_command_streams_a_binary_into_an_image(tmp_path: Path) -> None:
    binary = tmp_path / "app.bin"
    binary.write_bytes(PAYLOAD * 30)
    image = tmp_path / "app.iotf"
    assert pack_file(binary, image, "v3.0.0", ["temp-sensor"]) == len(PAYLOAD) * 30
    assert image.read_bytes() == pack("v3.0.0", ("temp-sensor",), PAYLOAD * 30)
