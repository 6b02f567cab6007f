"""The JSON request body: read within a size limit, parsed with orjson, checked, merged with json_format —
or, when the rule's body is a google.api.HttpBody, handed on raw.

json_format would also refuse unknown keys, but its message names internal proto types; checking the keys
against the descriptors first gives the client a 400 that names the key by its JSON path
(PUT /devices/{id} with "firmwareVersion" → `firmwareVersion: unknown field`).
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from starlette.types import Receive

from gateway.errors import HttpError, validation_error
from gateway.fields import JSON_MESSAGES, TEXT_MESSAGES, FieldBinding, is_map, is_repeated
from gateway.routes import HttpRoute


class ClientDisconnected(Exception):
    """The client went away before sending its whole body; nobody is left to answer."""


async def read_body(receive: Receive, declared_length: str | None, limit: int) -> bytes:
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(limit: int) -> HttpError:
    return HttpError(413, "PAYLOAD_TOO_LARGE", f"the request body exceeds {limit} bytes", {"maxBytes": str(limit)})


def parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise HttpError(400, "INVALID_JSON", f"the request body is not valid JSON: {error}") from None


def fill_http_body(route: HttpRoute, raw: bytes, content_type: str | None, message: Message) -> None:
    """A google.api.HttpBody body: the bytes and content type as sent, for the service to parse (the size
    limit still applied while reading). POST /telemetry uses it so that one malformed record fails alone."""
    target: Any = getattr(message, route.body_field.name) if route.body_field is not None else message
    target.content_type = content_type or "application/json"
    target.data = raw


def merge_body(route: HttpRoute, document: Any, message: Message, path_texts: list[str]) -> None:
    """Check the parsed body against the request message, then merge it into `message`."""
    if route.body_field is None:
        if not isinstance(document, dict):
            raise validation_error("body", "must be a JSON object")
        check_keys(route.method.input_type, document, "")
        _check_path_duplicates(route.path_bindings, document, path_texts)
        wrapped = document
    else:
        _check_field_value(route.body_field, document, "")
        # The body IS this field ("preferences"), so wrap it and let json_format do the rest.
        wrapped = {route.body_field.json_name: document}
    try:
        json_format.ParseDict(wrapped, message)
    except json_format.ParseError as error:
        raise HttpError(400, "VALIDATION_ERROR", str(error)) from None


def check_keys(message: Descriptor, document: dict[str, Any], prefix: str) -> None:
    """Refuse keys that name no field, at any depth, naming them by their JSON path."""
    fields = _fields_by_any_name(message)
    for key, value in document.items():
        field = fields.get(key)
        if field is None:
            allowed = ", ".join(f.json_name for f in message.fields)
            raise validation_error(
                prefix + key,
                f"unknown field; {message.name} accepts {allowed}",
                f"unknown field {prefix + key!r} in the request body",
            )
        _check_field_value(field, value, f"{prefix}{field.json_name}")


def _check_field_value(field: FieldDescriptor, value: Any, path: str) -> None:
    message = field.message_type
    if message is None or message.full_name in JSON_MESSAGES or message.full_name in TEXT_MESSAGES:
        return
    dot = f"{path}." if path else ""
    if is_map(field):
        value_field = message.fields_by_name["value"]
        if isinstance(value, dict):
            for key, item in value.items():
                _check_field_value(value_field, item, f"{dot}{key}")
    elif is_repeated(field):
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    check_keys(message, item, f"{path}[{index}].")
    elif isinstance(value, dict):
        check_keys(message, value, dot)


def _member(document: Any, field: FieldDescriptor) -> Any:
    if not isinstance(document, dict):
        return None
    return document[field.json_name] if field.json_name in document else document.get(field.name)


@functools.cache
def _fields_by_any_name(message: Descriptor) -> dict[str, FieldDescriptor]:
    """json_format accepts both spellings of a key (deviceId, device_id), so the check does too."""
    names = {f.name: f for f in message.fields}
    names.update({f.json_name: f for f in message.fields})
    return names


def _check_path_duplicates(bindings: tuple[FieldBinding, ...], document: dict[str, Any], texts: list[str]) -> None:
    """A body may repeat a path parameter, but only with the same value."""
    for binding, text in zip(bindings, texts, strict=True):
        found: Any = document
        for field in binding.path:
            found = _member(found, field)
        if found is None or isinstance(found, (dict, list)):
            continue
        try:
            path_value = binding.convert(text)
        except ValueError:
            continue  # the path text itself is refused when it is applied
        if found != path_value and str(found) != text:
            raise validation_error(
                binding.name,
                f"is {path_value!r} in the path but {found!r} in the body",
            )
