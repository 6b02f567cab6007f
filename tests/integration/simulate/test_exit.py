"""`iotmon simulate` run as a real process against Mosquitto (and the fake gateway): it exits cleanly, without
paho's "Exception ignored in Client.__del__" noise from the per-device job clients."""

from __future__ import annotations

import asyncio
import sys
import uuid

import pytest

from tests.integration.simulate.conftest import FakeGateway
from tests.support.servers import require_server

pytestmark = pytest.mark.needs_server

RUN_SECONDS = 3


@pytest.fixture(autouse=True)
def mosquitto() -> None:
    require_server("Mosquitto", "127.0.0.1", 1883)


async def test_a_simulator_taking_jobs_over_mqtt_exits_without_exceptions_ignored(gateway: FakeGateway) -> None:
    args = ["-m", "iotmon.cli", "simulate", "--via", "mqtt", "--mqtt-url", "mqtt://127.0.0.1:1883"]
    args += ["--gateway", gateway.url, "--token", gateway.recorder.token, "--devices", "4", "--rate", "20"]
    args += ["--duration", str(RUN_SECONDS), "--prefix", f"exit-{uuid.uuid4().hex[:8]}", "--firmware-jobs"]
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), RUN_SECONDS + 60)
    out, err = stdout.decode(), stderr.decode()

    assert process.returncode == 0, err
    assert "4 devices take firmware jobs" in out + err, "the job clients were really opened"
    assert "Exception ignored" not in err, err
    assert "Traceback" not in err, err
