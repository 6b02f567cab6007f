"""A small stand-in for the REST gateway: registers and lists devices, records telemetry batches as received."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class GatewayRecorder:
    token: str
    # Device ids are unique per gateway, so MQTT tests never mistake another test's traffic for their own.
    id_prefix: str = field(default_factory=lambda: f"simtest-{uuid.uuid4().hex[:8]}")
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    registrations: list[dict[str, Any]] = field(default_factory=list)
    listings: int = 0
    batches: list[list[dict[str, Any]]] = field(default_factory=list)
    # Telemetry of these devices is refused record by record, as the service refuses unknown devices.
    refused_devices: set[str] = field(default_factory=set)

    @property
    def records(self) -> list[dict[str, Any]]:
        return [record for batch in self.batches for record in batch]

    def authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"


def _error(status: int, code: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": code.lower(), "details": {}, "requestId": "r"}}, status)


def fake_gateway_app(recorder: GatewayRecorder) -> Starlette:
    async def register(request: Request) -> Response:
        if not recorder.authorized(request):
            return _error(401, "UNAUTHENTICATED")
        payload = await request.json()
        recorder.registrations.append(payload)
        device_id = f"{recorder.id_prefix}-{len(recorder.devices) + 1:04d}"
        recorder.devices[device_id] = {"deviceId": device_id, "name": payload["name"], "tags": payload["tags"]}
        return JSONResponse({"deviceId": device_id, "name": payload["name"], "status": "registered"}, 201)

    async def list_devices(request: Request) -> Response:
        if not recorder.authorized(request):
            return _error(401, "UNAUTHENTICATED")
        recorder.listings += 1
        wanted = {t for entry in request.query_params.getlist("tags") for t in entry.split(",") if t}
        matching = sorted(
            (d for d in recorder.devices.values() if wanted <= set(d["tags"])), key=lambda d: str(d["name"])
        )
        page, size = int(request.query_params.get("page", 1)), int(request.query_params.get("pageSize", 25))
        items = matching[(page - 1) * size : page * size]
        pagination = {
            "page": page,
            "pageSize": size,
            "totalItems": len(matching),
            "hasNext": page * size < len(matching),
        }
        return JSONResponse({"items": items, "pagination": pagination})

    async def ingest(request: Request) -> Response:
        if not recorder.authorized(request):
            return _error(401, "UNAUTHENTICATED")
        records = orjson.loads(await request.body())["records"]
        recorder.batches.append(records)
        failed = [
            {"index": i, "reason": "UNKNOWN_DEVICE", "message": "no such device"}
            for i, record in enumerate(records)
            if record["deviceId"] in recorder.refused_devices
        ]
        return JSONResponse({"accepted": len(records) - len(failed), "failed": failed})

    return Starlette(
        routes=[
            Route("/devices", register, methods=["POST"]),
            Route("/devices", list_devices, methods=["GET"]),
            Route("/telemetry", ingest, methods=["POST"]),
        ]
    )
