"""--via http: batches of records POSTed to /telemetry of a real HTTP server (the fake gateway under uvicorn)."""

from __future__ import annotations

import asyncio
import io
import signal
import sys
from contextlib import redirect_stderr, redirect_stdout

from iotmon.cli import build_parser
from iotmon.simulate import Via, main
from tests.integration.simulate.conftest import FakeGateway


async def test_every_record_arrives_in_batches_and_is_acknowledged(gateway: FakeGateway) -> None:
    summary, _ = await gateway.run(gateway.options(Via.HTTP, devices=8, count=1_050, batch_size=100))
    recorder = gateway.recorder

    assert summary.sent == len(recorder.records) >= 1_050
    assert summary.acknowledged == summary.sent
    assert summary.failed == 0
    assert max(len(batch) for batch in recorder.batches) == 100
    assert {r["deviceId"] for r in recorder.records} == set(recorder.devices)
    record = recorder.records[0]
    assert set(record) == {"deviceId", "timestamp", "data"}
    assert set(record["data"]) == {"temperature", "humidity", "co2", "battery"}
    distinct = {(r["deviceId"], r["timestamp"]) for r in recorder.records}
    assert len(distinct) == summary.readings, "every distinct reading has its own (device, timestamp)"
    assert summary.sent - summary.readings == summary.duplicates


async def test_refused_records_count_as_failed_with_their_reason(gateway: FakeGateway) -> None:
    options = gateway.options(Via.HTTP, devices=4, count=400, seed=3)
    # Register first, then make the service refuse one device's readings.
    await gateway.run(gateway.options(Via.HTTP, devices=4, count=1))
    refused = next(iter(gateway.recorder.devices))
    gateway.recorder.refused_devices.add(refused)
    gateway.recorder.batches.clear()

    summary, _ = await gateway.run(options)

    refused_records = sum(1 for r in gateway.recorder.records if r["deviceId"] == refused)
    assert refused_records > 0
    assert summary.failed == refused_records
    assert summary.reasons == {"UNKNOWN_DEVICE": refused_records}
    assert summary.acknowledged == summary.sent - refused_records


async def test_the_rate_is_kept_in_filled_batches(gateway: FakeGateway) -> None:
    summary, _ = await gateway.run(gateway.options(Via.HTTP, devices=5, rate=400, count=None, duration=1.5))

    assert summary.sent == 600, "rate × duration"
    assert summary.acknowledged == summary.sent
    assert len(gateway.recorder.batches) <= 25, "batches fill for up to 0.1 s instead of trickling"


async def test_the_command_line_runs_and_prints_progress_and_summary(gateway: FakeGateway) -> None:
    argv = ["simulate", "--via", "http", "--devices", "3", "--rate", "200", "--duration", "1.5"]
    argv += ["--gateway", gateway.url, "--token", gateway.recorder.token, "--progress-interval", "0.5", "--seed", "1"]
    args = build_parser().parse_args(argv)
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        with redirect_stdout(out), redirect_stderr(err):
            return main(args)

    code = await asyncio.to_thread(run)  # its own event loop, while this one serves the gateway

    assert code == 0, err.getvalue()
    assert "registering 3 devices" in err.getvalue()
    progress = [line for line in err.getvalue().splitlines() if "sent" in line and "acked" in line]
    assert len(progress) >= 2, err.getvalue()
    assert "simulated 3 devices via http" in out.getvalue()
    assert "(seed 1)" in out.getvalue()
    assert len(gateway.recorder.records) >= 250


async def test_ctrl_c_stops_cleanly_with_a_summary(gateway: FakeGateway) -> None:
    argv = ["-m", "iotmon.cli", "simulate", "--via", "http", "--devices", "2", "--rate", "100"]
    argv += ["--gateway", gateway.url, "--token", gateway.recorder.token, "--progress-interval", "0.2"]
    process = await asyncio.create_subprocess_exec(
        sys.executable, *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    try:
        async with asyncio.timeout(60):
            while b"acked" not in await process.stderr.readline():  # sending, with the handlers in place
                pass
            process.send_signal(signal.SIGINT)
            out, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 0
    assert b"simulated 2 devices via http" in out
    assert len(gateway.recorder.records) > 0
