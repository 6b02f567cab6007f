"""The rollout's errors, each a type with the reason clients see (spec §8.2)."""

from __future__ import annotations

from services.kernel.errors import Conflict, NotFound


class DeploymentNotFound(NotFound):
    default_reason = "DEPLOYMENT_NOT_FOUND"

    def __init__(self, deployment_id: str):
        super().__init__(f"Deployment with ID '{deployment_id}' not found", details={"deploymentId": deployment_id})


class RolloutFirmwareNotFound(NotFound):
    default_reason = "FIRMWARE_NOT_FOUND"

    def __init__(self, firmware_id: str):
        super().__init__(f"Firmware with ID '{firmware_id}' not found", details={"firmwareId": firmware_id})


class FirmwareNotValidated(Conflict):
    default_reason = "FIRMWARE_NOT_VALIDATED"

    def __init__(self, firmware_id: str, status: str):
        super().__init__(
            f"firmware '{firmware_id}' is {status}; only validated firmware can be deployed",
            details={"firmwareId": firmware_id, "status": status},
        )


class DeploymentStateConflict(Conflict):
    """The deployment's status forbids what was asked (cancel a finished one, roll back a scheduled one)."""

    default_reason = "DEPLOYMENT_STATE_CONFLICT"

    def __init__(self, deployment_id: str, status: str, message: str):
        super().__init__(message, details={"deploymentId": deployment_id, "status": status})


class DeploymentChangedConcurrently(Conflict):
    default_reason = "DEPLOYMENT_CHANGED_CONCURRENTLY"

    def __init__(self, deployment_id: str):
        super().__init__(
            f"deployment '{deployment_id}' was changed by someone else at the same moment; try again",
            details={"deploymentId": deployment_id},
        )


class JobNotFound(NotFound):
    default_reason = "JOB_NOT_FOUND"

    def __init__(self, job_id: str):
        super().__init__(f"Job with ID '{job_id}' not found", details={"jobId": job_id})


class JobReportRefused(Conflict):
    """A device's report that cannot apply: the job is finished, or not at the version the report expects."""

    def __init__(self, job_id: str, reason: str, status: str):
        super().__init__(
            f"job '{job_id}' is {status}; the report was refused ({reason})",
            reason=reason,
            details={"jobId": job_id, "status": status},
        )
