"""Registering the simulated devices through the REST API (POST /devices), or finding those of an earlier run.

Devices are named <prefix>-00001, <prefix>-00002, ... and tagged simulator:<prefix>; a run with the same prefix
lists them with GET /devices?tags=simulator:<prefix> and registers only the ones still missing, so device
number i keeps its id (and its simulated profile) from run to run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from iotmon.simulate.errors import SimulationError
from iotmon.simulate.options import SimulationOptions

PAGE_SIZE = 100  # the API's maximum
# Registration makes a key pair and certificate per device on the server: a few at a time keeps it busy.
CONCURRENT_REGISTRATIONS = 4
ROOMS_PER_BUILDING = 20


def registration_payload(options: SimulationOptions, index: int) -> dict[str, Any]:
    """The spec §3.1.1 input for device number `index`: buildings of 20 rooms on a grid in San Francisco."""
    building, room = divmod(index, ROOMS_PER_BUILDING)
    number = f"{index + 1:05d}"
    return {
        "deviceType": options.device_type,
        "name": options.device_name(index),
        "location": {
            "lat": round(37.70 + 0.01 * (building % 10), 4),
            "lon": round(-122.50 + 0.01 * (building // 10 % 10), 4),
            "address": f"Simulated building {building + 1}, room {room + 1}",
        },
        "connectivity": {"type": "wifi"},
        "metadata": {
            "manufacturer": "SensorCorp",
            "model": "TSv2-001",
            "serialNumber": f"SIM-{options.prefix}-{number}",
            "simulated": "true",
        },
        "tags": [options.tag, "simulated"],
    }


async def ensure_devices(api: httpx.AsyncClient, options: SimulationOptions, say: Callable[[str], None]) -> list[str]:
    """The ids of devices 1..N of this prefix, registering those that do not exist yet."""
    known = await existing_devices(api, options.tag)
    names = [options.device_name(i) for i in range(options.devices)]
    missing = [i for i, name in enumerate(names) if name not in known]
    if len(missing) < len(names):
        say(f"reusing {len(names) - len(missing)} devices tagged {options.tag}")
    if missing:
        say(f"registering {len(missing)} devices through {options.gateway}/devices ...")
        known.update(await _register(api, options, missing, say))
    return [known[name] for name in names]


async def existing_devices(api: httpx.AsyncClient, tag: str) -> dict[str, str]:
    """Name → device id of every device carrying the tag."""
    found: dict[str, str] = {}
    page = 1
    while True:
        params: dict[str, str | int] = {"tags": tag, "page": page, "pageSize": PAGE_SIZE, "sortBy": "name"}
        body = _json(await _call(api, "GET", "/devices", params=params), "GET /devices")
        for item in body.get("items", []):
            found.setdefault(item["name"], item["deviceId"])
        if not body.get("pagination", {}).get("hasNext"):
            return found
        page += 1


async def _register(
    api: httpx.AsyncClient, options: SimulationOptions, indexes: list[int], say: Callable[[str], None]
) -> dict[str, str]:
    slots = asyncio.Semaphore(CONCURRENT_REGISTRATIONS)
    registered: dict[str, str] = {}
    step = max(len(indexes) // 10, 50)

    async def register(index: int) -> None:
        async with slots:
            response = await _call(api, "POST", "/devices", json=registration_payload(options, index))
        registered[options.device_name(index)] = _json(response, "POST /devices")["deviceId"]
        if len(registered) % step == 0:
            say(f"registered {len(registered)}/{len(indexes)}")

    try:
        async with asyncio.TaskGroup() as group:
            for index in indexes:
                group.create_task(register(index))
    except* SimulationError as failed:
        raise failed.exceptions[0] from None
    return registered


async def _call(api: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        return await api.request(method, path, **kwargs)
    except httpx.HTTPError as error:
        raise SimulationError(
            f"cannot reach the gateway at {api.base_url} ({error!r}): is `iotmon up` running?"
        ) from None


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code == httpx.codes.UNAUTHORIZED:
        raise SimulationError(
            f"{what}: the gateway refused the token (401). Pass --token, or --data-dir with the data directory "
            "of the running `iotmon up` so a token it accepts can be minted."
        )
    if response.is_error:
        raise SimulationError(f"{what} answered {response.status_code}: {response.text[:500]}")
    body = response.json()
    if not isinstance(body, dict):
        raise SimulationError(f"{what} answered {response.status_code} with {response.text[:200]!r}")
    return body
