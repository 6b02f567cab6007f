"""The fake gateway under uvicorn on a real port, in the test's event loop, and options pointed at it."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from iotmon.simulate import SimulationOptions, Via
from iotmon.simulate.runner import simulate
from iotmon.simulate.stats import Summary
from tests.integration.simulate.fake_gateway import GatewayRecorder, fake_gateway_app
from tests.support.tokens import TokenMinter
from tests.support.uvicorn import serving_app

ORG = "org-sim"


@dataclass
class FakeGateway:
    url: str
    recorder: GatewayRecorder

    def options(self, via: Via, **overrides: Any) -> SimulationOptions:
        """A quick run: a few devices, as fast as possible, a fixed count, the progress line quiet."""
        settings: dict[str, Any] = {
            "devices": 5,
            "rate": 0,
            "via": via,
            "gateway": self.url,
            "token": self.recorder.token,
            "count": 500,
            "seed": 7,
            "progress_interval": 60,
        }
        return SimulationOptions(**(settings | overrides))

    async def run(self, options: SimulationOptions) -> tuple[Summary, str]:
        out = io.StringIO()
        summary = await simulate(options, out=out)
        return summary, out.getvalue()


@pytest.fixture
async def gateway(token_minter: TokenMinter) -> AsyncIterator[FakeGateway]:
    recorder = GatewayRecorder(token=token_minter.mint(org=ORG, role="operator", user="simulator"))
    async with serving_app(fake_gateway_app(recorder)) as url:
        yield FakeGateway(url, recorder)
