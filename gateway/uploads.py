"""The embedded object store's HTTP side: `POST /objects` takes uploads, `GET /objects/{key}` serves downloads.

They stand in for an S3 bucket (docs/firmware.md): the upload is a multipart/form-data POST of the fields the
firmware service handed out (`key`, `policy`, `signature`, …) followed by a `file` part, exactly as S3's
presigned POST, answered 204. The policy is verified (services/runtime/signed_upload.py) before the first file
byte is written; the file streams to a temporary file that is fsynced and renamed into place, and an upload
larger than the policy allows is cut off with 413. Then `firmware.uploaded` goes on the bus, for the
firmware processor. Downloads are presigned URLs (key + expiry, HMAC) that devices fetch without a token.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from iot.firmware.v1 import events_pb2
from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from gateway.errors import HttpError, error_body
from services.runtime.bus import EventPublisher, event_meta
from services.runtime.context import request_id_var
from services.runtime.settings import RuntimeSettings
from services.runtime.signed_upload import (
    UPLOAD_PATH,
    PolicyRefused,
    VerifiedUpload,
    load_signing_key,
    object_path,
    objects_dir,
    valid_key,
    verify_download,
    verify_upload,
)

log = logging.getLogger("iotmon.gateway")

FIRMWARE_UPLOADED = "firmware.uploaded"
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 32
# After refusing an oversized file, read (and drop) this much more of the body, so that the client is still
# listening when the 413 comes instead of meeting a reset connection halfway through its send.
DRAIN_BYTES = 8 * 1024 * 1024
INCOMING_DIR = ".incoming"


class ObjectEndpoints:
    def __init__(self, settings: RuntimeSettings, bus: EventPublisher | None):
        self._settings = settings
        self._root = objects_dir(settings)
        self._bus = bus
        self._secret: bytes | None = None

    def routes(self) -> list[BaseRoute]:
        return [
            Route(UPLOAD_PATH, self.upload, methods=["POST"]),
            Mount(UPLOAD_PATH, routes=[Route("/{key:path}", self.download, methods=["GET", "HEAD"])]),
        ]

    async def _signing_key(self) -> bytes:
        # Read on first use: in S3 mode nothing here is ever asked for, and no key file is made.
        if self._secret is None:
            self._secret = await asyncio.to_thread(load_signing_key, self._settings)
        return self._secret

    async def upload(self, request: Request) -> Response:
        try:
            stored = await _UploadStream(request, self._root, await self._signing_key()).run()
        except HttpError as error:
            return _error_response(error)
        await self._announce(stored)
        return Response(status_code=204)

    async def _announce(self, stored: _Stored) -> None:
        if self._bus is None:
            log.warning("object stored but no bus to announce it", extra={"key": stored.upload.key})
            return
        metadata = stored.upload.metadata
        event = events_pb2.FirmwareUploaded(
            meta=event_meta(metadata.get("organization-id", "")),
            firmware_id=metadata.get("firmware-id", ""),
            object_key=stored.upload.key,
            size=float(stored.size),
        )
        await self._bus.publish(FIRMWARE_UPLOADED, event)

    async def download(self, request: Request) -> Response:
        key = request.path_params["key"]
        try:
            verify_download(
                await self._signing_key(),
                key,
                request.query_params.get("expires", ""),
                request.query_params.get("signature", ""),
                datetime.now(UTC),
            )
        except PolicyRefused as refused:
            return _error_response(HttpError(403, refused.code, refused.message, {"key": key}))
        path = object_path(self._root, key) if valid_key(key) else None
        if path is None or not path.is_file():
            return _error_response(HttpError(404, "OBJECT_NOT_FOUND", f"no object at {key!r}", {"key": key}))
        return FileResponse(path, media_type="application/octet-stream")


def _error_response(error: HttpError) -> Response:
    return Response(
        error_body(error, request_id_var.get()),
        status_code=error.status,
        headers=error.headers,
        media_type="application/json",
    )


class _Stored:
    def __init__(self, upload: VerifiedUpload, size: int):
        self.upload = upload
        self.size = size


class _UploadStream:
    """One multipart upload: fields collected, the policy verified at the file part, the file streamed to disk.

    python-multipart's parser calls back synchronously; the callbacks queue events that the loop below
    handles (asynchronously) after each chunk of the body.
    """

    def __init__(self, request: Request, root: Path, secret: bytes):
        self._request = request
        self._root = root
        self._secret = secret
        self._events: list[tuple[str, Any]] = []
        self._headers: dict[bytes, bytes] = {}
        self._header_field = b""
        self._part: str | None = None  # name of the part being read
        self._value = bytearray()
        self._form: dict[str, str] = {}
        self._upload: VerifiedUpload | None = None
        self._file: IO[bytes] | None = None
        self._temporary: Path | None = None
        self._written = 0
        self._done: _Stored | None = None

    async def run(self) -> _Stored:
        parser = self._parser()
        try:
            async for chunk in self._request.stream():
                if self._done is not None:
                    continue  # S3 ignores what follows the file; read it so the connection stays usable
                parser.write(chunk)
                await self._handle_events()
            parser.finalize()
            await self._handle_events()
        except HttpError as error:
            self._discard()
            if error.status == 413:
                await self._drain()
            raise
        except BaseException:
            self._discard()
            raise
        if self._done is None:
            self._discard()
            raise HttpError(400, "FILE_MISSING", "the form has no complete 'file' part after its fields")
        return self._done

    def _parser(self) -> MultipartParser:
        content_type, options = parse_options_header(self._request.headers.get("content-type", ""))
        boundary = options.get(b"boundary")
        if content_type != b"multipart/form-data" or not boundary:
            raise HttpError(400, "INVALID_FORM", "the upload must be multipart/form-data with a boundary")
        callbacks: dict[str, Callable[..., None]] = {
            "on_part_begin": self._on_part_begin,
            "on_part_data": lambda data, start, end: self._events.append(("data", bytes(data[start:end]))),
            "on_part_end": lambda: self._events.append(("end", None)),
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_headers_finished": self._on_headers_finished,
        }
        return MultipartParser(boundary, callbacks)  # type: ignore[arg-type]

    def _on_part_begin(self) -> None:
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field = bytes(data[start:end]).lower()

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._headers[self._header_field] = self._headers.get(self._header_field, b"") + bytes(data[start:end])

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._events.append(("begin", options.get(b"name", b"").decode("utf-8", "replace")))

    async def _handle_events(self) -> None:
        events, self._events = self._events, []
        for kind, value in events:
            if self._done is not None:
                return
            if kind == "begin":
                await self._begin(value)
            elif kind == "data":
                self._data(value)
            else:
                await self._end()

    async def _begin(self, name: str) -> None:
        self._part = name
        self._value = bytearray()
        if name != "file":
            if len(self._form) >= MAX_FIELDS:
                raise HttpError(400, "INVALID_FORM", f"at most {MAX_FIELDS} form fields")
            return
        try:
            self._upload = verify_upload(self._secret, self._form, datetime.now(UTC))
        except PolicyRefused as refused:
            raise HttpError(403, refused.code, refused.message) from None
        self._root.joinpath(INCOMING_DIR).mkdir(parents=True, exist_ok=True)
        self._temporary = self._root / INCOMING_DIR / secrets.token_hex(8)
        self._file = self._temporary.open("wb")

    def _data(self, data: bytes) -> None:
        if self._part != "file":
            self._value += data
            if len(self._value) > MAX_FIELD_BYTES:
                raise HttpError(400, "INVALID_FORM", f"form field {self._part!r} is over {MAX_FIELD_BYTES} bytes")
            return
        assert self._file is not None
        assert self._upload is not None
        self._written += len(data)
        if self._written > self._upload.max_bytes:
            raise HttpError(
                413,
                "PAYLOAD_TOO_LARGE",
                f"the file is larger than the {self._upload.max_bytes} bytes its policy allows",
                {"maxBytes": str(self._upload.max_bytes)},
            )
        self._file.write(data)

    async def _end(self) -> None:
        if self._part != "file":
            if self._part:
                self._form[self._part] = self._value.decode("utf-8", "replace")
            self._part = None
            return
        assert self._file is not None
        assert self._upload is not None
        assert self._temporary is not None
        upload = self._upload
        if self._written < upload.min_bytes:
            raise HttpError(400, "ENTITY_TOO_SMALL", f"the file is smaller than {upload.min_bytes} bytes")
        file, self._file = self._file, None
        await asyncio.to_thread(_commit, file, self._temporary, object_path(self._root, upload.key))
        self._temporary = None
        self._done = _Stored(upload, self._written)

    def _discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)
            self._temporary = None

    async def _drain(self) -> None:
        drained = 0
        try:
            async for chunk in self._request.stream():
                drained += len(chunk)
                if drained > DRAIN_BYTES:
                    return
        except Exception:  # the client gave up sending: nothing more to read
            return


def _commit(file: IO[bytes], temporary: Path, destination: Path) -> None:
    """Durable before visible: the data reaches the disk, then the name appears (a reader never sees half)."""
    try:
        file.flush()
        os.fsync(file.fileno())
    finally:
        file.close()
    destination.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temporary, destination)
