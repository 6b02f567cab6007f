"""The DynamoDB layout of the rollout store: one table (pk, sk), items converted through rollout_rows.

    pk deployment#<id>   sk deployment                    the deployment (one attribute per column), with
                                                          `created_key` for by-organization and `watch` while
                                                          the orchestrator may have work on it
    pk deployment#<id>   sk target#<batch>#<device>       a target (batch zero-padded: sorted by batch, device)
    pk deployment#<id>   sk job#<operation>#<device>      a job: (deployment, device, operation) is its key, so
                                                          it is unique by construction; `open_device` and
                                                          `queued_key` while QUEUED or IN_PROGRESS
    pk job#<jobId>       sk job                           where the job with that id lives (`job_sk`)
    pk lease#<name>      sk lease                         a lease: `holder`, `expires_at_ms`

A deployment's targets and jobs are its partition, read with strongly consistent Queries (the orchestrator
decides batches on them). Global secondary indexes, which follow writes within about a second:
    by-organization   org_id, created_key          deployment lists, newest first
    watched           watch, deployment_id         sparse, keys only: deployments_to_drive
    open-by-device    open_device, queued_key      sparse: a device's open jobs, oldest first
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from services.firmware.adapters.rollout_rows import (
    DEPLOYMENT_COLUMNS,
    JOB_COLUMNS,
    deployment_from_row,
    deployment_row,
    job_from_row,
    job_row,
)
from services.firmware.domain.rollout.deployment import Deployment
from services.firmware.domain.rollout.execution import OPEN, Job
from services.firmware.domain.rollout.job import JobOperation
from services.firmware.domain.rollout.planning import Target
from services.runtime.dynamodb import Index, define_table

BY_ORGANIZATION = "by-organization"
WATCHED = "watched"
OPEN_BY_DEVICE = "open-by-device"
# Every watched deployment shares one index partition: they are the deployments running or about to.
WATCH = "deployments"
DEPLOYMENT_SK = "deployment"
JOB_PREFIX = "job#"
TARGET_PREFIX = "target#"
_DEPLOYMENT_NAMES = DEPLOYMENT_COLUMNS.split(", ")
_JOB_NAMES = JOB_COLUMNS.split(", ")
# Milliseconds since 1970 fit in 16 digits until the year 318857: zero-padded, they sort as text.
_KEY_DIGITS = 16
_BATCH_DIGITS = 9


def s(value: str) -> Any:
    return {"S": value}


def n(value: int | float) -> Any:
    return {"N": str(value)}


def table_definition(table: str) -> dict[str, Any]:
    return define_table(
        table,
        range_key="sk",
        indexes=[
            Index(BY_ORGANIZATION, "org_id", "created_key"),
            Index(WATCHED, "watch", "deployment_id", "KEYS_ONLY"),
            Index(OPEN_BY_DEVICE, "open_device", "queued_key"),
        ],
    )


def partition(deployment_id: str) -> Any:
    return s(f"deployment#{deployment_id}")


def deployment_key(deployment_id: str) -> dict[str, Any]:
    return {"pk": partition(deployment_id), "sk": s(DEPLOYMENT_SK)}


def job_sk(operation: JobOperation, device_id: str) -> str:
    return f"{JOB_PREFIX}{operation.value}#{device_id}"


def job_key(job: Job) -> dict[str, Any]:
    return {"pk": partition(job.deployment_id), "sk": s(job_sk(job.operation, job.device_id))}


def job_id_key(job_id: str) -> dict[str, Any]:
    return {"pk": s(f"job#{job_id}"), "sk": s("job")}


def lease_key(name: str) -> dict[str, Any]:
    return {"pk": s(f"lease#{name}"), "sk": s("lease")}


def target_prefix(batch_id: int) -> str:
    return f"{TARGET_PREFIX}{batch_id:0{_BATCH_DIGITS}d}#"


def _attributes(names: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for name, value in zip(names, values, strict=True):
        if value is None:
            continue
        item[name] = n(value) if isinstance(value, int | float) else s(value)
    return item


def _row(names: Sequence[str], item: Mapping[str, Any]) -> list[Any]:
    row: list[Any] = []
    for name in names:
        attribute = item.get(name)
        if attribute is None:
            row.append(None)
        elif "N" in attribute:
            number = Decimal(attribute["N"])
            row.append(int(number) if number == number.to_integral_value() else float(number))
        else:
            row.append(attribute["S"])
    return row


def deployment_item(deployment: Deployment) -> dict[str, Any]:
    """Every save watches the deployment again: deployments_to_drive lets it go once it is stopped and holds no
    open job (a save that stops it may leave jobs to cancel)."""
    created = deployment_row(deployment)[_DEPLOYMENT_NAMES.index("created_at_ms")]
    return (
        deployment_key(deployment.deployment_id)
        | _attributes(_DEPLOYMENT_NAMES, deployment_row(deployment))
        | {"created_key": s(f"{created:0{_KEY_DIGITS}d}#{deployment.deployment_id}"), "watch": s(WATCH)}
    )


def deployment_of(item: Mapping[str, Any]) -> Deployment:
    return deployment_from_row(_row(_DEPLOYMENT_NAMES, item))


def target_item(deployment_id: str, target: Target) -> dict[str, Any]:
    item = {
        "pk": partition(deployment_id),
        "sk": s(f"{target_prefix(target.batch_id)}{target.device_id}"),
        "device_id": s(target.device_id),
        "batch_id": n(target.batch_id),
    }
    if target.previous_version is not None:
        item["previous_version"] = s(target.previous_version)
    return item


def target_of(item: Mapping[str, Any]) -> Target:
    previous = item.get("previous_version")
    return Target(item["device_id"]["S"], int(item["batch_id"]["N"]), previous["S"] if previous else None)


def job_item(job: Job) -> dict[str, Any]:
    return job_key(job) | _attributes(_JOB_NAMES, job_row(job)) | open_attributes(job)


def open_attributes(job: Job) -> dict[str, Any]:
    """The sparse index's attributes: present while the job is open."""
    if job.status not in OPEN:
        return {}
    queued = job_row(job)[_JOB_NAMES.index("queued_at_ms")]
    return {"open_device": s(job.device_id), "queued_key": s(f"{queued:0{_KEY_DIGITS}d}#{job.job_id}")}


def job_of(item: Mapping[str, Any]) -> Job:
    return job_from_row(_row(_JOB_NAMES, item))
