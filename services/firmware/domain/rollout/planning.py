"""Planning: which batch each device is in, the install jobs of a batch, the rollback jobs after an install."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.firmware.domain.rollout.deployment import Deployment, FirmwareImage, Strategy, batch_of
from services.firmware.domain.rollout.execution import Job, new_job
from services.firmware.domain.rollout.job import JobOperation
from services.firmware.domain.rollout.targets import TargetDevice

NewId = Callable[[str], str]


@dataclass(frozen=True)
class Target:
    """One device of a deployment, as it was when the deployment was created."""

    device_id: str
    batch_id: int
    previous_version: str | None


def plan_targets(strategy: Strategy, batch_size: int, devices: Sequence[TargetDevice]) -> list[Target]:
    """Batches follow the request's order. Offline devices are not left out: they fetch their job when they
    reconnect, and time out if they stay silent."""
    return [Target(d.device_id, batch_of(strategy, batch_size, i), d.firmware_version) for i, d in enumerate(devices)]


def install_jobs(deployment: Deployment, targets: Sequence[Target], now: datetime, new_id: NewId) -> list[Job]:
    return [
        new_job(
            job_id=new_id("job"),
            deployment_id=deployment.deployment_id,
            org_id=deployment.org_id,
            device_id=t.device_id,
            batch_id=t.batch_id,
            operation=JobOperation.INSTALL,
            image=deployment.image,
            previous_version=t.previous_version,
            now=now,
        )
        for t in targets
    ]


@dataclass(frozen=True)
class RollbackPlan:
    jobs: list[Job]
    # Devices that took the new version but cannot be rolled back, with why.
    skipped: dict[str, str]

    def note(self) -> str | None:
        if not self.skipped:
            return None
        shown = ", ".join(f"{d} ({why})" for d, why in sorted(self.skipped.items())[:10])
        more = f" and {len(self.skipped) - 10} more" if len(self.skipped) > 10 else ""
        return f"{len(self.skipped)} device(s) not rolled back: {shown}{more}"


def rollback_jobs(
    deployment: Deployment,
    installs: Sequence[Job],
    images: Mapping[str, FirmwareImage | None],
    now: datetime,
    new_id: NewId,
) -> RollbackPlan:
    """A rollback job per install that succeeded or is under way, reinstalling the device's previous version
    (`images` maps each previous version to its catalog image, None when the catalog has no validated one)."""
    jobs: list[Job] = []
    skipped: dict[str, str] = {}
    for install in installs:
        previous = install.previous_version
        image = images.get(previous) if previous else None
        if previous is None:
            skipped[install.device_id] = "no previous version known"
        elif previous == deployment.firmware_version:
            skipped[install.device_id] = f"already ran {previous}"
        elif image is None:
            skipped[install.device_id] = f"no validated image of {previous}"
        else:
            jobs.append(
                new_job(
                    job_id=new_id("job"),
                    deployment_id=deployment.deployment_id,
                    org_id=deployment.org_id,
                    device_id=install.device_id,
                    batch_id=install.batch_id,
                    operation=JobOperation.ROLLBACK,
                    image=image,
                    previous_version=previous,
                    now=now,
                )
            )
    return RollbackPlan(jobs, skipped)
