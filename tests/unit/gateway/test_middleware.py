"""The request-context middleware: request ids, the access-log line, and the last-resort 500."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest
from starlette.types import Receive, Scope, Send

from gateway.middleware import RequestContextMiddleware, request_id_from
from services.runtime.context import request_id_var


def http_scope(*headers: tuple[bytes, bytes]) -> Scope:
    return {"type": "http", "method": "GET", "path": "/x", "headers": list(headers)}


async def call(app: Any, scope: Scope) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await RequestContextMiddleware(app)(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    ("given", "kept"),
    [(b"req-abc.DEF_1-2", True), (b"x" * 64, True), (b"x" * 65, False), (b"a b", False), (b"a\xc3\xa9", False)],
)
def test_request_ids_are_kept_only_when_sane(given: bytes, kept: bool) -> None:
    request_id = request_id_from(http_scope((b"x-request-id", given)))
    assert (request_id == given.decode("latin-1")) is kept
    if not kept:
        assert request_id.startswith("req-")
        assert len(request_id) == 20


async def test_an_unexpected_error_is_a_500_in_the_error_format(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str | None] = []

    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(request_id_var.get())
        raise RuntimeError("secret detail")

    with caplog.at_level(logging.INFO):
        sent = await call(broken, http_scope((b"x-request-id", b"req-1")))
    start, body = sent
    assert start["status"] == 500
    assert (b"x-request-id", b"req-1") in start["headers"]
    error = orjson.loads(body["body"])["error"]
    assert (error["code"], error["message"], error["requestId"]) == ("INTERNAL", "internal error", "req-1")
    assert b"secret" not in body["body"]
    assert seen == ["req-1"]  # the handler saw the request id
    assert request_id_var.get() is None  # and it does not leak past the request
    access = [r for r in caplog.records if r.name == "iotmon.http"]
    assert [(r.status, r.path) for r in access] == [(500, "-")]  # type: ignore[attr-defined]
