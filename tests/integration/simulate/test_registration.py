"""Registering simulated devices through the REST API, and finding them again on the next run."""

from __future__ import annotations

import io

import httpx
import pytest

from iotmon.simulate import SimulationOptions, Via
from iotmon.simulate.errors import SimulationError
from iotmon.simulate.registration import ensure_devices
from tests.integration.simulate.conftest import FakeGateway
from tests.support.servers import free_port


async def register(gateway: FakeGateway, options: SimulationOptions, token: str | None = None) -> list[str]:
    headers = {"authorization": f"Bearer {token or gateway.recorder.token}"}
    messages = io.StringIO()
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as api:
        return await ensure_devices(api, options, lambda m: messages.write(m + "\n"))


async def test_registers_devices_with_the_spec_payload(gateway: FakeGateway) -> None:
    ids = await register(gateway, gateway.options(Via.HTTP, devices=3, prefix="reg"))

    assert ids == list(gateway.recorder.devices)
    names = [p["name"] for p in gateway.recorder.registrations]
    assert sorted(names) == ["reg-00001", "reg-00002", "reg-00003"]
    payload = next(p for p in gateway.recorder.registrations if p["name"] == "reg-00002")
    assert payload["deviceType"] == "temperature-sensor-v2"
    assert payload["tags"] == ["simulator:reg", "simulated"]
    assert payload["metadata"]["serialNumber"] == "SIM-reg-00002"
    assert set(payload["location"]) == {"lat", "lon", "address"}
    assert payload["connectivity"] == {"type": "wifi"}


async def test_a_later_run_reuses_the_devices_of_its_prefix(gateway: FakeGateway) -> None:
    first = await register(gateway, gateway.options(Via.HTTP, devices=3, prefix="again"))
    more = await register(gateway, gateway.options(Via.HTTP, devices=5, prefix="again"))
    other = await register(gateway, gateway.options(Via.HTTP, devices=2, prefix="other"))

    assert more[:3] == first, "device i keeps its id across runs"
    assert len(set(more)) == 5
    assert len(gateway.recorder.registrations) == 5 + 2, "only the missing devices are registered"
    assert not set(other) & set(more)


async def test_listing_follows_pages(gateway: FakeGateway) -> None:
    first = await register(gateway, gateway.options(Via.HTTP, devices=120, prefix="paged"))
    listings = gateway.recorder.listings
    again = await register(gateway, gateway.options(Via.HTTP, devices=120, prefix="paged"))

    assert again == first
    assert gateway.recorder.listings - listings == 2, "120 devices are two pages of 100"


async def test_a_refused_token_says_what_to_do(gateway: FakeGateway) -> None:
    with pytest.raises(SimulationError, match=r"refused the token \(401\).*--data-dir"):
        await register(gateway, gateway.options(Via.HTTP), token="not-the-token")


async def test_an_unreachable_gateway_is_one_clear_error(gateway: FakeGateway) -> None:
    options = gateway.options(Via.HTTP, gateway=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SimulationError, match="cannot reach the gateway"):
        await gateway.run(options)
