"""The JobStore on DynamoDB (aioboto3), for AWS deployments: one item per job, pk `<kind>#<jobId>`.

A claim is one conditional UpdateItem (queued, or running under an expired lease; ReturnValues ALL_NEW), so
exactly one claimer wins; renewals and completions are conditional on the attempt that claimed it, which
fences out a worker whose lease was taken over. Lease times are the callers' clocks (now_ms), as in the SQL
stores. While a job is queued or running it carries `waiting_kind` and `created_key`, the keys of the sparse
`waiting` index the sweep and the queue length read (following writes within about a second).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.analytics.adapters.jobs_rows import COLUMNS, job_of, job_values
from services.analytics.domain.jobs import Job, JobKind, JobStatus
from services.runtime.dynamodb import (
    CONDITION_FAILED,
    Index,
    count_items,
    define_table,
    ensure_table,
    error_code,
    query_items,
)

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

WAITING = "waiting"
_NAMES = COLUMNS.split(", ")
# Milliseconds since 1970 fit in 16 digits until the year 318857: zero-padded, they sort as text.
_KEY_DIGITS = 16
# Every column name goes through #name: several (status, format, parameters, rows, size, error) are reserved.
_ATTRIBUTE_NAMES = {f"#{name}": name for name in _NAMES}
_CLAIMABLE = "#status = :queued OR (#status = :running AND #lease_until_ms < :now)"
_HELD = "#attempt = :attempt AND #status = :running"


def table_definition(table: str) -> dict[str, Any]:
    return define_table(table, indexes=[Index(WAITING, "waiting_kind", "created_key")])


class DynamoDbJobStore:
    def __init__(self, client: DynamoDBClient, table: str):
        self._client = client
        self._table = table

    async def ensure_table(self) -> None:
        await ensure_table(self._client, table_definition(self._table))

    async def close(self) -> None:
        """The client belongs to whoever opened it (the bootstrap's resources)."""

    async def add(self, job: Job) -> None:
        await self._client.put_item(TableName=self._table, Item=_item(job))

    async def get(self, kind: JobKind, job_id: str) -> Job | None:
        reply = await self._client.get_item(TableName=self._table, Key=_key(kind, job_id), ConsistentRead=True)
        item = reply.get("Item")
        return _job(item) if item else None

    async def claim(self, kind: JobKind, job_id: str, now_ms: int, lease_ms: int) -> Job | None:
        return await self._update(
            kind,
            job_id,
            "SET #status = :running, #attempt = #attempt + :one, #lease_until_ms = :until",
            _CLAIMABLE,
            {
                ":queued": _s(JobStatus.QUEUED.value),
                ":running": _s(JobStatus.RUNNING.value),
                ":now": _n(now_ms),
                ":until": _n(now_ms + lease_ms),
                ":one": _n(1),
            },
        )

    async def renew(self, kind: JobKind, job_id: str, attempt: int, until_ms: int) -> bool:
        renewed = await self._update(
            kind,
            job_id,
            "SET #lease_until_ms = :until",
            _HELD,
            {":until": _n(until_ms), ":attempt": _n(attempt), ":running": _s(JobStatus.RUNNING.value)},
        )
        return renewed is not None

    async def finish(self, kind: JobKind, job_id: str, attempt: int, finished: Job) -> bool:
        sets, removes = ["#status = :status"], ["#lease_until_ms", "waiting_kind", "created_key"]
        values: dict[str, Any] = {
            ":status": _s(finished.status.value),
            ":attempt": _n(attempt),
            ":running": _s(JobStatus.RUNNING.value),
        }
        for name in ("completed_at_ms", "object_key", "rows", "size", "error"):
            value = getattr(finished, name)
            if value is None:
                removes.append(f"#{name}")
            else:
                sets.append(f"#{name} = :{name}")
                values[f":{name}"] = _n(value) if isinstance(value, int) else _s(value)
        expression = "SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes)
        return await self._update(kind, job_id, expression, _HELD, values) is not None

    async def stale(self, now_ms: int, queued_before_ms: int, limit: int) -> list[Job]:
        found: list[Job] = []
        for kind in JobKind:
            async for item in query_items(self._client, self._waiting(kind)):
                job = _job(item)
                expired = job.status is JobStatus.RUNNING and (job.lease_until_ms or 0) < now_ms
                if expired or (job.status is JobStatus.QUEUED and job.created_at_ms < queued_before_ms):
                    found.append(job)
        return sorted(found, key=lambda job: job.created_at_ms)[:limit]

    async def count_waiting(self, kind: JobKind) -> int:
        return await count_items(self._client, self._waiting(kind))

    def _waiting(self, kind: JobKind) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "IndexName": WAITING,
            "KeyConditionExpression": "waiting_kind = :kind",
            "ExpressionAttributeValues": {":kind": _s(kind.value)},
        }

    async def _update(
        self, kind: JobKind, job_id: str, expression: str, condition: str, values: dict[str, Any]
    ) -> Job | None:
        """The job after a conditional UpdateItem; None when the condition (or the job) is missing."""
        used = {name: column for name, column in _ATTRIBUTE_NAMES.items() if name in expression or name in condition}
        try:
            reply = await self._client.update_item(
                TableName=self._table,
                Key=_key(kind, job_id),
                UpdateExpression=expression,
                ConditionExpression=f"attribute_exists(pk) AND ({condition})",
                ExpressionAttributeNames=used,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error_code(error) == CONDITION_FAILED:
                return None
            raise
        return _job(reply["Attributes"])


def _s(value: str) -> Any:
    return {"S": value}


def _n(value: int) -> Any:
    return {"N": str(value)}


def _key(kind: JobKind, job_id: str) -> dict[str, Any]:
    return {"pk": _s(f"{kind.value}#{job_id}")}


def _item(job: Job) -> dict[str, Any]:
    item = _key(job.kind, job.job_id)
    for name, value in zip(_NAMES, job_values(job), strict=True):
        if value is not None:
            item[name] = _n(value) if isinstance(value, int) else _s(value)
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        item["waiting_kind"] = _s(job.kind.value)
        item["created_key"] = _s(f"{job.created_at_ms:0{_KEY_DIGITS}d}#{job.job_id}")
    return item


def _job(item: dict[str, Any]) -> Job:
    row: list[Any] = []
    for name in _NAMES:
        attribute = item.get(name)
        if attribute is None:
            row.append(None)
        elif "N" in attribute:
            row.append(int(attribute["N"]))
        else:
            row.append(attribute["S"])
    return job_of(row)
