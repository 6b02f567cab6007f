"""The simulated device's job state machine, with a fake link and no waiting."""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import dataclass, field

import pytest

from iotmon.simulate.firmware_device import Answer, Behaviour, Execution, FirmwareDevice, JobCounts
from iotmon.simulate.jobs import FirmwareFleet, execution_of, execution_of_http

IMAGE = b"\x7fFWIMG" + bytes(range(200))
DIGEST = hashlib.sha256(IMAGE).hexdigest()


@dataclass
class FakeLink:
    """Accepts every report (bumping the version) unless told to refuse; records what the device did."""

    pending: Execution | None = None
    refuse: set[str] = field(default_factory=set)
    cancel_after: str | None = None  # the report status after which the job counts as cancelled
    events: list[str] = field(default_factory=list)
    reports: list[tuple[str, str, dict[str, str], int | None]] = field(default_factory=list)
    _cancelled: set[str] = field(default_factory=set)

    async def connect(self) -> None:
        self.events.append("connect")

    async def disconnect(self) -> None:
        self.events.append("disconnect")

    async def next_job(self) -> Execution | None:
        self.events.append("next_job")
        return self.pending

    async def wait_for_job(self) -> Execution | None:
        await asyncio.sleep(3600)
        return None

    async def report(self, job_id: str, status: str, details: dict[str, str], expected: int | None) -> Answer:
        self.events.append(status)
        self.reports.append((job_id, status, details, expected))
        if status in self.refuse:
            return Answer(False, code="TerminalStateReached")
        if self.cancel_after == status:
            self._cancelled.add(job_id)
        assert self.pending is not None
        self.pending = Execution(**{**self.pending.__dict__, "status": status, "version_number": (expected or 0) + 1})
        return Answer(True, self.pending.version_number)

    def cancelled(self, job_id: str) -> bool:
        return job_id in self._cancelled


def job(url: str = "", sha256: str = "", size: int = 0) -> Execution:
    return Execution("job-1", "QUEUED", 1, 1, "v2.0.0", url, sha256, size)


def device(link: FakeLink, failure_rate: float = 0.0, image: bytes = IMAGE) -> FirmwareDevice:
    slept: list[float] = []

    async def no_wait(seconds: float) -> None:
        slept.append(seconds)

    async def download(url: str) -> bytes:
        if url == "http://broken":
            raise ConnectionError("refused")
        return image

    return FirmwareDevice(
        "dev-1",
        link,
        download,
        Behaviour(install_seconds=4.0, failure_rate=failure_rate, reboot_seconds=3.0),
        JobCounts(),
        firmware_version="v1.0.0",
        rng=random.Random(1),
        sleep=no_wait,
    )


async def test_a_good_install_reports_progress_reboots_asks_again_and_succeeds() -> None:
    link = FakeLink(pending=job("http://files/fw", DIGEST, len(IMAGE)))
    sim = device(link)
    assert await sim.take(link.pending) == "SUCCEEDED"  # type: ignore[arg-type]

    assert link.events == ["IN_PROGRESS", "disconnect", "connect", "next_job", "SUCCEEDED"]
    assert [(s, expected) for _, s, _, expected in link.reports] == [("IN_PROGRESS", 1), ("SUCCEEDED", 2)]
    assert link.reports[-1][2] == {"version": "v2.0.0"}
    assert (sim.firmware_version, sim.previous_version) == ("v2.0.0", "v1.0.0")
    assert (sim.counts.succeeded, sim.counts.failed, sim.counts.installing) == (1, 0, 0)


@pytest.mark.parametrize(
    ("execution", "reason"),
    [
        (job("http://files/fw", "00" * 32), "checksum mismatch"),
        (job("http://files/fw", DIGEST, 5), f"size mismatch: {len(IMAGE)} bytes, expected 5"),
        (job("http://broken", DIGEST), "download failed: ConnectionError"),
    ],
)
async def test_a_bad_download_fails_with_its_reason_and_keeps_the_version(execution: Execution, reason: str) -> None:
    link = FakeLink(pending=execution)
    sim = device(link)
    assert await sim.take(execution) == "FAILED"
    assert link.reports[-1][1:3] == ("FAILED", {"reason": reason})
    assert "disconnect" not in link.events
    assert (sim.firmware_version, sim.counts.failed) == ("v1.0.0", 1)


async def test_failure_rate_one_fails_every_install_without_rebooting() -> None:
    link = FakeLink(pending=job())
    sim = device(link, failure_rate=1.0)
    assert await sim.take(job()) == "FAILED"
    assert link.reports[-1][1:] == ("FAILED", {"reason": "install failed (simulated)"}, 2)
    assert "disconnect" not in link.events


async def test_no_url_skips_the_download() -> None:
    link = FakeLink(pending=job())
    assert await device(link, image=b"").take(job()) == "SUCCEEDED"


async def test_a_job_cancelled_during_the_install_is_dropped_without_a_final_report() -> None:
    link = FakeLink(pending=job(), cancel_after="IN_PROGRESS")
    sim = device(link)
    assert await sim.take(job()) == "CANCELED"
    assert [s for _, s, _, _ in link.reports] == ["IN_PROGRESS"]
    assert sim.firmware_version == "v1.0.0"
    assert "job-1" in sim.finished


async def test_a_job_gone_after_the_reboot_is_not_reported_succeeded() -> None:
    link = FakeLink(pending=job())
    sim = device(link)

    async def nothing_pending() -> Execution | None:
        link.events.append("next_job")
        return None

    link.next_job = nothing_pending  # type: ignore[method-assign]
    assert await sim.take(job()) == "CANCELED"
    assert sim.firmware_version == "v1.0.0"
    assert "SUCCEEDED" not in link.events


async def test_a_refused_first_report_stops_the_job() -> None:
    link = FakeLink(pending=job(), refuse={"IN_PROGRESS"})
    sim = device(link)
    assert await sim.take(job()) == "TerminalStateReached"
    assert (sim.counts.refused, link.events) == (1, ["IN_PROGRESS"])


async def test_run_takes_the_job_waiting_at_boot_once() -> None:
    link = FakeLink(pending=job())
    sim = device(link)
    task = asyncio.create_task(sim.run())
    for _ in range(100):
        await asyncio.sleep(0)
    task.cancel()
    assert link.events[:2] == ["connect", "next_job"]
    assert [s for _, s, _, _ in link.reports] == ["IN_PROGRESS", "SUCCEEDED"]


def test_wire_shapes_become_executions() -> None:
    mqtt = execution_of(
        {
            "jobId": "j",
            "status": "IN_PROGRESS",
            "versionNumber": 3,
            "executionNumber": 2,
            "jobDocument": {"version": "v2", "url": "u", "sha256": "s", "size": 9, "operation": "rollback"},
        }
    )
    assert mqtt == Execution("j", "IN_PROGRESS", 3, 2, "v2", "u", "s", 9, "rollback")
    http = execution_of_http(
        {"jobId": "j", "status": "QUEUED", "versionNumber": 1, "attempt": 1, "firmwareVersion": "v2", "size": 9.0}
    )
    assert http == Execution("j", "QUEUED", 1, 1, "v2", "", "", 9, "install")


def test_the_fleet_stamps_readings_with_each_devices_version() -> None:
    link = FakeLink()
    updated = device(link)
    updated.firmware_version = "v2.0.0"
    fleet = FirmwareFleet([updated])
    records = [{"deviceId": "dev-1", "data": {}}, {"deviceId": "dev-other", "data": {}}]
    fleet.stamp(records)
    assert records == [
        {"deviceId": "dev-1", "data": {}, "firmwareVersion": "v2.0.0"},
        {"deviceId": "dev-other", "data": {}},
    ]
    assert JobCounts(installing=1, succeeded=2, failed=3).line() == "jobs: installing 1  succeeded 2  failed 3"
